"""Hits: what the coordinator tells one force — its OWN references that are also known
elsewhere, and the names of the other forces. Never another force's references or
attributes (privacy contract §1.5); details then flow through a disclosure request.

A reference is a hit when
- its entity is also held by another force (an *entity* hit), or
- its entity is a listed member of a cross-force network (a *network* hit).

Victims (match-only references, see `graph.py`) take part in matching but stay invisible:
another force's victim reference never makes a hit for you and never names its force —
not for your suspects' records, and not for your own victims' either: a hit on your
victim reference names only the forces that hold the same entity *openly* (as a suspect's
phone, a contact, …), so no force can mark a number as its victim's and learn which
forces hold it as theirs. Victim references get no network id (victims are not network
members). Every time a force's victim references are looked up, the count goes to the
coordinator's ledger (``ledger=``), so governance can see who asks about victims and how
often. Stop-listed hubs (`network_hubs`, written by `find_networks`) make no entity hits:
a taxi firm's number known to every force is noise, not intelligence.

Hits leave the coordinator signed (``signer=``): ``sign_hits`` wraps the Arrow or JSON
bytes in an envelope naming the force, the body's SHA-256 and the coordinator's signing
key, signed with it; a node refuses hits that are not (node/hits.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
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
from federation.checkpoint import Checkpoint
from federation.errors import CrossforceError
from federation.keys import Signer
from federation.ledger import Ledger, canonical_json

HITS_SCHEMA_VERSION = "crossforce.hits/1"
REF_BYTES = 16
#: signed hits: MAGIC, the header (canonical JSON) line, the signature (hex) line, the body
HITS_ENVELOPE_MAGIC = b"CFHITS1\n"
HITS_ENVELOPE_VERSION = "crossforce.signed-hits/1"

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


def hits_for_force(con: duckdb.DuckDBPyConnection, force: str, *,
                   ledger: Ledger | None = None, actor: str = "coordinator",
                   purpose: str | None = None) -> pa.Table:
    """The force's own references that are known to other forces or sit in a network;
    with ``purpose``, only references it shared under that purpose (a round's hits).

    With ``ledger``, the lookup of the force's victim references is counted there (one
    consultation entry: how many victim references were looked up, how many hit)."""
    check_graph_inputs(con, ("entities", "items"))
    _check_force(con, force)
    build_reference_table(con, "_hits_refs")
    try:
        table = _hits(con, force, purpose)
        if ledger is not None:
            _log_victim_lookups(con, ledger, force, table, actor)
        return table
    finally:
        con.execute("DROP TABLE IF EXISTS _hits_refs")


def victim_lookups(con: duckdb.DuckDBPyConnection, force: str, table: pa.Table
                   ) -> dict[str, int]:
    """How many of the force's victim (match-only) references a hits lookup covered, and
    how many of them got a hit (from `_hits_refs`, already built)."""
    ((looked_up,),) = con.execute(
        "SELECT count(*) FROM _hits_refs WHERE force = ? AND match_only", [force]).fetchall()
    con.register("_hits_out", table.select(["ref"]))
    try:
        ((hit,),) = con.execute(
            "SELECT count(*) FROM _hits_out h JOIN _hits_refs r ON r.ref = h.ref "
            "AND r.force = ? AND r.match_only", [force]).fetchall()
    finally:
        con.unregister("_hits_out")
    return {"victim_lookups": int(looked_up), "victim_hits": int(hit)}


def _log_victim_lookups(con: duckdb.DuckDBPyConnection, ledger: Ledger, force: str,
                        table: pa.Table, actor: str) -> None:
    counts = victim_lookups(con, force, table)
    if not counts["victim_lookups"]:
        return
    ledger.append("consultation", actor=actor, purpose="hits",
                  justification=f"hits for {force}: its victim references looked up "
                                "against every force (named only where held openly)",
                  counts=counts, force=force, recipients=(force,))


def _check_force(con: duckdb.DuckDBPyConnection, force: str) -> None:
    known = [r[0] for r in con.execute(
        "SELECT DISTINCT force FROM entities ORDER BY force").fetchall()]
    if force not in known:
        raise CrossforceError(
            f"unknown force {force!r}: the linked store holds "
            f"{', '.join(known) if known else 'no force yet (run linkage first)'}")


def _hits(con: duckdb.DuckDBPyConnection, force: str, purpose: str | None = None) -> pa.Table:
    """Hits of one force, from the reference table `_hits_refs` already built; with
    ``purpose``, of the references it shared under that purpose only."""
    have_networks = table_exists(con, "network_members") and table_exists(con, "networks")
    have_hubs = table_exists(con, "network_hubs")
    members, networks = (("network_members", "networks") if have_networks else (
        "(SELECT NULL::BIGINT AS network_id, NULL::BIGINT AS entity_id WHERE false)",
        "(SELECT NULL::BIGINT AS network_id, NULL::VARCHAR[] AS forces WHERE false)"))
    hub_filter = ("m.entity_id IN (SELECT entity_id FROM network_hubs)"
                  if have_hubs else "false")
    of_purpose = ("""AND ref IN (SELECT i.ref FROM items i JOIN submissions s USING (payload_id)
                                WHERE i.force = $force AND s.purpose = $purpose)"""
                  if purpose is not None else "")
    table = con.sql(f"""
            WITH holders AS (
                -- the other forces holding each entity openly (not only as a victim's)
                SELECT entity_id,
                       list(DISTINCT force) FILTER (WHERE force <> $force AND NOT match_only)
                           AS open_others
                FROM _hits_refs
                WHERE entity_id IN (SELECT entity_id FROM _hits_refs WHERE force = $force)
                GROUP BY entity_id),
            network_others AS (
                SELECT network_id, list(f) AS others
                FROM {networks}, unnest(forces) AS t(f) WHERE f <> $force GROUP BY network_id),
            mine AS (SELECT * FROM _hits_refs WHERE force = $force {of_purpose}),
            scored AS (
                SELECT m.ref, m.kind, m.entity_id, nm.network_id,
                       -- only forces holding the entity openly are ever named: a force
                       -- holding it only as a victim's stays unnamed, even to a force that
                       -- holds it as a victim too (else any force could mark a number as
                       -- its victim's and learn who holds it)
                       CASE WHEN {hub_filter} THEN []::VARCHAR[]
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
            ORDER BY entity_id, ref""",
                    params={"force": force, **({"purpose": purpose} if purpose else {})}
                    ).to_arrow_table()
    return _typed(table)


def _typed(table: pa.Table) -> pa.Table:
    """Cast DuckDB's output to HIT_SCHEMA (refs as fixed 16 bytes, as in the payloads)."""
    columns = []
    for f in HIT_SCHEMA:
        columns.append(table.column(f.name).cast(f.type))
    return pa.Table.from_arrays(columns, schema=HIT_SCHEMA)


def write_hits(con: duckdb.DuckDBPyConnection, out_dir: Path,
               forces: Sequence[str] | None = None,
               fmt: Literal["arrow", "json"] = "arrow", *, signer: Signer | None = None,
               ledger: Ledger | None = None) -> dict[str, Path]:
    """Write one hits file per force (`hits-<force>.arrow` or `.json`); return the paths.

    With ``signer`` each file is a signed envelope (``sign_hits``) — what a node accepts.
    With ``ledger`` each force's victim lookups are counted there.
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
        if ledger is not None:
            for force, table in tables.items():
                _log_victim_lookups(con, ledger, force, table, "coordinator")
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
            data = (hits_arrow_bytes(force, table) if fmt == "arrow" else
                    (json.dumps(hits_as_json(force, table), indent=1) + "\n").encode())
            tmp.write_bytes(sign_hits(data, force, signer) if signer is not None else data)
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


def sign_hits(data: bytes, force: str, signer: Signer,
              ledger_head: Checkpoint | None = None) -> bytes:
    """Hits bytes (Arrow or JSON) for ``force`` in a signed envelope:
    ``MAGIC``, one header line (canonical JSON: version, force, body SHA-256, signing key
    fingerprint, time and, when given, the coordinator's signed ledger head, which the node
    keeps), one line with the Ed25519 signature (hex) over MAGIC and that header line, then
    the body unchanged. The SHA-256 of the whole envelope is the batch hash both ledgers
    record."""
    fields = {
        "version": HITS_ENVELOPE_VERSION, "force": force,
        "body_sha256": hashlib.sha256(data).hexdigest(), "signer": signer.fingerprint,
        "signed_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    if ledger_head is not None:
        fields["ledger_head"] = ledger_head.as_dict()
    header = canonical_json(fields)
    signature = signer.sign(HITS_ENVELOPE_MAGIC + header)
    return HITS_ENVELOPE_MAGIC + header + b"\n" + signature.hex().encode() + b"\n" + data


def _unwrap(data: bytes, path: Path) -> bytes:
    """The body of a signed hits envelope (signature not checked here: the node does)."""
    if not data.startswith(HITS_ENVELOPE_MAGIC):
        return data
    parts = data[len(HITS_ENVELOPE_MAGIC):].split(b"\n", 2)
    if len(parts) != 3:
        raise CrossforceError(f"{path}: truncated signed hits envelope")
    return parts[2]


def read_hits(path: Path) -> tuple[str, pa.Table]:
    """Read a hits file written by `write_hits` (either format, signed or not):
    (force, table)."""
    path = Path(path)
    try:
        raw = _unwrap(path.read_bytes(), path)
        if path.suffix == ".json":
            doc = json.loads(raw)
            if doc.get("schema") != HITS_SCHEMA_VERSION:
                raise CrossforceError(f"{path}: not a {HITS_SCHEMA_VERSION} hits file")
            rows = doc["hits"]
            for row in rows:
                row["ref"] = bytes.fromhex(row["ref"])
            return doc["force"], pa.Table.from_pylist(rows, schema=HIT_SCHEMA)
        with ipc.open_file(pa.py_buffer(raw)) as reader:
            meta = reader.schema.metadata or {}
            if meta.get(b"schema") != HITS_SCHEMA_VERSION.encode():
                raise CrossforceError(f"{path}: not a {HITS_SCHEMA_VERSION} hits file")
            return meta[b"force"].decode(), reader.read_all().cast(HIT_SCHEMA)
    except (OSError, ValueError, KeyError, pa.ArrowException) as exc:
        raise CrossforceError(f"{path}: cannot read hits file: {exc}") from None


def hits_arrow_bytes(force: str, table: pa.Table, signer: Signer | None = None,
                     ledger_head: Checkpoint | None = None) -> bytes:
    """One force's hits as an Arrow IPC file (what `read_hits` reads), force in metadata;
    with ``signer``, in a signed envelope (``sign_hits``) — the form a node accepts."""
    schema = table.schema.with_metadata({"schema": HITS_SCHEMA_VERSION, "force": force})
    sink = pa.BufferOutputStream()
    with ipc.new_file(sink, schema) as writer:
        writer.write_table(table.replace_schema_metadata(schema.metadata))
    data = sink.getvalue().to_pybytes()
    return sign_hits(data, force, signer, ledger_head) if signer is not None else data


def _write_arrow(path: Path, force: str, table: pa.Table,
                 signer: Signer | None = None) -> None:
    path.write_bytes(hits_arrow_bytes(force, table, signer))


def _slug(force: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", force.lower()).strip("-")
    if not slug:
        raise CrossforceError(f"force name {force!r} gives no usable file name")
    return slug

