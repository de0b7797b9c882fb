"""Hits: what the coordinator tells one force — its OWN references that are also known
elsewhere, and the names of the other forces. Never another force's references or
attributes (privacy contract §1.5); details then flow through a disclosure request.

A reference is a hit when
- its entity is also held by another force (an *entity* hit), or
- its entity is a listed member of a cross-force network (a *network* hit).

Victims (match-only references, see `graph.py`) take part in matching but stay invisible:
another force's victim reference never makes a hit for you, and never names its force;
your own victim reference gets an entity hit naming every other force that holds it, so
you can safeguard, but no network id (victims are not network members). Stop-listed hubs
(`network_hubs`, written by `find_networks`) make no entity hits: a taxi firm's number
known to every force is noise, not intelligence.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import duckdb
import pyarrow as pa
import pyarrow.ipc as ipc

from coordinator.graph import build_reference_table, check_graph_inputs, table_exists
from federation.errors import CrossforceError

HITS_SCHEMA_VERSION = "crossforce.hits/1"
REF_BYTES = 16

HIT_SCHEMA = pa.schema([
    pa.field("ref", pa.binary(REF_BYTES), nullable=False),  # the force's own opaque ref
    pa.field("kind", pa.string(), nullable=False),
    pa.field("entity_id", pa.int64(), nullable=False),
    pa.field("network_id", pa.int64()),                      # NULL: entity hit only
    pa.field("other_forces", pa.list_(pa.string()), nullable=False),  # names, sorted
    # how sure linkage is that this ref is the entity: its match probability, 1.0 for
    # exact identifier tokens
    pa.field("strength", pa.float64(), nullable=False),
    pa.field("reason", pa.string(), nullable=False),         # entity | network | entity+network
])


def hits_for_force(con: duckdb.DuckDBPyConnection, force: str) -> pa.Table:
    """The force's own references that are known to other forces or sit in a network."""
    check_graph_inputs(con, ("entities", "items"))
    _check_force(con, force)
    build_reference_table(con, "_hits_refs")
    try:
        return _hits(con, force)
    finally:
        con.execute("DROP TABLE IF EXISTS _hits_refs")


def _check_force(con: duckdb.DuckDBPyConnection, force: str) -> None:
    known = [r[0] for r in con.execute(
        "SELECT DISTINCT force FROM entities ORDER BY force").fetchall()]
    if force not in known:
        raise CrossforceError(
            f"unknown force {force!r}: the linked store holds "
            f"{', '.join(known) if known else 'no force yet (run linkage first)'}")


def _hits(con: duckdb.DuckDBPyConnection, force: str) -> pa.Table:
    """Hits of one force, from the reference table `_hits_refs` already built."""
    have_networks = table_exists(con, "network_members") and table_exists(con, "networks")
    have_hubs = table_exists(con, "network_hubs")
    members, networks = (("network_members", "networks") if have_networks else (
        "(SELECT NULL::BIGINT AS network_id, NULL::BIGINT AS entity_id WHERE false)",
        "(SELECT NULL::BIGINT AS network_id, NULL::VARCHAR[] AS forces WHERE false)"))
    hub_filter = ("m.entity_id IN (SELECT entity_id FROM network_hubs)"
                  if have_hubs else "false")
    table = con.sql(f"""
            WITH holders AS (
                -- the other forces holding each entity: openly, and at all (with victims)
                SELECT entity_id,
                       list(DISTINCT force) FILTER (WHERE force <> $force AND NOT match_only)
                           AS open_others,
                       list(DISTINCT force) FILTER (WHERE force <> $force) AS all_others
                FROM _hits_refs
                WHERE entity_id IN (SELECT entity_id FROM _hits_refs WHERE force = $force)
                GROUP BY entity_id),
            network_others AS (
                SELECT network_id, list(f) AS others
                FROM {networks}, unnest(forces) AS t(f) WHERE f <> $force GROUP BY network_id),
            mine AS (SELECT * FROM _hits_refs WHERE force = $force),
            scored AS (
                SELECT m.ref, m.kind, m.entity_id, nm.network_id,
                       CASE WHEN {hub_filter} THEN []::VARCHAR[]
                            WHEN m.match_only THEN coalesce(h.all_others, [])
                            ELSE coalesce(h.open_others, []) END AS entity_others,
                       coalesce(n.others, []) AS network_others,
                       coalesce(m.score, 1.0) AS strength
                FROM mine m JOIN holders h USING (entity_id)
                LEFT JOIN {members} nm ON nm.entity_id = m.entity_id AND NOT m.match_only
                LEFT JOIN network_others n ON n.network_id = nm.network_id)
            SELECT ref, kind, entity_id, network_id,
                   list_sort(list_distinct(list_concat(entity_others, network_others)))
                       AS other_forces,
                   strength,
                   CASE WHEN len(entity_others) > 0 AND network_id IS NOT NULL
                        THEN 'entity+network'
                        WHEN len(entity_others) > 0 THEN 'entity' ELSE 'network' END AS reason
            FROM scored
            WHERE len(entity_others) > 0 OR len(network_others) > 0
            ORDER BY entity_id, ref""", params={"force": force}).to_arrow_table()
    return _typed(table)


