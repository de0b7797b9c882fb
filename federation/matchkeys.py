"""Person match keys: several deterministic keys per person, each its own token kind.

A key joins a few normalised quasi-identifiers (``fn|sn|dob``, ``sn|postcode``, phonetic
codes + birth year, ...). Two records of one person written differently — a typo in the
surname, a day/month swap, a missing postcode — still agree on most keys, while two
different people agree on few. The set is designed for RECALL (35 keys: 20 on names and
date of birth, 15 adding where the person lives, so a true pair nearly always shares
several); the coordinator's Fellegi–Sunter scoring restores precision by weighing which
keys agree. Each token kind names its fields (``mk:fn+dob``) so the coordinator can score
fields without seeing values. Dropping 8 of the address keys cost 0.8 points of recall
on FEBRL4, so they stay.

    match_key_values(persons, keys)            -> (row, token_kind, value)   normalised keys
    match_key_tokens(persons, tokeniser, keys) -> (row, token_kind, token)   16-byte tokens

``persons`` is a pyarrow Table or DuckDB relation with ``given_names``, ``family_name``,
``dob`` (DATE or text) and optionally ``postcode``, ``address`` (comma-separated lines:
``"12 high street, flat 2, leeds"``), ``locality`` and ``dob_precision`` ('day', 'month',
'year'): a date known to the month gives no key on the day (``dob``, ``md``, ``dob_dm``),
one known to the year only keys on the year alone, and a 1 January date is read as
known to the year (padding). Names go through the one normaliser (`federation.normalise`:
a placeholder such as ``UNK`` or ``N/K`` is no name), phonetic codes through ``jellyfish``,
nicknames through ``federation.names``, each once per DISTINCT value; the rest is DuckDB
SQL. Speed (bench `match_keys_persons`): one query builds every
key as a column of its own, each DISTINCT (kind, value) is hashed once, and inputs are
registered in small Arrow batches so DuckDB spreads the work over every core.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import duckdb
import jellyfish
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from federation.errors import CrossforceError
from federation.names import canonical_rows
from federation.normalise import normalise_date, normalise_many, normalise_postcode
from federation.tokens import token_sql, tokens_to_arrow

if TYPE_CHECKING:
    from federation.tokens import Tokeniser, TokenMaker

MATCH_KEY_PREFIX = "mk:"
TOKEN_BYTES = 16

#: Fields a key may combine: name -> SQL over the prepared per-person columns.
FIELDS: dict[str, str] = {
    "fn": "fn",            # first given name, normalised
    # both names in either order (given and family name swapped); least() skips NULLs
    "nm": "CASE WHEN fn IS NOT NULL AND sn IS NOT NULL "
          "THEN least(fn, sn) || '|' || greatest(fn, sn) END",
    "fi": "left(fn, 1)",   # given-name initial
    # canonical forms of the first given name (willie -> william, bill, ...): several rows
    # per person, each its own token of the key kind (federation.names)
    "fn_can": "fn_can",
    # every word of given and family names, sorted: survives names split differently
    # between the two fields ("mary ann"+"smith" = "mary"+"ann smith"); two words at least
    "nw": "nw",
    # the given and family initials in either order
    "ini": "CASE WHEN fn IS NOT NULL AND sn IS NOT NULL "
           "THEN least(left(fn, 1), left(sn, 1)) || greatest(left(fn, 1), left(sn, 1)) END",
    # a name and every form of it with one letter left out (its deletion neighbourhood,
    # of its first TYPO_LETTERS letters): two names one typo apart (a letter wrong, missing,
    # added or two swapped) share one of these forms. Several rows per person.
    "fn_d1": "fn_d1",
    "sn_d1": "sn_d1",
    "sn": "sn",            # family name, normalised, spaces removed (van der berg = vanderberg)
    "fn_mp": "fn_mp",      # metaphone of first given name
    "sn_mp": "sn_mp",
    "fn_ny": "fn_ny",      # NYSIIS
    "sn_ny": "sn_ny",
    # a date known to the day (dob_day), to the month (dob_month) or the year only (dob):
    # a date padded to the 1st of the month or to 1 January must not agree by chance
    "dob": "strftime(dob_day, '%Y%m%d')",
    "yob": "CAST(year(dob) AS VARCHAR)",
    "ym": "strftime(dob_month, '%Y%m')",
    "md": "strftime(dob_day, '%m%d')",
    # day and month in either order: survives a US-style or transposed date
    "dob_dm": "CAST(year(dob_day) AS VARCHAR) "
              "|| least(strftime(dob_day, '%m'), strftime(dob_day, '%d')) "
              "|| greatest(strftime(dob_day, '%m'), strftime(dob_day, '%d'))",
    "pc": "pc",            # postcode (canonical UK; other countries: upper-case alphanumerics)
    "st_no": "st_no",      # house number from the first address line
    "street": "street",    # a street: each address line but the locality (lines get swapped)
    "loc": "loc",          # locality: the last address line, or the locality column
}


@dataclass(frozen=True)
class MatchKey:
    """One deterministic key: the fields it joins. Its token kind names them in order,
    ``mk:fn+dob``, so the coordinator can tell which fields agree without seeing a value."""

    fields: tuple[str, ...]

    def __post_init__(self) -> None:
        unknown = [f for f in self.fields if f not in FIELDS]
        if unknown or not self.fields:
            raise ValueError(f"match key {self.fields}: unknown fields {unknown}; "
                             f"known: {', '.join(FIELDS)}")

    @property
    def name(self) -> str:
        return "+".join(self.fields)

    @property
    def token_kind(self) -> str:
        return MATCH_KEY_PREFIX + self.name

    def sql(self) -> str:
        return " || '|' || ".join(f"({FIELDS[f]})" for f in self.fields)


def _k(*fields: str) -> MatchKey:
    return MatchKey(fields)


#: Keys on names and date of birth only: every pair of the three, plus phonetic and
#: partial-date variants so one typo or a transposed date still leaves keys that agree.
NAME_DOB_KEYS: tuple[MatchKey, ...] = (
    _k("fn", "sn"),
    _k("fn", "dob"),
    _k("sn", "dob"),
    _k("fi", "sn", "dob"),
    _k("fn_mp", "dob"),
    _k("sn_mp", "dob"),
    _k("fn_ny", "sn_ny"),
    _k("fn_mp", "sn_mp", "yob"),
    _k("fn", "sn", "ym"),
    _k("fn", "sn", "md"),
    _k("fn", "sn", "dob_dm"),
    _k("nm", "dob"),
    _k("nm"),  # given and family name swapped, date of birth missing or only a year
    # measured on FEBRL4 and an open noisy set (fake_1000 split over three forces):
    # a nickname (willie, william); names split otherwise between the two fields; typos in
    # both names (initials) with the date exact or a day out; one name missing with the
    # date shifted
    _k("fn_can", "dob"),
    _k("nw", "dob"),
    _k("ini", "dob"),
    _k("ini", "ym"),
    _k("ini", "md"),
    _k("fn_mp", "yob"),
    _k("sn_mp", "yob"),
    # one typo in one name, the date exact (a typo key beside the other name alone makes
    # look-alikes of namesakes: Mohammed and Mohamed Davidson, born 20 years apart)
    _k("fn_d1", "dob"),
    _k("sn_d1", "dob"),
)

#: Keys that add where the person lives (postcode, street, house number, locality).
ADDRESS_KEYS: tuple[MatchKey, ...] = (
    _k("fn", "pc"),
    _k("sn", "pc"),
    _k("dob", "pc"),
    _k("fn", "street"),
    _k("sn", "street"),
    _k("dob", "street"),
    _k("sn", "loc"),
    _k("dob", "loc"),
    _k("st_no", "street"),
    _k("st_no", "pc"),
    _k("pc", "loc"),
    _k("fn", "loc"),
    _k("st_no", "loc"),
    _k("street", "loc"),
    _k("nm", "pc"),
)

DEFAULT_KEYS: tuple[MatchKey, ...] = NAME_DOB_KEYS + ADDRESS_KEYS

_REQUIRED = ("given_names", "family_name", "dob")
#: Record batches per registered table (several per core) and their smallest size.
_BATCHES = 16
_MIN_BATCH = 2048
_OPTIONAL = ("postcode", "address", "locality", "dob_precision")
#: Fields with several rows per person, each from its own (row, field) table.
_MULTI = {"street": "mk_streets", "fn_can": "mk_fn_can", "fn_d1": "mk_fn_d1",
          "sn_d1": "mk_sn_d1"}
#: Letters of a name whose deletion neighbourhood is keyed: bounds the forms per person
#: (at most TYPO_LETTERS + 1), so their number says little about the name's length.
TYPO_LETTERS = 8


def _prepare(con: duckdb.DuckDBPyConnection, persons: pa.Table) -> None:
    """`mk_people`: one row per input person with the derived fields, NULL where unknown;
    `mk_streets`: (row, street) for each street line of a person's address."""
    missing = [c for c in _REQUIRED if c not in persons.column_names]
    if missing:
        raise CrossforceError(f"persons table lacks column(s) {', '.join(missing)} needed "
                              "for match keys")
    cols = {c: persons.column(c) for c in _REQUIRED + _OPTIONAL if c in persons.column_names}
    n = persons.num_rows
    for c in _OPTIONAL:
        cols.setdefault(c, pa.nulls(n, pa.string()))
    table = pa.table({"row": pa.array(np.arange(n, dtype=np.int64)), **cols})
    _register_chunked(con, "mk_input", table)
    con.execute("""CREATE OR REPLACE TEMP VIEW mk_raw AS SELECT row,
        CAST(given_names AS VARCHAR) AS given_names, CAST(family_name AS VARCHAR) AS family_name,
        dob, lower(CAST(dob_precision AS VARCHAR)) AS dob_precision,
        CAST(postcode AS VARCHAR) AS postcode, CAST(locality AS VARCHAR) AS locality,
        string_split(CAST(address AS VARCHAR), ',') AS lines FROM mk_input""")
    _name_dictionary(con)
    _dates(con, persons.schema.field("dob").type)
    _postcodes(con)
    # address lines: the first gives the house number, the last (of several) the locality,
    # every line but that last one may be the street (lines get swapped)
    people = con.sql("""
        SELECT r.row,
               g.first AS fn, g.first_mp AS fn_mp, g.first_ny AS fn_ny,
               f.joined AS sn, f.joined_mp AS sn_mp, f.joined_ny AS sn_ny,
               CASE WHEN contains(concat_ws(' ', g.norm, f.norm), ' ') THEN array_to_string(
                   list_sort(string_split(concat_ws(' ', g.norm, f.norm), ' ')), ' ') END AS nw,
               d.dob,
               CASE WHEN d.jan1 OR r.dob_precision = 'year' THEN NULL ELSE d.dob END AS dob_month,
               CASE WHEN d.jan1 OR r.dob_precision IN ('year', 'month') THEN NULL ELSE d.dob END
                   AS dob_day,
               p.pc,
               nullif(regexp_extract(r.lines[1], '[0-9]+'), '') AS st_no,
               coalesce(l.norm, ln.norm) AS loc,
               CASE WHEN len(r.lines) > 1 THEN r.lines[:len(r.lines) - 1] ELSE r.lines END
                   AS street_lines
        FROM mk_raw r
        LEFT JOIN mk_names g ON g.raw = r.given_names
        LEFT JOIN mk_names f ON f.raw = r.family_name
        LEFT JOIN (SELECT raw, dob, strftime(dob, '%m%d') = '0101' AS jan1
                   FROM mk_dates) d ON d.raw = CAST(r.dob AS VARCHAR)
        LEFT JOIN mk_postcodes p ON p.raw = r.postcode
        LEFT JOIN mk_names l ON l.raw = r.locality
        LEFT JOIN mk_names ln ON ln.raw = CASE WHEN len(r.lines) > 1
                                               THEN r.lines[len(r.lines)] END""").to_arrow_table()
    _register_chunked(con, "mk_people", people)
    streets = con.sql("""
        SELECT DISTINCT p.row, s.norm AS street
        FROM (SELECT row, unnest(street_lines) AS line FROM mk_people) p
        JOIN mk_names s ON s.raw = p.line
        WHERE s.norm IS NOT NULL""").to_arrow_table()
    _register_chunked(con, "mk_streets", streets)
    # each first given name's canonical forms: (row, fn_can), several rows per person
    _register_chunked(con, "mk_fn_can", canonical_rows(con, "mk_people"))
    for field, name in (("fn_d1", "fn"), ("sn_d1", "sn")):
        _register_chunked(con, _MULTI[field], _typo_forms(con, name, field))


