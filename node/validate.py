"""Row checks on a staged file, as SQL over the whole staging table.

Row-local rules (missing keys, allowed values, impossible dates) are one scan; duplicate
ids and unknown references are one aggregate or anti-join each. Only the offending rows
come back to Python, to be named in the error or quarantined. A date of birth is never
checked here: a bad one is a data-quality flag on the kept record (node.normalise_columns
``parse_dob``), not a bad row.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from federation.layout import (
    ETHNICITY_OFFICER_CODES,
    ETHNICITY_SELF_CODES,
    NATIONALITY_CODES,
    Table,
)
from node.sources import Problem, Staged, ident, q

#: persons columns read against a code list: a value off its list is kept raw (never a
#: reason to refuse the row), counted here, and leaves the node only as "other"
CODE_LISTS: dict[str, tuple[str, ...]] = {
    "ethnicity_self": ETHNICITY_SELF_CODES,
    "ethnicity_officer": ETHNICITY_OFFICER_CODES,
    "nationality": NATIONALITY_CODES,
}

#: (earlier, later) column pairs that must not run backwards.
ORDERED = (("date_from", "date_to"), ("valid_from", "valid_to"), ("first_seen", "last_seen"),
           ("age_min", "age_max"), ("date_from", "outcome_date"))

#: the years a date may have (1880-2100, UTC), as bounds a column's min/max can answer
#: without reading it (``year()`` of a time with a zone costs a calendar call per row)
_EARLIEST = {"DATE": "DATE '1880-01-01'", "TIMESTAMP": "TIMESTAMPTZ '1880-01-01 00:00:00+00'"}
_AFTER_LATEST = {"DATE": "DATE '2101-01-01'", "TIMESTAMP": "TIMESTAMPTZ '2101-01-01 00:00:00+00'"}

ENTITY = {"persons": "person", "crimes": "crime", "devices": "device", "intel": "intel report"}


@dataclass(frozen=True)
class _Rule:
    field: str
    sql: str  # true when the row breaks the rule
    reason: str  # may use {value}


def _row_rules(staged: Staged) -> list[_Rule]:
    table, present = staged.table, set(staged.present)
    rules: list[_Rule] = []
    for k in table.key:
        if k in present and table.column(k).required:
            rules.append(_Rule(k, f"{ident(k)} IS NULL", "missing value in key field"))
    for c in table.columns:
        if c.name not in present:
            continue
        col = ident(c.name)
        if c.choices:
            allowed = ", ".join(q(v) for v in c.choices)
            rules.append(_Rule(c.name, f"{col} NOT IN ({allowed})",
                               f"'{{value}}' is not allowed; use one of "
                               f"{', '.join(c.choices)}"))
        # a column kept raw (persons.dob) is staged as text and never refuses a row: its
        # impossible, out-of-range and future values are flagged at ingest instead
        if c.type in ("DATE", "TIMESTAMP") and not c.kept_raw:
            rules.append(_Rule(c.name, f"NOT ({col} >= {_EARLIEST[c.type]} AND "
                                       f"{col} < {_AFTER_LATEST[c.type]})",
                               "impossible date '{value}' (year out of range)"))
    for early, late in ORDERED:
        if early in present and late in present:
            rules.append(_Rule(late, f"{ident(late)} < {ident(early)}",
                               f"'{{value}}' is before {early}: impossible"))
    return rules


def row_problems(con: duckdb.DuckDBPyConnection, staged: Staged) -> list[Problem]:
    rules = _row_rules(staged)
    if not rules:
        return []
    flags = ", ".join(f"coalesce({r.sql}, false)" for r in rules)
    values = ", ".join(f"{ident(r.field)}::VARCHAR" for r in rules)
    bad = con.execute(
        f"SELECT rowid, [{flags}], [{values}] FROM {staged.name} "
        f"WHERE {' OR '.join(f'coalesce({r.sql}, false)' for r in rules)} ORDER BY rowid"
    ).fetchall()
    where = staged.locate([b[0] for b in bad])
    out: list[Problem] = []
    for rowid, hits, vals in bad:
        for rule, hit, value in zip(rules, hits, vals, strict=True):
            if hit:
                out.append(Problem(where[rowid], rule.field, rule.reason.format(value=value),
                                   rowid=rowid))
    return out


def on_code_list(column: str, codes: tuple[str, ...]) -> str:
    """SQL: is ``column`` (compared trimmed and upper-case) one of ``codes``? The one test
    ingest counts with and egress shares by."""
    return f"upper(trim(CAST({column} AS VARCHAR))) IN ({', '.join(q(v) for v in codes)})"


def code_list_flags(con: duckdb.DuckDBPyConnection, staging: str,
                    present: tuple[str, ...] | list[str]) -> dict[str, dict[str, int]]:
    """Per persons column, rows whose value is not on its code list (compared trimmed and
    upper-case): ``{"nationality": {"not_on_code_list": 3}}``, the shape of
    ``node.normalise_columns.data_quality``'s flags. The rows are kept as written."""
    columns = [c for c in CODE_LISTS if c in present]
    if not columns:
        return {}
    got = con.execute("SELECT " + ", ".join(
        f"count(*) FILTER ({ident(c)} IS NOT NULL "
        f"AND NOT {on_code_list(ident(c), CODE_LISTS[c])})" for c in columns)
        + f" FROM {staging}").fetchall()[0]
    return {c: {"not_on_code_list": int(n)} for c, n in zip(columns, got, strict=True) if n}


