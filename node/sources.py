"""Read one input file into a typed DuckDB staging table, recording what could not be read.

CSV goes through DuckDB's own reader with the layout's types and ``store_rejects``, so type
errors, impossible dates, invalid UTF-8 and ragged rows come back with their line numbers
in one parallel pass. Parquet and JSON are read as they are, then cast column by column
with TRY_CAST; a value present in the file but not castable is a problem of that row.
A column the layout marks ``kept_raw`` (persons.dob) is staged as text, so no value of it
is ever a problem: ingest parses it afterwards and flags what it cannot use.

Bounds: a CSV line (the header included) longer than ``csv_max_line_bytes()`` (env
``CROSSFORCE_CSV_MAX_LINE_BYTES``, default 2,000,000) refuses the file with one line, and
is never read whole into memory; a JSON array file must end with its closing ``]`` — one
cut short between two records would otherwise load the records before the cut.
"""

from __future__ import annotations

import bisect
import difflib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from federation.errors import CrossforceError
from federation.layout import Table

#: The raw text of a row for the quarantine table, by staging rowid.
RawRows = Callable[[Sequence[int]], dict[int, str]]


@dataclass
class Problem:
    """One thing wrong with one row (or the whole file when rowid is None)."""

    location: str
    field: str | None
    reason: str
    raw: str | None = None
    rowid: int | None = None

    def describe(self, file: str) -> str:
        where = f"{file}, {self.location}" if self.location else file
        what = f"field '{self.field}': " if self.field else ""
        return f"{where}: {what}{self.reason}"


@dataclass
class Staged:
    """A file's rows in a temp table ``name`` typed as the layout says, plus what failed."""

    table: Table
    name: str
    present: tuple[str, ...]
    problems: list[Problem] = field(default_factory=list)
    #: renders a staging rowid as "line N" / "row N" / an XML element
    locate: Callable[[Sequence[int]], dict[int, str]] = lambda ids: {}
    raw_rows: RawRows = lambda ids: {}
    #: how many rows the reader had to drop (CSV rejects): quarantined, never staged
    dropped: int = 0


def staging_type(layout_type: str) -> str:
    """Timestamps are staged with their offset, so '...+01:00' lands as the right UTC time."""
    return "TIMESTAMPTZ" if layout_type == "TIMESTAMP" else layout_type


def column_staging_type(table: Table, name: str) -> str:
    """The staging type of one layout column: text for a column kept raw."""
    column = table.column(name)
    return "VARCHAR" if column.kept_raw else staging_type(column.type)


def q(s: str) -> str:
    """A SQL string literal."""
    return "'" + s.replace("'", "''") + "'"


def ident(s: str) -> str:
    return '"' + s.replace('"', '""') + '"'


def check_columns(file: str, table: Table, header: Sequence[str]) -> list[Problem]:
    """Missing required columns and unknown (usually misspelt) ones, with a suggestion."""
    known = [c.name for c in table.columns]
    problems: list[Problem] = []
    for name in header:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else (
                f"; {table.name} columns are: {', '.join(known)}")
            problems.append(Problem("header", name, f"unknown column '{name}'{hint}"))
    seen: set[str] = set()
    for name in header:
        if name in seen:
            problems.append(Problem("header", name, f"column '{name}' appears twice"))
        seen.add(name)
    for name in table.required:
        if name not in header:
            problems.append(Problem("header", name, f"required column '{name}' is missing"))
    return problems


def _duck_error(path: Path, exc: Exception) -> CrossforceError:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return CrossforceError(f"{path}: cannot be read: {text}")


def _check_not_empty(path: Path) -> None:
    with path.open("rb") as f:
        head = f.read(4096)
    if not head.strip():
        raise CrossforceError(f"{path}: empty file (expected a {path.suffix[1:]} file with "
                              f"a header and rows)")


def _base(con: duckdb.DuckDBPyConnection, name: str) -> int:
    """First rowid of a temp table (rowids inside a transaction start at a large offset)."""
    (base,) = con.execute(f"SELECT coalesce(min(rowid), 0) FROM {name}").fetchone() or (0,)
    return int(base)


CSV_MAX_LINE_BYTES = 2_000_000


def csv_max_line_bytes() -> int:
    """The longest CSV line accepted (env ``CROSSFORCE_CSV_MAX_LINE_BYTES``)."""
    text = os.environ.get("CROSSFORCE_CSV_MAX_LINE_BYTES", "").strip()
    if not text:
        return CSV_MAX_LINE_BYTES
    try:
        value = int(text)
    except ValueError:
        raise CrossforceError(f"CROSSFORCE_CSV_MAX_LINE_BYTES={text!r}: not a whole "
                              "number") from None
    if value < 1024:
        raise CrossforceError(f"CROSSFORCE_CSV_MAX_LINE_BYTES={text!r}: at least 1024")
    return value