def _typo_forms(con: duckdb.DuckDBPyConnection, name: str, field: str) -> pa.Table:
    """(row, form): a name of three letters or more (its first TYPO_LETTERS) and each form
    of it with one letter left out; each distinct name expanded once, in SQL."""
    return con.sql(f"""
        WITH names AS (SELECT DISTINCT {name} AS w FROM mk_people
                       WHERE length({name}) >= 3),
        forms AS (
            SELECT w, unnest(list_distinct(list_value(left(w, {TYPO_LETTERS})) || list_transform(
                range(1, least(length(w), {TYPO_LETTERS}) + 1),
                lambda i: left(w, i - 1) || substr(left(w, {TYPO_LETTERS}), i + 1)))) AS form
            FROM names)
        SELECT p.row, f.form AS {field} FROM mk_people p JOIN forms f ON f.w = p.{name}
        ORDER BY p.row, f.form""").to_arrow_table()


def _register_chunked(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> None:
    """Register `table` in small record batches: DuckDB hands each batch to a thread, while
    a temp table under 122,880 rows is one row group, scanned by one thread only."""
    chunk = max(_MIN_BATCH, -(-table.num_rows // _BATCHES))
    con.register(name, pa.Table.from_batches(table.to_batches(max_chunksize=chunk),
                                             schema=table.schema))


def _name_dictionary(con: duckdb.DuckDBPyConnection) -> None:
    """Normalise each DISTINCT name (and address line) once, and phonetically code each
    distinct word once (a first given name, a family name with its spaces removed)."""
    raw = con.sql("""
        SELECT DISTINCT v FROM (
            SELECT given_names AS v FROM mk_raw UNION ALL SELECT family_name FROM mk_raw
            UNION ALL SELECT locality FROM mk_raw
            UNION ALL SELECT unnest(lines) FROM mk_raw)
        WHERE v IS NOT NULL""").to_arrow_table().column(0).combine_chunks()
    norm = pa.array(normalise_many("name", raw.to_pylist()), pa.string())
    con.register("mk_names_in", pa.table({"raw": raw, "norm": norm}))
    con.execute("""CREATE OR REPLACE TEMP TABLE mk_norm AS
                   SELECT raw, norm, split_part(norm, ' ', 1) AS first,
                          replace(norm, ' ', '') AS joined FROM mk_names_in""")
    con.unregister("mk_names_in")
    words = con.sql("""SELECT DISTINCT w FROM (SELECT first AS w FROM mk_norm UNION ALL
                                                   SELECT joined FROM mk_norm)
                           WHERE w IS NOT NULL""").to_arrow_table().column(0).to_pylist()
    metaphone, nysiis = jellyfish.metaphone, jellyfish.nysiis
    con.register("mk_codes_in", pa.table({
        "w": pa.array(words, pa.string()),
        "mp": pa.array([metaphone(w) or None for w in words], pa.string()),
        "ny": pa.array([nysiis(w) or None for w in words], pa.string())}))
    con.execute("""
        CREATE OR REPLACE TEMP TABLE mk_names AS
        SELECT n.raw, n.norm, n.first, f.mp AS first_mp, f.ny AS first_ny,
               n.joined, j.mp AS joined_mp, j.ny AS joined_ny
        FROM mk_norm n LEFT JOIN mk_codes_in f ON f.w = n.first
                       LEFT JOIN mk_codes_in j ON j.w = n.joined""")
    con.unregister("mk_codes_in")


def _dates(con: duckdb.DuckDBPyConnection, dob_type: pa.DataType) -> None:
    if pa.types.is_date(dob_type) or pa.types.is_timestamp(dob_type):
        con.execute("""CREATE OR REPLACE TEMP TABLE mk_dates AS
                       SELECT DISTINCT CAST(dob AS VARCHAR) AS raw, CAST(dob AS DATE) AS dob
                       FROM mk_raw WHERE dob IS NOT NULL""")
        return
    # ISO and compact ISO (the normaliser's own first forms) parse in SQL; any other
    # written form goes through normalise_date, once per distinct value
    con.execute("""CREATE OR REPLACE TEMP TABLE mk_dates AS
        SELECT raw, coalesce(try_strptime(raw, '%Y-%m-%d'), try_strptime(raw, '%Y%m%d'))::DATE
               AS dob
        FROM (SELECT DISTINCT CAST(dob AS VARCHAR) AS raw FROM mk_raw WHERE dob IS NOT NULL)""")
    raw = [r[0] for r in con.execute(
        "SELECT raw FROM mk_dates WHERE dob IS NULL").fetchall()]
    if not raw:
        return
    con.register("mk_dates_in", pa.table({"raw": pa.array(raw, pa.string()),
                                          "dob": pa.array([normalise_date(v) for v in raw],
                                                          pa.date32())}))
    con.execute("""UPDATE mk_dates SET dob = i.dob FROM mk_dates_in i
                   WHERE mk_dates.raw = i.raw""")
    con.unregister("mk_dates_in")


def _postcodes(con: duckdb.DuckDBPyConnection) -> None:
    raw = [r[0] for r in con.execute(
        "SELECT DISTINCT postcode FROM mk_raw WHERE postcode IS NOT NULL").fetchall()]
    # canonical UK form; a non-UK code is kept as its upper-case alphanumerics
    pc = [normalise_postcode(v) or ("".join(ch for ch in v.upper() if ch.isalnum()) or None)
          for v in raw]
    con.register("mk_pc_in", pa.table({"raw": pa.array(raw, pa.string()),
                                       "pc": pa.array(pc, pa.string())}))
    con.execute("CREATE OR REPLACE TEMP TABLE mk_postcodes AS SELECT * FROM mk_pc_in")
    con.unregister("mk_pc_in")


def _as_arrow(persons: Any) -> pa.Table:
    if isinstance(persons, pa.Table):
        return persons
    if isinstance(persons, duckdb.DuckDBPyRelation):
        return persons.to_arrow_table()
    raise CrossforceError(f"persons must be a pyarrow Table or DuckDB relation, "
                          f"not {type(persons).__name__}")


def _connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    # tokens are matched back to their values by position (the default, stated anyway)
    con.execute("SET preserve_insertion_order = true")
    return con


def _key_columns(con: duckdb.DuckDBPyConnection,
                 persons: pa.Table | duckdb.DuckDBPyRelation, keys: Sequence[MatchKey]
                 ) -> list[tuple[MatchKey, pa.Array, pa.Array]]:
    """(key, rows, values) per key, missing values dropped: one DuckDB query builds every
    key as a column of its own, so no unpivot, and each column is one token kind."""
    names = [k.name for k in keys]
    if not names or len(set(names)) != len(names):
        raise CrossforceError(f"match keys must be a non-empty set of distinct keys: {names}")
    _prepare(con, _as_arrow(persons))
    out = []
    groups: dict[tuple[str, ...], list[MatchKey]] = {}
    for k in keys:  # keys by the several-rows-per-person fields they hold
        groups.setdefault(tuple(f for f in _MULTI if f in k.fields), []).append(k)
    for multi, group in groups.items():
        source = " ".join(["mk_people", *(f"JOIN {_MULTI[f]} USING (row)" for f in multi)])
        columns = ", ".join(f'{k.sql()} AS "{k.token_kind}"' for k in group)
        wide = con.sql(f"SELECT row, {columns} FROM {source}").to_arrow_table()
        rows = wide.column("row")
        for key in group:
            values = wide.column(key.token_kind)
            present = pc.is_valid(values)
            out.append((key, pc.filter(rows, present).combine_chunks(),
                        pc.filter(values, present).combine_chunks()))
    return out


def match_key_values(persons: pa.Table | duckdb.DuckDBPyRelation,
                     keys: Sequence[MatchKey] = DEFAULT_KEYS) -> pa.Table:
    """Normalised key strings: (row, token_kind, value); a key with a missing field is omitted.

    These are raw quasi-identifiers — they never leave the node; tokenise them.
    """
    con = _connect()
    try:
        columns = _key_columns(con, persons, keys)
    finally:
        con.close()
    table = pa.table({
        "row": pa.concat_arrays([rows for _, rows, _ in columns]).cast(pa.int64()),
        "token_kind": _kind_column(columns),
        "value": pa.concat_arrays([values for _, _, values in columns]).cast(pa.string())})
    return table.sort_by([("token_kind", "ascending"), ("row", "ascending"),
                          ("value", "ascending")])


def match_key_tokens(persons: pa.Table | duckdb.DuckDBPyRelation,
                     tokeniser: Tokeniser | TokenMaker,
                     keys: Sequence[MatchKey] = DEFAULT_KEYS) -> pa.Table:
    """Keyed tokens of every match key: (row int64, token_kind string, token binary(16)).

    Each DISTINCT (kind, value) is hashed once — a postcode+locality or birthday+postcode
    key is shared by a whole household — and the HMAC runs inside DuckDB over all cores
    (`federation.tokens.token_sql`), the key pads passed as query parameters only.
    """
    con = _connect()
    try:
        columns = _key_columns(con, persons, keys)
        # per kind: its distinct values and each row's index into them (Arrow kernels
        # release the GIL, so the kinds are encoded on every core)
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            encoded = list(pool.map(lambda c: c[2].dictionary_encode(), columns))
        offsets = np.cumsum([0] + [len(e.dictionary) for e in encoded])
        distinct = pa.table({
            "kind": pa.DictionaryArray.from_arrays(
                pa.array(np.repeat(np.arange(len(columns), dtype=np.int32),
                                   np.diff(offsets))),
                pa.array([key.token_kind for key, _, _ in columns], pa.string())),
            "value": pa.concat_arrays([e.dictionary for e in encoded]).cast(pa.string())})
        if hasattr(tokeniser, "sql_params"):  # the legacy secret: HMAC right here
            _register_chunked(con, "mk_distinct", distinct)
            # an order-preserving scan: the i-th token is the i-th distinct value's
            hashed = con.sql(f"SELECT {token_sql('value', 'CAST(kind AS VARCHAR)')} AS token "
                             "FROM mk_distinct", params=tokeniser.sql_params()).to_arrow_table()
            unique = hashed.column("token").combine_chunks().cast(pa.binary(TOKEN_BYTES))
            unique_bytes = np.frombuffer(
                unique.buffers()[1], dtype=np.uint8, count=len(unique) * TOKEN_BYTES,
                offset=unique.offset * TOKEN_BYTES).reshape(-1, TOKEN_BYTES)
        else:  # the key service (node/prf_tokens.py): asks only for values not cached
            unique_bytes = tokeniser.tokens_for(distinct.column("kind"),
                                                distinct.column("value"))
    finally:
        con.close()
    index = np.concatenate([e.indices.to_numpy(zero_copy_only=False).astype(np.int64) + off
                            for e, off in zip(encoded, offsets[:-1], strict=True)])
    return pa.table({
        "row": pa.concat_arrays([rows for _, rows, _ in columns]).cast(pa.int64()),
        "token_kind": _kind_column(columns),
        "token": tokens_to_arrow(unique_bytes[index])})


def _kind_column(columns: list[tuple[MatchKey, pa.Array, pa.Array]]) -> pa.Array:
    """The token kind of each row, written straight into Arrow buffers (no per-row Python)."""
    kinds = [key.token_kind.encode() for key, _, _ in columns]
    counts = [len(rows) for _, rows, _ in columns]
    lengths = np.repeat(np.array([len(k) for k in kinds], dtype=np.int64), counts)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    data = b"".join(k * n for k, n in zip(kinds, counts, strict=True))
    return pa.LargeStringArray.from_buffers(
        len(lengths), pa.py_buffer(offsets.tobytes()), pa.py_buffer(data)).cast(pa.string())