def _typed(table: pa.Table) -> pa.Table:
    """Cast DuckDB's output to HIT_SCHEMA (refs as fixed 16 bytes, as in the payloads)."""
    columns = []
    for f in HIT_SCHEMA:
        columns.append(table.column(f.name).cast(f.type))
    return pa.Table.from_arrays(columns, schema=HIT_SCHEMA)


def write_hits(con: duckdb.DuckDBPyConnection, out_dir: Path,
               forces: Sequence[str] | None = None,
               fmt: Literal["arrow", "json"] = "arrow") -> dict[str, Path]:
    """Write one hits file per force (`hits-<force>.arrow` or `.json`); return the paths.

    All files are written to temporary names first and renamed at the end, so a failure
    leaves no half-written hits file behind.
    """
    if fmt not in ("arrow", "json"):
        raise CrossforceError(f"unknown hits format {fmt!r}; use arrow or json")
    check_graph_inputs(con, ("entities", "items"))
    if forces is None:
        forces = [r[0] for r in con.execute(
            "SELECT DISTINCT force FROM entities ORDER BY force").fetchall()]
    slugs = [_slug(f) for f in forces]
    if len(set(slugs)) != len(slugs):
        raise CrossforceError(f"force names {list(forces)} give clashing hits file names")
    for force in forces:
        _check_force(con, force)
    build_reference_table(con, "_hits_refs")   # once for all forces
    try:
        tables = {force: _hits(con, force) for force in forces}
    finally:
        con.execute("DROP TABLE IF EXISTS _hits_refs")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    staged: list[tuple[Path, Path]] = []
    try:
        for force, table in tables.items():
            final = out_dir / f"hits-{_slug(force)}.{fmt}"
            fd, tmp_name = tempfile.mkstemp(prefix=".hits-", dir=out_dir)
            os.close(fd)
            tmp = Path(tmp_name)
            staged.append((tmp, final))
            if fmt == "arrow":
                _write_arrow(tmp, force, table)
            else:
                tmp.write_text(json.dumps(hits_as_json(force, table), indent=1) + "\n")
        for tmp, final in staged:
            os.replace(tmp, final)
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
    return {force: final for force, (_, final) in zip(tables, staged, strict=True)}


def hits_as_json(force: str, table: pa.Table) -> dict[str, object]:
    """JSON form of one force's hits; refs as lower-case hex."""
    rows = table.to_pylist()
    for row in rows:
        row["ref"] = row["ref"].hex()
    return {"schema": HITS_SCHEMA_VERSION, "force": force, "hits": rows}


def read_hits(path: Path) -> tuple[str, pa.Table]:
    """Read a hits file written by `write_hits` (either format): (force, table)."""
    path = Path(path)
    try:
        if path.suffix == ".json":
            doc = json.loads(path.read_text())
            if doc.get("schema") != HITS_SCHEMA_VERSION:
                raise CrossforceError(f"{path}: not a {HITS_SCHEMA_VERSION} hits file")
            rows = doc["hits"]
            for row in rows:
                row["ref"] = bytes.fromhex(row["ref"])
            return doc["force"], pa.Table.from_pylist(rows, schema=HIT_SCHEMA)
        with ipc.open_file(path) as reader:
            meta = reader.schema.metadata or {}
            if meta.get(b"schema") != HITS_SCHEMA_VERSION.encode():
                raise CrossforceError(f"{path}: not a {HITS_SCHEMA_VERSION} hits file")
            return meta[b"force"].decode(), reader.read_all().cast(HIT_SCHEMA)
    except (OSError, ValueError, KeyError, pa.ArrowException) as exc:
        raise CrossforceError(f"{path}: cannot read hits file: {exc}") from None


def hits_arrow_bytes(force: str, table: pa.Table) -> bytes:
    """One force's hits as an Arrow IPC file (what `read_hits` reads), force in metadata."""
    schema = table.schema.with_metadata({"schema": HITS_SCHEMA_VERSION, "force": force})
    sink = pa.BufferOutputStream()
    with ipc.new_file(sink, schema) as writer:
        writer.write_table(table.replace_schema_metadata(schema.metadata))
    return sink.getvalue().to_pybytes()


def _write_arrow(path: Path, force: str, table: pa.Table) -> None:
    path.write_bytes(hits_arrow_bytes(force, table))


def _slug(force: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", force.lower()).strip("-")
    if not slug:
        raise CrossforceError(f"force name {force!r} gives no usable file name")
    return slug

