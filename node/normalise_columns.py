"""Normalised columns beside raw ones, computed once per DISTINCT raw value.

Extractions repeat the same numbers millions of times, so ingest pulls the distinct raw
values out of DuckDB, runs the project's one normaliser over them
(federation.normalise), and joins the small map back in SQL. Values the normaliser gives
up on stay raw with a NULL normalised form: they are counted, never tokenised.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from federation.normalise import normalise_handle, normalise_many
from node.sources import ident

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


def _kind(kind: str) -> Callable[[Rows], list[str | None]]:
    return lambda rows: normalise_many(kind, [r[0] for r in rows])


def _full_name(rows: Rows) -> list[str | None]:
    return normalise_many("name", [" ".join(p for p in r if p) or None for r in rows])


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
    "devices": (NormColumn("imei_norm", ("imei",), _kind("imei")),
                NormColumn("owner_number_e164", ("owner_number",), _kind("phone"))),
    "calls": (NormColumn("number_e164", ("number",), _kind("phone"),
                         flag="number_normalised"),),
    "messages": (NormColumn("number_e164", ("number",), _kind("phone"),
                            flag="number_normalised"),),
    "contacts": (NormColumn("number_e164", ("number",), _kind("phone"),
                            flag="number_normalised"),),
}


@dataclass
class PendingMap:
    """Distinct raw values of one NormColumn and their normalised forms, being computed."""

    spec: NormColumn
    distinct: Rows
    norms: Future[list[str | None]]


def start_normalising(con: duckdb.DuckDBPyConnection, table: str, staging: str,
                      present: Sequence[str], pool: ThreadPoolExecutor) -> list[PendingMap]:
    """Pull distinct raw values now; normalise them on ``pool`` while DuckDB validates.

    The normaliser is Python and DuckDB releases the GIL while it runs a query, so the two
    overlap instead of adding up.
    """
    pending = []
    for spec in NORM_COLUMNS.get(table, ()):
        raw = [f"{ident(c)}::VARCHAR" if c in present else "NULL::VARCHAR" for c in spec.raw]
        distinct = [r for r in con.execute(
            f"SELECT DISTINCT {', '.join(raw)} FROM {staging}").fetchall()
            if any(v is not None for v in r)]
        pending.append(PendingMap(spec, distinct, pool.submit(spec.compute, distinct)))
    return pending


def insert_normalised(con: duckdb.DuckDBPyConnection, table: str, staging: str,
                      present: Sequence[str], source_file: int,
                      pending: list[PendingMap] | None = None) -> tuple[int, int]:
    """INSERT the staged rows with their normalised columns; return (rows, kept raw)."""
    if pending is None:
        with ThreadPoolExecutor(1) as pool:
            pending = start_normalising(con, table, staging, present, pool)
    cols = list(present)
    select = [f"s.{ident(c)}" for c in cols]
    joins: list[str] = []
    unnormalised_sql: list[str] = []
    views = []
    for n, p in enumerate(pending):
        spec, alias, view = p.spec, f"m{n}", f"normmap_{table}_{n}"
        arrays = {f"r{i}": pa.array([r[i] for r in p.distinct], pa.string())
                  for i in range(len(spec.raw))}
        arrays["norm"] = pa.array(p.norms.result(), pa.string())
        con.register(view, pa.table(arrays))
        views.append(view)
        if len(spec.raw) == 1:  # NULL raw never matches, and needs no match
            on = f"{alias}.r0 = s.{ident(spec.raw[0])}::VARCHAR" if spec.raw[0] in present \
                else "false"
        else:
            on = " AND ".join(
                f"{alias}.r{i} IS NOT DISTINCT FROM "
                + (f"s.{ident(c)}::VARCHAR" if c in present else "NULL::VARCHAR")
                for i, c in enumerate(spec.raw))
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
