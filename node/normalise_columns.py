"""Normalised columns beside raw ones, computed once per DISTINCT raw value.

Extractions repeat the same numbers millions of times, so ingest pulls the distinct raw
values out of DuckDB, runs the project's one normaliser over them
(federation.normalise), and joins the small map back in SQL. Values the normaliser gives
up on stay raw with a NULL normalised form: they are counted, never tokenised.

Dates of birth are parsed in SQL over their distinct written forms (``parse_dob``), with
the written forms ``federation.normalise.normalise_date`` accepts plus partial ones: the
usable part, its precision and a flag go beside the raw value; no row is ever refused.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from federation.layout import BY_NAME, NOT_STATED_CODES
from federation.normalise import _DATE_FORMATS as DATE_FORMATS
from federation.normalise import normalise_handle, normalise_many
from node.extraction.parties import phones_in_region, phones_in_region_arrow
from node.party_columns import party_insert
from node.sources import ident, q

Rows = list[tuple[str | None, ...]]


@dataclass(frozen=True)
class NormColumn:
    """Store column ``target`` = normaliser applied to the staged columns ``raw``."""

    target: str
    raw: tuple[str, ...]
    compute: Callable[[Rows], list[str | None]]
    #: store column set to ``target IS NOT NULL`` (the normalised flag), if any
    flag: str | None = None
    #: counted as an identifier kept raw when normalisation fails
    identifier: bool = True
    #: ``compute`` over Arrow arrays of the raw inputs, the same values without Python rows
    arrow: Callable[..., pa.Array] | None = None


def _kind(kind: str) -> Callable[[Rows], list[str | None]]:
    return lambda rows: normalise_many(kind, [r[0] for r in rows])


def _full_name(rows: Rows) -> list[str | None]:
    return normalise_many("name", [" ".join(p for p in r if p) or None for r in rows])


def _phones(rows: Rows) -> list[str | None]:
    """(number, device region) → E.164 read in the device's region (never a guessed one)."""
    return phones_in_region(rows)  # type: ignore[arg-type]  # rows are (number, region)


def _identifier(rows: Rows) -> list[str | None]:
    """(kind, platform, value) → the normaliser of that kind."""
    out: list[str | None] = [None] * len(rows)
    by_kind: dict[str, list[int]] = {}
    for i, (kind, _platform, _value) in enumerate(rows):
        by_kind.setdefault(str(kind), []).append(i)
    for kind, idx in by_kind.items():
        if kind == "handle":
            norms = [normalise_handle(rows[i][1], rows[i][2]) for i in idx]
        elif kind in ("phone", "email", "imei"):
            norms = normalise_many(kind, [rows[i][2] for i in idx])
        else:
            norms = [None] * len(idx)
        for i, n in zip(idx, norms, strict=True):
            out[i] = n
    return out


NORM_COLUMNS: dict[str, tuple[NormColumn, ...]] = {
    "persons": (NormColumn("name_norm", ("given_names", "family_name"), _full_name,
                           identifier=False),),
    "identifiers": (NormColumn("value_norm", ("kind", "platform", "value"), _identifier,
                               flag="normalised"),),
    "addresses": (NormColumn("postcode_norm", ("postcode",), _kind("postcode")),),
    "vehicles": (NormColumn("vrm_norm", ("vrm",), _kind("vrm")),),
    # the device's own number is read in its region: node.extraction.load.finish_devices
    "devices": (NormColumn("imei_norm", ("imei",), _kind("imei")),),
    # numbers are read in their device's region (``_region``, from the devices table);
    # why one stayed raw is counted by node.extraction.load.finish_parties; the
    # ``number_normalised`` flag is generated from ``number_e164`` (migration 9)
    "calls": (NormColumn("number_e164", ("number", "_region"), _phones, identifier=False,
                        arrow=phones_in_region_arrow),),
    "messages": (NormColumn("number_e164", ("number", "_region"), _phones, identifier=False,
                        arrow=phones_in_region_arrow),),
    "contacts": (NormColumn("number_e164", ("number", "_region"), _phones, identifier=False,
                        arrow=phones_in_region_arrow),),
}


#: working inputs a NormColumn may read beside the staged columns: (SQL, the join it needs)
_CONTEXT = {
    # the region of the row's device, from the devices already in the store (a devices
    # file loads before its calls; an extraction inserts its device row first)
    "_region": ("dr.region", "LEFT JOIN (SELECT device_id, any_value(region) AS region "
                "FROM devices GROUP BY device_id) dr ON dr.device_id = s.device_id"),
}


