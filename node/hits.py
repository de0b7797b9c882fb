"""Hits: resolve the coordinator's answer to this force's own records.

The coordinator answers with the force's *own* opaque refs only (privacy contract §1.5),
each with a national entity id, a network id, the other forces involved and a strength.
The node looks each ref up in its private map ``egress_refs`` and records the hit against
its own record — a person id, or a normalised identifier and the persons who hold it — in
``received_hits``. A hits batch is known by its SHA-256: receiving the same batch twice
adds nothing. Every batch received is a ledger entry (collection: counts, never content).

Accepted forms: the Arrow IPC file or JSON that ``coordinator hits`` writes
(``crossforce.hits/1``), or the same table as an Arrow IPC stream (the Flower message) —
each only inside the coordinator's signed envelope (``CFHITS1``, see coordinator/hits.py):
the signature must verify under the coordinator signing key kept in the node's keys
folder (``keys/coordinator.json``), and the envelope must name this force. Unsigned,
forged or misaddressed hits are refused before anything is read or recorded.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.ipc as ipc

from federation.checkpoint import Checkpoint, record_anchor
from federation.duckdb_files import transaction
from federation.errors import CrossforceError
from federation.keys import BadSignature, NodeKeys, Verifier
from federation.ledger import Ledger
from node.egress import actor
from node.store import NodeConfig, coordinator_signing_key, open_store

HITS_SCHEMA_VERSION = "crossforce.hits/1"
REF_BYTES = 16
#: the coordinator's signed envelope (coordinator/hits.py ``sign_hits``)
HITS_ENVELOPE_MAGIC = b"CFHITS1\n"
HITS_ENVELOPE_VERSION = "crossforce.signed-hits/1"
_MAX_ENVELOPE_HEADER = 4096
#: columns a hits table must have (the coordinator's HIT_SCHEMA, read by name)
HIT_COLUMNS: dict[str, pa.DataType] = {
    "ref": pa.binary(), "kind": pa.string(), "entity_id": pa.int64(),
    "network_id": pa.int64(), "other_forces": pa.list_(pa.string()),
    "strength": pa.float64(), "reason": pa.string(),
}


class BadHits(CrossforceError):
    """A hits file or message that cannot be read or is not for this force."""


@dataclass(frozen=True)
class HitsReceipt:
    """What receiving one hits batch did: counts (safe to send back) and the resolved rows
    (local only)."""

    batch: str              # SHA-256 of the bytes received
    force: str | None       # force named in the hits, if any
    status: str             # recorded | unchanged
    hits: int
    resolved: int
    unknown_refs: int
    persons: int
    identifiers: int
    entities: int
    networks: int
    other_forces: list[str]
    rows: list[dict[str, Any]]

    def receipt(self) -> dict[str, Any]:
        """Counts only — what goes back to the coordinator."""
        return {"batch": self.batch, "status": self.status, "hits": self.hits,
                "resolved": self.resolved, "unknown_refs": self.unknown_refs}

    def as_json(self) -> dict[str, Any]:
        return {**self.receipt(), "force": self.force, "persons": self.persons,
                "identifiers": self.identifiers, "entities": self.entities,
                "networks": self.networks, "other_forces": self.other_forces,
                "rows": self.rows}


# --------------------------------------------------------------------------- reading


def open_signed_hits(data: bytes, coordinator_key: bytes, force: str,
                     source: str = "hits") -> bytes:
    """The body of the coordinator's signed hits envelope for ``force``; ``BadHits`` if
    the hits are unsigned, the signature does not verify under ``coordinator_key``, the
    body was changed, or the hits are for another force."""
    if not data.startswith(HITS_ENVELOPE_MAGIC):
        raise BadHits(f"{source}: these hits are not signed by the coordinator; nothing "
                      "was recorded")
    rest = data[len(HITS_ENVELOPE_MAGIC):]
    header, _, rest = rest.partition(b"\n")
    signature, newline, body = rest.partition(b"\n")
    if not newline or len(header) > _MAX_ENVELOPE_HEADER or len(signature) != 128:
        raise BadHits(f"{source}: malformed signed hits envelope; nothing was recorded")
    try:
        Verifier(coordinator_key).verify(HITS_ENVELOPE_MAGIC + header,
                                         bytes.fromhex(signature.decode("ascii")))
    except (BadSignature, ValueError, UnicodeDecodeError):
        raise BadHits(f"{source}: the hits' signature does not verify under the "
                      f"coordinator key {Verifier(coordinator_key).fingerprint} (forged or "
                      "altered); nothing was recorded") from None
    try:
        meta = json.loads(header)
        version, named, digest = meta["version"], meta["force"], meta["body_sha256"]
    except (ValueError, KeyError, TypeError):
        raise BadHits(f"{source}: unreadable signed hits header; nothing was "
                      "recorded") from None
    if version != HITS_ENVELOPE_VERSION:
        raise BadHits(f"{source}: signed hits version {version!r} is not "
                      f"{HITS_ENVELOPE_VERSION}; nothing was recorded")
    if named != force:
        raise BadHits(f"{source}: these hits are signed for {named!r}, not this node's "
                      f"force {force!r}; nothing was recorded")
    if hashlib.sha256(body).hexdigest() != digest:
        raise BadHits(f"{source}: the hits body does not match its signed hash (altered "
                      "after signing); nothing was recorded")
    return body


def signed_hits_head(data: bytes, source: str = "hits") -> Checkpoint | None:
    """The coordinator's ledger head in a signed hits envelope (check the envelope with
    ``open_signed_hits`` first), or None when it carries none."""
    header = data[len(HITS_ENVELOPE_MAGIC):].partition(b"\n")[0]
    try:
        raw = json.loads(header).get("ledger_head")
    except (ValueError, AttributeError):
        return None
    if raw is None:
        return None
    try:
        return Checkpoint.from_dict(raw, source)
    except CrossforceError as exc:
        raise BadHits(f"{exc}; nothing was recorded") from None


def read_hits_bytes(data: bytes, source: str = "hits") -> tuple[str | None, pa.Table]:
    """(force named in the hits or None, table) from Arrow IPC file/stream or JSON bytes."""
    force: str | None = None
    try:
        if data[:6] == b"ARROW1":
            reader = ipc.open_file(pa.py_buffer(data))
            table, meta = reader.read_all(), reader.schema.metadata or {}
        elif data.lstrip()[:1] == b"{":
            doc = json.loads(data)
            if not isinstance(doc, dict) or doc.get("schema") != HITS_SCHEMA_VERSION:
                raise BadHits(f"{source}: not a {HITS_SCHEMA_VERSION} hits document")
            rows = doc.get("hits")
            if not isinstance(rows, list):
                raise BadHits(f"{source}: 'hits' must be a list of hit objects")
            for i, row in enumerate(rows):
                try:
                    row["ref"] = bytes.fromhex(row["ref"])
                except (KeyError, TypeError, ValueError):
                    raise BadHits(f"{source}: hit {i + 1}: field 'ref' is not hex") from None
            table = pa.Table.from_pylist(rows) if rows else pa.schema(
                list(HIT_COLUMNS.items())).empty_table()
            meta = {b"force": str(doc.get("force", "")).encode()}
        else:
            with ipc.open_stream(io.BytesIO(data)) as reader:
                table, meta = reader.read_all(), reader.schema.metadata or {}
    except BadHits:
        raise
    except (pa.ArrowException, OSError, ValueError, TypeError, KeyError) as exc:
        raise BadHits(f"{source}: not a hits file (Arrow or JSON): {exc}") from None
    if meta.get(b"schema") not in (None, HITS_SCHEMA_VERSION.encode()):
        raise BadHits(f"{source}: hits schema {meta[b'schema']!r} is not "
                      f"{HITS_SCHEMA_VERSION}")
    force = meta.get(b"force", b"").decode() or None
    return force, _typed(table, source)


def _typed(table: pa.Table, source: str) -> pa.Table:
    missing = [c for c in ("ref", "entity_id") if c not in table.column_names]
    if missing:
        raise BadHits(f"{source}: hits table lacks column(s) {', '.join(missing)}")
    columns = {}
    for name, typ in HIT_COLUMNS.items():
        if name not in table.column_names:
            columns[name] = pa.nulls(table.num_rows, typ)
            continue
        try:
            columns[name] = table.column(name).cast(typ)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise BadHits(f"{source}: column {name} is not {typ}: {exc}") from None
    out = pa.table(columns)
    refs = out.column("ref")
    if refs.null_count:
        raise BadHits(f"{source}: {refs.null_count} hits have no ref")
    lengths = pa.compute.binary_length(refs)
    bad = pa.compute.sum(pa.compute.not_equal(lengths, REF_BYTES)).as_py() or 0
    if bad:
        raise BadHits(f"{source}: {bad} refs are not {REF_BYTES} bytes")
    if out.column("entity_id").null_count:
        raise BadHits(f"{source}: {out.column('entity_id').null_count} hits have no entity_id")
    return out


# --------------------------------------------------------------------------- resolving


def receive_hits(con: duckdb.DuckDBPyConnection, config: NodeConfig, data: bytes, *,
                 source: str = "hits", coordinator_key: bytes | None = None) -> HitsReceipt:
    """Check the coordinator's signature, then resolve and record one hits batch in one
    transaction with its ledger entry. ``coordinator_key`` defaults to the one in the
    node's keys folder."""
    key = coordinator_key
    if key is None:
        try:
            key = coordinator_signing_key(config)
        except CrossforceError:
            raise BadHits(f"{source}: this node holds no coordinator signing key to check "
                          f"hits against (copy the coordinator's keys/public.json to "
                          f"{config.coordinator_key_path.name} in the node's keys folder); "
                          "nothing was recorded") from None
    body = open_signed_hits(data, key, config.force, source)
    head = signed_hits_head(data, source)
    hits_force, table = read_hits_bytes(body, source)
    if hits_force and hits_force != config.force:
        raise BadHits(f"{source}: these hits are for {hits_force!r}, not this node's force "
                      f"{config.force!r}; nothing was recorded")
    batch = hashlib.sha256(data).hexdigest()
    keys = NodeKeys.load(config.keys_dir)
    con.execute("BEGIN TRANSACTION")
    try:
        con.register("hits_in", table)
        seen = con.execute("SELECT 1 FROM hit_batches WHERE batch = ?", [batch]).fetchone()
        con.execute("""
            CREATE OR REPLACE TEMP TABLE hits_resolved AS
            SELECT h.ref, r.purpose, r.epoch, r.kind, r.local_id,
                   CASE WHEN r.kind <> 'person' THEN (
                       SELECT list(DISTINCT person_id ORDER BY person_id) FROM (
                           SELECT person_id FROM identifiers
                           WHERE value_norm = r.local_id AND kind = r.kind
                           UNION ALL SELECT person_id FROM vehicles
                           WHERE r.kind = 'vrm' AND vrm_norm = r.local_id
                           UNION ALL SELECT person_id FROM devices
                           WHERE person_id IS NOT NULL AND (
                               (r.kind = 'imei' AND imei_norm = r.local_id)
                               OR (r.kind = 'phone' AND owner_number_e164 = r.local_id))))
                   -- a person: every record resolved into it (node/resolution)
                   ELSE coalesce((SELECT list(person_id ORDER BY person_id)
                                  FROM person_resolution WHERE local_person = r.local_id),
                                 [r.local_id])
                   END AS person_ids,
                   h.entity_id, h.network_id, h.other_forces, h.strength, h.reason
            FROM hits_in h LEFT JOIN egress_refs r ON r.ref = h.ref""")
        con.unregister("hits_in")
        receipt = _receipt(con, batch, hits_force, "unchanged" if seen else "recorded")
        if not seen:
            con.execute("""INSERT INTO received_hits
                           SELECT ?, * FROM hits_resolved WHERE local_id IS NOT NULL""",
                        [batch])
            if head is not None:  # the coordinator's ledger head (audit: truncation)
                record_anchor(con, head, batch)
            con.execute("INSERT INTO hit_batches VALUES (?, ?, ?, ?, ?, ?)",
                        [batch, dt.datetime.now(dt.UTC).replace(tzinfo=None), source,
                         receipt.hits, receipt.resolved, receipt.unknown_refs])
            Ledger(con, keys.signer, config.force).append(
                "collection", actor=actor(), purpose="hits",
                justification="hit/no-hit answer from the coordinator resolved to this "
                              "force's own records",
                counts={"hits": receipt.hits, "resolved": receipt.resolved,
                        "unknown_refs": receipt.unknown_refs, "persons": receipt.persons,
                        "identifiers": receipt.identifiers, "networks": receipt.networks},
                recipients=[], payload_hash=batch)
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        raise
    return receipt