def csv_header(path: Path, max_line: int | None = None) -> list[str]:
    """The header line, read on its own so a bad row further down cannot hide it; never
    more than ``max_line`` bytes of it."""
    import csv

    max_line = max_line or csv_max_line_bytes()
    with path.open("rb") as f:
        first = f.readline(max_line + 1)
    if len(first) > max_line and not first.endswith(b"\n"):
        raise CrossforceError(f"{path}, line 1: the header line is longer than {max_line:,} "
                              f"bytes (limit CROSSFORCE_CSV_MAX_LINE_BYTES); not a CSV "
                              "this node reads")
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CrossforceError(f"{path}, line 1: invalid UTF-8 in the header (the file must "
                              f"be UTF-8 encoded)") from None
    return next(csv.reader([text.rstrip("\r\n")]), [])


def stage_csv(con: duckdb.DuckDBPyConnection, path: Path, table: Table, name: str) -> Staged:
    _check_not_empty(path)
    src = q(str(path))
    max_line = csv_max_line_bytes()
    opts = (f"header=true, delim=',', quote='\"', escape='\"', "
            f"max_line_size={max_line}")
    header = csv_header(path, max_line)
    problems = check_columns(str(path), table, header)
    if problems:
        return Staged(table, name, tuple(header), problems)
    columns = "{" + ", ".join(f"{q(h)}: {q(column_staging_type(table, h))}"
                              for h in header) + "}"
    con.execute("DROP TABLE IF EXISTS rejects_err; DROP TABLE IF EXISTS rejects_scan")
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM read_csv({src}, {opts}, "
            f"columns={columns}, store_rejects=true, rejects_table='rejects_err', "
            f"rejects_scan='rejects_scan', auto_detect=false)")
    except duckdb.Error as exc:
        raise _duck_error(path, exc) from None
    rejects = con.execute(
        "SELECT line, column_name, error_type, error_message, csv_line FROM rejects_err "
        "ORDER BY line, column_idx").fetchall()
    for line, column, kind, message, csv_line in rejects:
        problems.append(Problem(f"line {line}", column or None,
                                _reject_reason(kind, message, table, column), csv_line))
    # Rows the reader dropped shift staging rowids against file lines; undo that shift.
    dropped = sorted({int(r[0]) - 2 for r in rejects})
    shift = [d - i for i, d in enumerate(dropped)]
    base = _base(con, name)

    def locate(ids: Sequence[int]) -> dict[int, str]:
        return {i: f"line {i - base + bisect.bisect_right(shift, i - base) + 2}" for i in ids}

    return Staged(table, name, tuple(header), problems, locate,
                  _raw_from_staging(con, name, 0), len(dropped))


def _reject_reason(kind: str, message: str, table: Table, column: str | None) -> str:
    kind = (kind or "").upper()
    if kind == "CAST" and column:
        want = table.column(column).type if column in {c.name for c in table.columns} else "?"
        value = message.split('string "', 1)[1].rsplit('" to', 1)[0] if 'string "' in message \
            else ""
        if want in ("DATE", "TIMESTAMP"):
            return f"'{value}' is not a valid {want.lower()} (impossible or malformed date)"
        return f"'{value}' is not a valid {want}"
    if "ENCODING" in kind or "UNICODE" in kind:
        return "invalid UTF-8 (the file must be UTF-8 encoded)"
    if kind == "MISSING COLUMNS":
        return "row has fewer fields than the header"
    if kind == "TOO MANY COLUMNS":
        return "row has more fields than the header"
    return message.strip().splitlines()[0] if message else kind.lower()


def _raw_from_staging(con: duckdb.DuckDBPyConnection, name: str, shift: int) -> RawRows:
    """Rows of table ``name`` as JSON text; ids are rowids of a table ``shift`` below it."""
    def raw(ids: Sequence[int]) -> dict[int, str]:
        if not ids:
            return {}
        rows = con.execute(
            f"SELECT rowid, to_json(s)::VARCHAR FROM {name} s "
            f"WHERE rowid IN (SELECT unnest(?::BIGINT[]))", [[i + shift for i in ids]]
        ).fetchall()
        return {int(r) - shift: t for r, t in rows}
    return raw