Context = dict[str, tuple[str, str]]


def file_context(con: duckdb.DuckDBPyConnection, staging: str, present: Sequence[str],
                 specs: Sequence[NormColumn]) -> Context:
    """``_CONTEXT`` for one staged file: when all its devices share one region (a force's
    files usually do), that region is a constant and no row joins the devices table — the
    numbers' map is then joined on the number alone (10 M calls: two hash joins fewer)."""
    context = dict(_CONTEXT)
    if "device_id" in present and any("_region" in spec.raw for spec in specs):
        regions = con.execute(f"""
            SELECT DISTINCT dr.region FROM (SELECT DISTINCT device_id FROM {staging}) s
            {_CONTEXT["_region"][1]} LIMIT 2""").fetchall()
        if len(regions) == 1:
            region = regions[0][0]
            context["_region"] = (q(region) if region is not None else "NULL::VARCHAR", "")
    return context


def _raw(column: str, present: Sequence[str], context: Context = _CONTEXT) -> str:
    """SQL for one raw input of a NormColumn: the staged column (alias ``s``), a working
    input (``context``), or NULL when the file has no such column."""
    if column in context:
        return context[column][0]
    if column in present:
        return f"s.{ident(column)}::VARCHAR"
    return "NULL::VARCHAR"


def _stored(table: str, column: str) -> str:
    """SQL of a staged column as the store keeps it. A time is staged with its zone
    (TIMESTAMPTZ, UTC) and stored as UTC: its microseconds since the epoch are the same,
    and reading them across is far cheaper than a cast through the calendar."""
    layout = BY_NAME.get(table)
    known = {c.name: c for c in layout.columns} if layout else {}
    if column in known and known[column].type == "TIMESTAMP" and not known[column].kept_raw:
        return f"make_timestamp(epoch_us(s.{ident(column)}))"
    return f"s.{ident(column)}"


#: staged columns stored under another name: an extraction's party kind as the tool gave
#: it goes to ``kind_stored`` (``party_kind``/``entry_kind`` are generated, migration 9)
STORED_AS = {"party_kind": "kind_stored", "entry_kind": "kind_stored"}


def _context_joins(specs: Sequence[NormColumn], context: Context = _CONTEXT) -> str:
    return " ".join(join for name, (_, join) in context.items()
                    if join and any(name in spec.raw for spec in specs))


@dataclass
class PendingMap:
    """Distinct raw values of one NormColumn and their normalised forms, being computed
    into an Arrow table (``r0``.. the raw inputs, ``norm``) to join back in SQL."""

    spec: NormColumn
    table: Future[pa.Table]
    #: the file's working inputs (``file_context``)
    context: Context


def _map_table(spec: NormColumn, distinct: Rows | pa.Table) -> pa.Table:
    """The normalised forms of ``distinct`` beside its raw inputs, as Arrow."""
    if isinstance(distinct, pa.Table):
        assert spec.arrow is not None
        columns = [distinct.column(i).combine_chunks() for i in range(len(spec.raw))]
        arrays = {f"r{i}": c for i, c in enumerate(columns)}
        arrays["norm"] = spec.arrow(*columns)
        return pa.table(arrays)
    arrays = {f"r{i}": pa.array([r[i] for r in distinct], pa.string())
              for i in range(len(spec.raw))}
    arrays["norm"] = pa.array(spec.compute(distinct), pa.string())
    return pa.table(arrays)


def start_normalising(con: duckdb.DuckDBPyConnection, table: str, staging: str,
                      present: Sequence[str], pool: ThreadPoolExecutor) -> list[PendingMap]:
    """Pull distinct raw values now; normalise them on ``pool`` while DuckDB validates.

    The normaliser is Python and DuckDB releases the GIL while it runs a query, so the two
    overlap instead of adding up; the map is built as Arrow there too.
    """
    pending = []
    specs = NORM_COLUMNS.get(table, ())
    context = file_context(con, staging, present, specs)
    joins = _context_joins(specs, context)
    for spec in specs:
        raw = [_raw(c, present, context) for c in spec.raw]
        sql = f"SELECT DISTINCT {', '.join(raw)} FROM {staging} s {joins}"
        distinct: Rows | pa.Table
        if spec.arrow:  # the rows with any raw input, as Arrow (no Python tuples)
            names = ", ".join(f"r{i}" for i in range(len(raw)))
            distinct = con.sql(
                f"SELECT * FROM ({sql}) d({names}) WHERE "
                + " OR ".join(f"r{i} IS NOT NULL" for i in range(len(raw)))
            ).to_arrow_table()
        else:
            distinct = [r for r in con.execute(sql).fetchall()
                        if any(v is not None for v in r)]
        pending.append(PendingMap(spec, pool.submit(_map_table, spec, distinct), context))
    return pending