def _receipt(con: duckdb.DuckDBPyConnection, batch: str, force: str | None,
             status: str) -> HitsReceipt:
    (hits, resolved, persons, identifiers, entities, networks, others), = con.execute("""
        SELECT count(*), count(local_id),
               count(DISTINCT local_id) FILTER (WHERE kind = 'person'),
               count(DISTINCT kind || ':' || local_id) FILTER (WHERE kind <> 'person'),
               count(DISTINCT entity_id) FILTER (WHERE local_id IS NOT NULL),
               count(DISTINCT network_id) FILTER (WHERE local_id IS NOT NULL),
               (SELECT list(DISTINCT f ORDER BY f) FROM hits_resolved, unnest(other_forces)
                AS t(f) WHERE local_id IS NOT NULL)
        FROM hits_resolved""").fetchall()
    rows = con.sql("""
        SELECT hex(ref) AS ref, kind, local_id, person_ids, entity_id, network_id,
               other_forces, strength, reason, purpose, epoch
        FROM hits_resolved WHERE local_id IS NOT NULL
        ORDER BY network_id NULLS LAST, entity_id, kind, local_id""").fetchall()
    names = ("ref", "kind", "local_id", "person_ids", "entity_id", "network_id",
             "other_forces", "strength", "reason", "purpose", "epoch")
    return HitsReceipt(batch, force, status, int(hits), int(resolved), int(hits - resolved),
                       int(persons), int(identifiers), int(entities), int(networks),
                       list(others or []), [dict(zip(names, r, strict=True)) for r in rows])