def duplicate_problems(con: duckdb.DuckDBPyConnection, staged: Staged,
                       replacing: int | None) -> list[Problem]:
    """Keys repeated inside the file, or already loaded from another file."""
    table = staged.table
    if not set(table.key) <= set(staged.present):
        return []
    keys = ", ".join(ident(k) for k in table.key)
    as_text = ", ".join(f"{ident(k)}::VARCHAR" for k in table.key)
    label = ", ".join(table.key)
    out: list[Problem] = []
    # a repeated hash of the key (a repeated key, or rarely a collision) sends the file to
    # the exact query below
    dups = [] if not _repeats_a_hash(con, staged.name, keys) else con.execute(
        f"SELECT rowid, first_value(rowid) OVER w, [{as_text}] FROM {staged.name} "
        f"WINDOW w AS (PARTITION BY {keys} ORDER BY rowid) "
        f"QUALIFY count(*) OVER (PARTITION BY {keys}) > 1 "
        f"AND rowid <> first_value(rowid) OVER w ORDER BY rowid").fetchall()
    where = staged.locate([r for d in dups for r in d[:2]])
    for rowid, first, vals in dups:
        out.append(Problem(where[rowid], label,
                           f"duplicate id {_show(vals)} in this file (first at "
                           f"{where[first]})", rowid=rowid))
    others = "" if replacing is None else f"AND t.source_file <> {int(replacing)}"
    join = " AND ".join(f"s.{ident(k)} = t.{ident(k)}" for k in table.key)
    clash = con.execute(
        f"SELECT s.rowid, [{', '.join(f's.{ident(k)}::VARCHAR' for k in table.key)}], "
        f"any_value(f.path) FROM {staged.name} s JOIN {table.name} t ON {join} {others} "
        f"JOIN source_files f ON f.file_id = t.source_file GROUP BY ALL ORDER BY 1").fetchall()
    where = staged.locate([c[0] for c in clash])
    for rowid, vals, path in clash:
        out.append(Problem(where[rowid], label,
                           f"duplicate id {_show(vals)}: already loaded from {path}",
                           rowid=rowid))
    return out


def _repeats_a_hash(con: duckdb.DuckDBPyConnection, table: str, keys: str) -> bool:
    """Does any row of ``table`` share the hash of ``keys`` with another? Sorting the 64-bit
    hashes in numpy costs about a quarter of grouping them in DuckDB (10 M calls: 0.7
    against 3.1 CPU s), the check every file pays."""
    hashes = con.execute(f"SELECT hash({keys}) AS h FROM {table}").fetchnumpy()["h"]
    hashes.sort()
    return bool((hashes[1:] == hashes[:-1]).any())


def reference_problems(con: duckdb.DuckDBPyConnection, staged: Staged) -> list[Problem]:
    """References to persons, crimes, devices... that the store does not hold."""
    out: list[Problem] = []
    for col, target, target_col in staged.table.references:
        if col not in staged.present:
            continue
        bad = con.execute(
            f"SELECT rowid, {ident(col)} FROM {staged.name} s WHERE {ident(col)} IS NOT NULL "
            f"AND NOT EXISTS (SELECT 1 FROM {target} t WHERE t.{ident(target_col)} = "
            f"s.{ident(col)}) ORDER BY rowid").fetchall()
        where = staged.locate([b[0] for b in bad])
        thing = ENTITY.get(target, target)
        for rowid, value in bad:
            out.append(Problem(where[rowid], col,
                               f"unknown {thing} '{value}' (no {target} row with "
                               f"{target_col} = '{value}' has been loaded)", rowid=rowid))
    return out


def dangling_after_replace(con: duckdb.DuckDBPyConnection, table: Table,
                           referrers: list[tuple[str, str, str]]) -> list[Problem]:
    """Rows of other files that a replaced file no longer satisfies."""
    out: list[Problem] = []
    for src_table, col, target_col in referrers:
        rows = con.execute(
            f"SELECT count(*), any_value(s.{ident(col)}), any_value(f.path) FROM {src_table} s "
            f"JOIN source_files f ON f.file_id = s.source_file WHERE s.{ident(col)} IS NOT NULL "
            f"AND NOT EXISTS (SELECT 1 FROM {table.name} t WHERE t.{ident(target_col)} = "
            f"s.{ident(col)})").fetchone()
        if rows and rows[0]:
            out.append(Problem("", target_col,
                               f"the new version drops {table.name} that {rows[0]} "
                               f"{src_table} rows still refer to (e.g. {col} '{rows[1]}' in "
                               f"{rows[2]}); load a version that keeps them"))
    return out


def _show(vals: list[str | None]) -> str:
    return "(" + ", ".join(repr(v) for v in vals) + ")" if len(vals) > 1 else repr(vals[0])