def insert_normalised(con: duckdb.DuckDBPyConnection, table: str, staging: str,
                      present: Sequence[str], source_file: int,
                      pending: list[PendingMap] | None = None,
                      parties: bool = False) -> tuple[int, int]:
    """INSERT the staged rows with their normalised columns; return (rows, kept raw).

    ``parties`` (a layout file's calls, messages, contacts): the same INSERT writes each
    party's kind, normalised form and number flag (``node.party_columns``)."""
    if pending is None:
        with ThreadPoolExecutor(1) as pool:
            pending = start_normalising(con, table, staging, present, pool)
    cols = [STORED_AS.get(c, c) if table in ("calls", "messages", "contacts") else c
            for c in present]
    select = [_stored(table, c) for c in present]
    context = pending[0].context if pending else _CONTEXT
    joins: list[str] = [_context_joins([p.spec for p in pending], context)]
    unnormalised_sql: list[str] = []
    views = []
    for n, p in enumerate(pending):
        spec, alias, view = p.spec, f"m{n}", f"normmap_{table}_{n}"
        con.register(view, p.table.result())
        views.append(view)
        if len(spec.raw) == 1:  # NULL raw never matches, and needs no match
            on = f"{alias}.r0 = s.{ident(spec.raw[0])}::VARCHAR" if spec.raw[0] in present \
                else "false"
        else:  # an input constant for the file (``file_context``) is the map's too
            on = " AND ".join(f"{alias}.r{i} IS NOT DISTINCT FROM {_raw(c, present, context)}"
                              for i, c in enumerate(spec.raw)
                              if c not in context or context[c][1])
        joins.append(f"LEFT JOIN {view} {alias} ON {on}")
        cols.append(spec.target)
        select.append(f"{alias}.norm")
        if spec.flag:
            cols.append(spec.flag)
            select.append(f"{alias}.norm IS NOT NULL")
        if spec.identifier:
            last = ident(spec.raw[-1])
            unnormalised_sql.append(f"count(*) FILTER ({last} IS NOT NULL AND "
                                    f"{ident(spec.target)} IS NULL)")
        if parties and spec.target == "number_e164":
            party = party_insert(con, table, staging, present, view, alias, joins[0],
                                 context["_region"][0])
            if party:
                joins.append(party.join)
                cols.extend(party.columns)
                select.extend(party.select)
                views.append(party.view)
    cols.append("source_file")
    select.append(str(int(source_file)))
    con.execute(f"INSERT INTO {table} ({', '.join(ident(c) for c in cols)}) "
                f"SELECT {', '.join(select)} FROM {staging} s {' '.join(joins)}")
    for view in views:
        con.unregister(view)
    counts = ["count(*)", *unnormalised_sql]
    got = con.execute(f"SELECT {', '.join(counts)} FROM {table} "
                      f"WHERE source_file = {int(source_file)}").fetchone()
    assert got is not None
    return int(got[0]), int(sum(got[1:]))


# --------------------------------------------------------------------------- dates of birth

#: Store columns ingest adds beside ``dob`` (migration 3).
DOB_COLUMNS = ("dob_raw", "dob_precision", "dob_flag")

#: dob_flag codes, in the order they win when several apply (one flag per record).
DOB_FLAGS = {
    "not_stated": "a not-stated code (NK, UNK, ...) instead of a date",
    "unparsed": "no date can be read from it",
    "out_of_range": "year before 1880 (a two-digit year such as 85 included)",
    "future": "after today",
    "impossible": "no such date (day or month invalid): the valid parts are kept",
    "day_month_swapped": "valid only with day and month swapped (1950-19-05): read that way",
    "year_only": "a year alone",
    "month_only": "a year and month alone",
    "jan1_padded": "1 January: usually a year padded to a date, so treated as the year",
    "estimate": "dob_known is false: the date is an estimate",
}