def receive_hits_file(node_dir: Path, path: Path) -> HitsReceipt:
    """Read a hits file and resolve it in the node at ``node_dir``."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CrossforceError(f"{path}: cannot read hits file: {exc}") from None
    with open_store(Path(node_dir)) as (config, con):
        return receive_hits(con, config, data, source=str(path))


def received_hits(node_dir: Path) -> HitsReceipt:
    """The latest hits batch this node received (by Flower or from a file), resolved to
    its own records — the analyst's view. Reading it is a ledger entry (consultation)."""
    with open_store(Path(node_dir)) as (config, con):
        latest = con.execute("SELECT batch, source FROM hit_batches "
                             "ORDER BY received_at DESC, batch LIMIT 1").fetchall()
        if not latest:
            raise CrossforceError(
                f"{node_dir}: no hits received yet — they arrive through `crossforce node "
                "serve` in a federation round, or from a file with `crossforce node hits "
                f"--dir {node_dir} FILE`")
        batch, source = latest[0]
        keys = NodeKeys.load(config.keys_dir)
        with transaction(con):
            con.execute("CREATE OR REPLACE TEMP TABLE hits_resolved AS "
                        "SELECT * EXCLUDE (batch) FROM received_hits WHERE batch = ?", [batch])
            receipt = _receipt(con, batch, config.force, "received")
            Ledger(con, keys.signer, config.force).append(
                "consultation", actor=actor(), purpose="hits",
                justification=f"node hits: viewed the hits batch received from {source}",
                counts={"hits": receipt.hits, "persons": receipt.persons,
                        "networks": receipt.networks})
        return receipt
