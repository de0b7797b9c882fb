"""The party columns of a layout calls, messages or contacts file, written by its INSERT.

An extraction's parties are finished after their rows are in the store
(``node.extraction.load.finish_parties``: an UPDATE pass). A layout file's are known
before its rows are written: a number the phone map read as E.164 is a phone and that is
its normalised form; only the numbers it could not read (words, e-mail addresses, app ids,
invalid numbers) go through ``kind_of``/``normalise_party``, each distinct (value, device
region, app) once. So the INSERT writes the kind, normalised form and number flag itself
and no second pass rewrites 10 million rows. The values are the ones ``finish_parties``
gives (a test runs it over a loaded file and finds nothing to change).

A phone read as ``number_e164`` is stored once (migration 9): ``party_kind``/``party_norm``
(contacts: ``entry_kind``/``entry_norm``) are generated from ``number_e164`` and the
stored ``kind_stored``/``norm_stored``, which the INSERT fills only for the other parties.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from node.extraction.parties import kind_of, normalise_party, number_flag_sql
from node.sources import ident

#: per layout table: the app column of its party
PARTY_COLUMNS = {"calls": "app", "messages": "app", "contacts": "source_app"}
#: the stored kind and form of a party that is not a phone read as E.164 (migration 9)
STORED = ("kind_stored", "norm_stored")


@dataclass
class PartyInsert:
    """What the INSERT of one file adds for its parties: columns, their SQL, one join."""

    columns: list[str]
    select: list[str]
    join: str
    view: str


def party_insert(con: duckdb.DuckDBPyConnection, table: str, staging: str,
                 present: Sequence[str], numbers: str, alias: str, context_joins: str,
                 region: str) -> PartyInsert | None:
    """The party columns of ``table``'s INSERT from ``staging`` (alias ``s``).

    ``numbers`` is the registered phone map (``r0`` number, ``r1`` region, ``norm``)
    joined as ``alias``; ``region`` the SQL of the row's device region under
    ``context_joins``. None for a table without parties or a file without numbers.
    """
    if table not in PARTY_COLUMNS or "number" not in present:
        return None
    app_col = PARTY_COLUMNS[table]
    app = f"s.{ident(app_col)}" if app_col in present else "NULL::VARCHAR"
    rest = con.execute(f"""
        SELECT DISTINCT s.number, {region}, {app} FROM {staging} s {context_joins}
        JOIN (SELECT r0, r1 FROM {numbers} WHERE norm IS NULL) u
          ON u.r0 = s.number AND u.r1 IS NOT DISTINCT FROM {region}""").fetchall()
    kinds = [kind_of(v, None, a) for v, _, a in rest]
    # a phone here is one the phone map could not read in that region: it stays raw
    norms = [None if k == "phone" else normalise_party(k, v, r, a)
             for k, (v, r, a) in zip(kinds, rest, strict=True)]
    view = f"partymap_{table}"
    con.register(view, pa.table({
        "v": pa.array([r[0] for r in rest], pa.string()),
        "r": pa.array([r[1] for r in rest], pa.string()),
        "a": pa.array([r[2] for r in rest], pa.string()),
        "kind": pa.array(kinds, pa.string()), "norm": pa.array(norms, pa.string())}))
    join = (f"LEFT JOIN {view} p ON p.v = s.number AND p.r IS NOT DISTINCT FROM {region} "
            f"AND p.a IS NOT DISTINCT FROM {app}")
    flag = number_flag_sql("s.number", f"{alias}.norm", region)
    return PartyInsert(
        [*STORED, "number_flag"],
        [f"CASE WHEN {alias}.norm IS NULL THEN p.kind END",
         f"CASE WHEN {alias}.norm IS NULL THEN p.norm END",
         f"CASE WHEN coalesce(p.kind, 'phone') = 'phone' THEN {flag} END"],
        join, view)


def number_flags(con: duckdb.DuckDBPyConnection, table: str, file_id: int
                 ) -> dict[str, int]:
    """Why the file's numbers stayed raw: NUMBER_FLAGS code → rows (for the load report)."""
    return {str(f): int(n) for f, n in con.execute(
        f"SELECT number_flag, count(*) FROM {table} WHERE source_file = ? AND number_flag "
        "IS NOT NULL GROUP BY 1 ORDER BY 1", [file_id]).fetchall()}