_NUM = r"(\d{1,2})"
#: (pattern, names of its groups): the numeric written forms, when no whole date parses.
_DOB_PARTS = (
    (r"^(\d{4})[-/.]" + _NUM + "[-/.]" + _NUM + "$", ("y", "m", "d")),  # 1997-21-25
    (r"^(\d{4})(\d{2})(\d{2})$", ("y", "m", "d")),                      # 19972125
    ("^" + _NUM + "[-/.]" + _NUM + r"[-/.](\d{4})$", ("d", "m", "y")),  # 25/21/1997
    (r"^(\d{4})[-/.]" + _NUM + "$", ("y", "m")),                        # 1997-03
    ("^" + _NUM + r"[-/.](\d{4})$", ("m", "y")),                        # 03/1997
    (r"^(\d{4})$", ("y",)),                                             # 1997
)


def _part(name: str) -> str:
    """SQL: the integer part ``name`` (y, m or d) from whichever numeric form matched."""
    picks = [f"TRY_CAST(nullif(regexp_extract(d, {q(pattern)}, "
             f"{groups.index(name) + 1}), '') AS INTEGER)"
             for pattern, groups in _DOB_PARTS if name in groups]
    return f"coalesce({', '.join(picks)})"


def _dob_map_sql(staging: str) -> str:
    """One row per DISTINCT written dob: the usable DATE, its precision and its flag.

    Whole dates parse with the project's accepted written forms (federation.normalise, the
    same list normalise_date uses); when none fits, the numeric parts are read with regular
    expressions and the valid ones kept. All of it is SQL over the distinct values.
    """
    formats = "[" + ", ".join(q(f) for f in DATE_FORMATS) + "]"
    codes = ", ".join(q(c) for c in NOT_STATED_CODES)
    return f"""
    WITH raw AS (SELECT DISTINCT dob AS raw FROM {staging} WHERE trim(dob) <> ''),
    clean AS (  -- as normalise_date: commas are spaces, runs of spaces one
        SELECT raw, trim(regexp_replace(replace(raw, ',', ' '), '\\s+', ' ', 'g')) AS t
        FROM raw),
    text AS (  -- an ISO timestamp keeps its date part
        SELECT raw, coalesce(nullif(regexp_extract(t,
                   '^(\\d{{4}}-\\d{{1,2}}-\\d{{1,2}})[T ]\\d', 1), ''), t) AS d
        FROM clean),
    whole AS (SELECT raw, d, try_strptime(d, {formats})::DATE AS whole_date FROM text),
    parts AS (
        SELECT raw, upper(d) IN ({codes}) AS not_stated, whole_date,
               coalesce(year(whole_date), {_part("y")}) AS y,
               coalesce(month(whole_date), {_part("m")}) AS m,
               coalesce(day(whole_date), {_part("d")}) AS dd
        FROM whole),
    reading AS (
        -- (flag, precision, year, month, day) of the best reading; checked for range below
        SELECT raw, CASE
            WHEN not_stated THEN {{'flag': 'not_stated', 'p': NULL, 'm': NULL, 'd': NULL}}
            WHEN y IS NULL THEN {{'flag': 'unparsed', 'p': NULL, 'm': NULL, 'd': NULL}}
            WHEN whole_date IS NOT NULL AND m = 1 AND dd = 1
                THEN {{'flag': 'jan1_padded', 'p': 'year', 'm': 1, 'd': 1}}
            WHEN whole_date IS NOT NULL THEN {{'flag': NULL, 'p': 'day', 'm': m, 'd': dd}}
            WHEN dd IS NOT NULL AND m BETWEEN 1 AND 12
                THEN {{'flag': 'impossible', 'p': 'month', 'm': m, 'd': 1}}
            WHEN dd BETWEEN 1 AND 12 AND try_strptime(y || '-' || dd || '-' || m, '%Y-%m-%d')
                    IS NOT NULL
                THEN {{'flag': 'day_month_swapped', 'p': 'day', 'm': dd, 'd': m}}
            WHEN dd IS NOT NULL THEN {{'flag': 'impossible', 'p': 'year', 'm': 1, 'd': 1}}
            WHEN m BETWEEN 1 AND 12 THEN {{'flag': 'month_only', 'p': 'month', 'm': m, 'd': 1}}
            WHEN m IS NOT NULL THEN {{'flag': 'impossible', 'p': 'year', 'm': 1, 'd': 1}}
            ELSE {{'flag': 'year_only', 'p': 'year', 'm': 1, 'd': 1}}
        END AS r, y FROM parts),
    dated AS (
        SELECT raw, r, y, CASE WHEN r.p IS NOT NULL AND y BETWEEN 1 AND 9999
                               THEN make_date(y, r.m, r.d) END AS date
        FROM reading)
    SELECT raw,
        CASE WHEN r.p IS NULL OR y < 1880 OR date > current_date THEN NULL ELSE date END
            AS dob,
        CASE WHEN r.p IS NULL OR y < 1880 OR date > current_date THEN NULL ELSE r.p END
            AS dob_precision,
        CASE WHEN r.p IS NULL THEN r.flag WHEN y < 1880 THEN 'out_of_range'
             WHEN date > current_date THEN 'future' ELSE r.flag END AS dob_flag
    FROM dated"""


