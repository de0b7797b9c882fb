"""Person match keys: several deterministic keys per person, each its own token kind.

A key joins a few normalised quasi-identifiers (``fn|sn|dob``, ``sn|postcode``, phonetic
codes + birth year, ...). Two records of one person written differently — a typo in the
surname, a day/month swap, a missing postcode — still agree on most keys, while two
different people agree on few. The set is designed for RECALL (27 keys: 12 on names and
date of birth, 15 adding where the person lives, so a true pair nearly always shares
several); the coordinator's Fellegi–Sunter scoring restores precision by weighing which
keys agree. Each token kind names its fields (``mk:fn+dob``) so the coordinator can score
fields without seeing values. Dropping 8 of the address keys cost 0.8 points of recall
on FEBRL4, so they stay.

    match_key_values(persons, keys)            -> (row, token_kind, value)   normalised keys
    match_key_tokens(persons, tokeniser, keys) -> (row, token_kind, token)   16-byte tokens

``persons`` is a pyarrow Table or DuckDB relation with ``given_names``, ``family_name``,
``dob`` (DATE or text) and optionally ``postcode``, ``address`` (comma-separated lines:
``"12 high street, flat 2, leeds"``) and ``locality``. Names go through the one normaliser
(`federation.normalise`), phonetic codes through ``jellyfish``, both once per DISTINCT
value; the rest is DuckDB SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import duckdb
import jellyfish
import numpy as np
import pyarrow as pa

from federation.errors import CrossforceError
from federation.normalise import normalise_date, normalise_many, normalise_postcode
from federation.tokens import token_sql

if TYPE_CHECKING:
    from federation.tokens import Tokeniser

MATCH_KEY_PREFIX = "mk:"
TOKEN_BYTES = 16

#: Fields a key may combine: name -> SQL over the prepared per-person columns.
FIELDS: dict[str, str] = {
    "fn": "fn",            # first given name, normalised
    # both names in either order (given and family name swapped); least() skips NULLs
    "nm": "CASE WHEN fn IS NOT NULL AND sn IS NOT NULL "
          "THEN least(fn, sn) || '|' || greatest(fn, sn) END",
    "fi": "left(fn, 1)",   # given-name initial
    "sn": "sn",            # family name, normalised, spaces removed (van der berg = vanderberg)
    "fn_mp": "fn_mp",      # metaphone of first given name
    "sn_mp": "sn_mp",
    "fn_ny": "fn_ny",      # NYSIIS
    "sn_ny": "sn_ny",
    "dob": "strftime(dob, '%Y%m%d')",
    "yob": "CAST(year(dob) AS VARCHAR)",
    "ym": "strftime(dob, '%Y%m')",
    "md": "strftime(dob, '%m%d')",
    # day and month in either order: survives a US-style or transposed date
    "dob_dm": "CAST(year(dob) AS VARCHAR) || least(strftime(dob, '%m'), strftime(dob, '%d')) "
              "|| greatest(strftime(dob, '%m'), strftime(dob, '%d'))",
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
_OPTIONAL = ("postcode", "address", "locality")


def _prepare(con: duckdb.DuckDBPyConnection, persons: pa.Table) -> None:
    """`mk_people`: one row per input person with the derived fields, NULL where unknown."""
    missing = [c for c in _REQUIRED if c not in persons.column_names]
    if missing:
        raise CrossforceError(f"persons table lacks column(s) {', '.join(missing)} needed "
                              "for match keys")
    cols = {c: persons.column(c) for c in _REQUIRED + _OPTIONAL if c in persons.column_names}
    n = persons.num_rows
    for c in _OPTIONAL:
        cols.setdefault(c, pa.nulls(n, pa.string()))
    table = pa.table({"row": pa.array(np.arange(n, dtype=np.int64)), **cols})
    con.register("mk_input", table)
    con.execute("""CREATE OR REPLACE TEMP TABLE mk_raw AS SELECT row,
        CAST(given_names AS VARCHAR) AS given_names, CAST(family_name AS VARCHAR) AS family_name,
        dob, CAST(postcode AS VARCHAR) AS postcode, CAST(address AS VARCHAR) AS address,
        CAST(locality AS VARCHAR) AS locality FROM mk_input""")
    con.unregister("mk_input")
    _name_dictionary(con)
    _dates(con, persons.schema.field("dob").type)
    _postcodes(con)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE mk_lines AS
        SELECT row, line, i, n FROM (
            SELECT row, unnest(lines) AS line, generate_subscripts(lines, 1) AS i,
                   len(lines) AS n
            FROM (SELECT row, string_split(address, ',') AS lines FROM mk_raw))""")
    con.execute("""
        CREATE OR REPLACE TEMP TABLE mk_people AS
        SELECT r.row,
               g.first AS fn, g.first_mp AS fn_mp, g.first_ny AS fn_ny,
               f.joined AS sn, f.joined_mp AS sn_mp, f.joined_ny AS sn_ny,
               d.dob, p.pc,
               nullif(regexp_extract(l1.line, '[0-9]+'), '') AS st_no,
               coalesce(l.norm, ln.norm) AS loc
        FROM mk_raw r
        LEFT JOIN mk_names g ON g.raw = r.given_names
        LEFT JOIN mk_names f ON f.raw = r.family_name
        LEFT JOIN mk_dates d ON d.raw = CAST(r.dob AS VARCHAR)
        LEFT JOIN mk_postcodes p ON p.raw = r.postcode
        LEFT JOIN mk_names l ON l.raw = r.locality
        LEFT JOIN mk_lines l1 ON l1.row = r.row AND l1.i = 1
        LEFT JOIN mk_lines lz ON lz.row = r.row AND lz.i = lz.n AND lz.n > 1
        LEFT JOIN mk_names ln ON ln.raw = lz.line
    """)
    # streets: every address line but the last (the locality) when there are several
    con.execute("""
        CREATE OR REPLACE TEMP TABLE mk_streets AS
        SELECT DISTINCT p.*, s.norm AS street
        FROM mk_people p JOIN mk_lines l ON l.row = p.row AND (l.i < l.n OR l.n = 1)
        JOIN mk_names s ON s.raw = l.line
        WHERE s.norm IS NOT NULL""")