def stage_relation(con: duckdb.DuckDBPyConnection, path: Path, table: Table, name: str,
                   source_sql: str, unit: str, first: int = 1,
                   extra: tuple[str, ...] = ()) -> Staged:
    """Stage from any SQL source (Parquet, JSON, UFDR batches): TRY_CAST, report misses.

    ``extra`` names store-only text columns (beyond the layout) carried over unchecked.
    """
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name}_raw AS SELECT * FROM {source_sql}")
    except duckdb.Error as exc:
        raise _duck_error(path, exc) from None
    header = [d[0] for d in con.execute(f"SELECT * FROM {name}_raw LIMIT 0").description]
    header = [h for h in header if h != "_where" and h not in extra]
    has_where = "_where" in {d[0] for d in con.execute(
        f"SELECT * FROM {name}_raw LIMIT 0").description}
    problems = check_columns(str(path), table, header)
    if problems:
        return Staged(table, name, tuple(header), problems)
    casts = ", ".join(f"TRY_CAST({ident(h)} AS {column_staging_type(table, h)}) "
                      f"AS {ident(h)}"
                      for h in header)
    casts += "".join(f", {ident(e)}" for e in extra)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT {casts} FROM {name}_raw "
                f"ORDER BY rowid")
    base, raw_base = _base(con, name), _base(con, f"{name}_raw")
    shift = raw_base - base  # staged rowid + shift = rowid of the same row in {name}_raw

    if has_where:
        def locate(ids: Sequence[int]) -> dict[int, str]:
            if not ids:
                return {}
            return {int(r) - shift: w for r, w in con.execute(
                f"SELECT rowid, _where FROM {name}_raw "
                f"WHERE rowid IN (SELECT unnest(?::BIGINT[]))", [[i + shift for i in ids]]
            ).fetchall()}
    else:
        def locate(ids: Sequence[int]) -> dict[int, str]:
            return {i: f"{unit} {i - base + first}" for i in ids}

    staged = Staged(table, name, (*header, *extra), [], locate,
                    _raw_from_staging(con, f"{name}_raw", shift))
    for h in header:
        want = table.column(h).type
        bad = con.execute(
            f"SELECT rowid, {ident(h)}::VARCHAR FROM {name}_raw WHERE {ident(h)} IS NOT NULL "
            f"AND TRY_CAST({ident(h)} AS {column_staging_type(table, h)}) IS NULL "
            f"ORDER BY rowid"
        ).fetchall()
        bad = [(r - shift, v) for r, v in bad]
        where = locate([r for r, _ in bad])
        kind = "date" if want in ("DATE", "TIMESTAMP") else want
        for rowid, value in bad:
            note = " (impossible or malformed date)" if kind == "date" else ""
            staged.problems.append(Problem(where[rowid], h,
                                           f"'{value}' is not a valid {kind}{note}",
                                           rowid=rowid))
    return staged


def stage_parquet(con: duckdb.DuckDBPyConnection, path: Path, table: Table, name: str) -> Staged:
    _check_not_empty(path)
    return stage_relation(con, path, table, name, f"read_parquet({q(str(path))})", "row")


def stage_json(con: duckdb.DuckDBPyConnection, path: Path, table: Table, name: str) -> Staged:
    _check_not_empty(path)
    lines = path.suffix == ".jsonl"
    _check_utf8(path, lines)
    if not lines:
        _check_array_closed(path)
    fmt = "newline_delimited" if lines else "array"
    try:
        keys = [d[0] for d in con.execute(
            f"SELECT * FROM read_json({q(str(path))}, format='{fmt}', sample_size=-1) LIMIT 0"
        ).description]
    except duckdb.Error as exc:
        raise _duck_error(path, exc) from None
    problems = check_columns(str(path), table, keys)
    if problems:
        return Staged(table, name, tuple(keys), problems)
    columns = "{" + ", ".join(f"{q(k)}: 'VARCHAR'" for k in keys) + "}"
    source = f"read_json({q(str(path))}, format='{fmt}', columns={columns})"
    return stage_relation(con, path, table, name, source, "line" if lines else "record")


def _check_array_closed(path: Path) -> None:
    """A JSON array file starts with ``[`` and ends with ``]`` (whitespace aside): one cut
    short, even between two records, is refused rather than half loaded."""
    with path.open("rb") as f:
        head = f.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
        end = f.seek(0, os.SEEK_END)
        tail = b""
        while end > 0 and not tail:  # the last byte that is not whitespace
            start = max(0, end - 4096)
            f.seek(start)
            tail = f.read(end - start).rstrip(b" \t\r\n")
            end = start
    if not head.startswith(b"["):
        raise CrossforceError(f"{path}: not a JSON array (it must start with '['; use "
                              "the .jsonl ending for one record per line); nothing loaded")
    if not tail.endswith(b"]"):
        raise CrossforceError(f"{path}: truncated JSON: the array does not end with ']' "
                              "(file cut short?); nothing loaded")


def _check_utf8(path: Path, lines: bool) -> None:
    """DuckDB's JSON reader names a byte offset; say which line holds the bad bytes."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                line += chunk[: exc.start].count(b"\n")
                raise CrossforceError(f"{path}, line {line}: invalid UTF-8 (the file must be "
                                      f"UTF-8 encoded)") from None
            line += chunk.count(b"\n")