def parse_dob(con: duckdb.DuckDBPyConnection, staging: str,
              present: Sequence[str]) -> tuple[str, ...]:
    """Turn the staged text ``dob`` into the store's dob + DOB_COLUMNS; return the columns.

    Never refuses a row: the value as written goes to ``dob_raw`` (NULL when blank), the
    usable part to ``dob`` (a DATE at ``dob_precision``), and what was wrong to ``dob_flag``.
    A ``dob_known`` of false flags an otherwise clean date as an 'estimate'.
    """
    if "dob" not in present:
        return tuple(present)
    known = "s.dob_known" if "dob_known" in present else "NULL::BOOLEAN"
    con.execute(f"CREATE OR REPLACE TEMP TABLE {staging}_dob AS {_dob_map_sql(staging)}")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {staging} AS
        SELECT s.* REPLACE (m.dob AS dob),
               CASE WHEN trim(s.dob) <> '' THEN s.dob END AS dob_raw,
               m.dob_precision,
               coalesce(m.dob_flag, CASE WHEN {known} = false AND m.dob IS NOT NULL
                                         THEN 'estimate' END) AS dob_flag
        FROM {staging} s LEFT JOIN {staging}_dob m ON m.raw = s.dob
        ORDER BY s.rowid""")
    con.execute(f"DROP TABLE {staging}_dob")
    return (*present, *DOB_COLUMNS)


def data_quality(con: duckdb.DuckDBPyConnection, staging: str,
                 present: Sequence[str]) -> dict[str, dict[str, int]]:
    """Flags on kept records, per field: ``{"dob": {"year_only": 12}, "family_name":
    {"not_stated": 1}}``. Empty when the file is clean."""
    out: dict[str, dict[str, int]] = {}
    if "dob_flag" in present:
        rows = con.execute(f"SELECT dob_flag, count(*) FROM {staging} "
                           f"WHERE dob_flag IS NOT NULL GROUP BY 1 ORDER BY 1").fetchall()
        order = list(DOB_FLAGS)
        flags = sorted(((str(f), int(n)) for f, n in rows),
                       key=lambda fn: order.index(fn[0]) if fn[0] in order else len(order))
        if flags:
            out["dob"] = dict(flags)
    codes = ", ".join(q(c) for c in NOT_STATED_CODES)
    names = [c for c in ("given_names", "family_name") if c in present]
    if names:
        got = con.execute("SELECT " + ", ".join(
            f"count(*) FILTER ({ident(c)} IS NULL OR upper(trim({ident(c)})) IN ('', {codes}))"
            for c in names) + f" FROM {staging}").fetchall()[0]
        for c, n in zip(names, got, strict=True):
            if n:
                out[c] = {"not_stated": int(n)}
    return out


def stored_flags(con: duckdb.DuckDBPyConnection) -> dict[int, dict[str, dict[str, int]]]:
    """``data_quality`` of the persons already in the store, by source file id."""
    codes = ", ".join(q(c) for c in NOT_STATED_CODES)
    rows = con.execute(f"""
        SELECT source_file, 'dob', dob_flag, count(*) FROM persons
        WHERE dob_flag IS NOT NULL GROUP BY ALL
        UNION ALL
        SELECT source_file, f, 'not_stated', count(*) FROM persons,
               unnest(['given_names', 'family_name']) t(f)
        WHERE CASE f WHEN 'given_names' THEN given_names ELSE family_name END IS NULL
           OR upper(trim(CASE f WHEN 'given_names' THEN given_names ELSE family_name END))
              IN ('', {codes})
        GROUP BY ALL""").fetchall()
    order = list(DOB_FLAGS)
    out: dict[int, dict[str, dict[str, int]]] = {}
    for file_id, fld, flag, n in sorted(
            rows, key=lambda r: (r[0], ("dob", "given_names", "family_name").index(r[1]),
                                 order.index(r[2]) if r[2] in order else len(order))):
        out.setdefault(int(file_id), {}).setdefault(str(fld), {})[str(flag)] = int(n)
    return out