def _name_dictionary(con: duckdb.DuckDBPyConnection) -> None:
    """Normalise and phonetically code each DISTINCT name (and address line) once."""
    raw = [r[0] for r in con.execute("""
        SELECT DISTINCT v FROM (
            SELECT given_names AS v FROM mk_raw UNION ALL SELECT family_name FROM mk_raw
            UNION ALL SELECT locality FROM mk_raw
            UNION ALL SELECT unnest(string_split(address, ',')) FROM mk_raw)
        WHERE v IS NOT NULL""").fetchall()]
    norm = normalise_many("name", raw)
    first = [n.split(" ", 1)[0] if n else None for n in norm]
    joined = [n.replace(" ", "") if n else None for n in norm]
    codes: dict[str, tuple[str, str]] = {}
    for w in {*first, *joined} - {None}:
        codes[w] = (jellyfish.metaphone(w), jellyfish.nysiis(w))  # type: ignore[arg-type]

    def code(words: list[str | None], i: int) -> list[str | None]:
        return [codes[w][i] or None if w else None for w in words]

    con.register("mk_names_in", pa.table({
        "raw": pa.array(raw, pa.string()), "norm": pa.array(norm, pa.string()),
        "first": pa.array(first, pa.string()), "first_mp": code(first, 0),
        "first_ny": code(first, 1), "joined": pa.array(joined, pa.string()),
        "joined_mp": code(joined, 0), "joined_ny": code(joined, 1),
        # an address line keeps its words (street names), digits dropped by the normaliser
        "first_line": pa.array(norm, pa.string())}, schema=pa.schema([
            ("raw", pa.string()), ("norm", pa.string()), ("first", pa.string()),
            ("first_mp", pa.string()), ("first_ny", pa.string()), ("joined", pa.string()),
            ("joined_mp", pa.string()), ("joined_ny", pa.string()),
            ("first_line", pa.string())])))
    con.execute("CREATE OR REPLACE TEMP TABLE mk_names AS SELECT * FROM mk_names_in")
    con.unregister("mk_names_in")


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
    return con


def _values_sql(con: duckdb.DuckDBPyConnection, persons: pa.Table | duckdb.DuckDBPyRelation,
                keys: Sequence[MatchKey]) -> str:
    """Prepare `persons` on `con`; SQL of (row, token_kind, value) for every key present."""
    names = [k.name for k in keys]
    if not names or len(set(names)) != len(names):
        raise CrossforceError(f"match keys must be a non-empty set of distinct keys: {names}")
    _prepare(con, _as_arrow(persons))
    parts = []
    for source, group in (("mk_people", [k for k in keys if "street" not in k.fields]),
                          ("mk_streets", [k for k in keys if "street" in k.fields])):
        if group:
            columns = ", ".join(f'{k.sql()} AS "{k.token_kind}"' for k in group)
            kinds = ", ".join(f'"{k.token_kind}"' for k in group)
            parts.append(f"""SELECT row, token_kind, value
                FROM (SELECT row, {columns} FROM {source})
                UNPIVOT (value FOR token_kind IN ({kinds}))""")
    return " UNION ALL ".join(parts)


def match_key_values(persons: pa.Table | duckdb.DuckDBPyRelation,
                     keys: Sequence[MatchKey] = DEFAULT_KEYS) -> pa.Table:
    """Normalised key strings: (row, token_kind, value); a key with a missing field is omitted.

    These are raw quasi-identifiers — they never leave the node; tokenise them.
    """
    con = _connect()
    try:
        sql = _values_sql(con, persons, keys)
        return con.sql(f"SELECT * FROM ({sql}) ORDER BY token_kind, row, value"
                       ).to_arrow_table()
    finally:
        con.close()


def match_key_tokens(persons: pa.Table | duckdb.DuckDBPyRelation, tokeniser: Tokeniser,
                     keys: Sequence[MatchKey] = DEFAULT_KEYS) -> pa.Table:
    """Keyed tokens of every match key: (row int64, token_kind string, token binary(16)).

    The HMAC runs inside DuckDB over all cores (`federation.tokens.token_sql`); the key
    pads are query parameters only.
    """
    con = _connect()
    try:
        sql = _values_sql(con, persons, keys)
        out = con.sql(f"""SELECT row, token_kind, {token_sql('value', 'token_kind')} AS token
                          FROM ({sql})""", params=tokeniser.sql_params()).to_arrow_table()
    finally:
        con.close()
    return out.set_column(2, "token", out.column("token").cast(pa.binary(TOKEN_BYTES)))
