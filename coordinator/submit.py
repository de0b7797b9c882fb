"""Ingest: the ONE function that takes a node's signed payload into the national store.

Both the offline ``crossforce coordinator submit`` and the Flower ServerApp (through
``coordinator.service``) call ``submit_payload``. A payload is all in or all out: it is
verified (``federation.payload.SubmissionVerifier``: registered signer, signature, key
epoch, replay, size, schema version, content hash), re-checked against the national payload
rules (``policies.payload_rules.check_share_set`` — the very code the node's gate runs:
closed schema, random-looking 16-byte tokens, no raw-looking string, closed vocabularies,
aggregate cells only on the national layout, counts that satisfy the declared disclosure
rule), checked for consistency (every token and link names an item it carries), and written
with its ledger entry (collection) in one transaction. Any rejection raises a
``PayloadRejected`` subclass naming the reason and changes nothing.

A payload is a force's whole share set for one purpose: a later payload from the same
force for the same purpose *supersedes* the earlier one, whose rows are removed in the same
transaction (a ledger erasure entry); a payload created *before* the one it would supersede
is refused (``stale``), so an old share set can never replace a newer one. Sending the same
payload again — same id, or the same content under a new id — is a no-op that says so, once
its body has been checked against its content hash (a corrupted copy is refused, never
"already received"); a *different* payload reusing an accepted id is a replay and is
rejected.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow as pa

from coordinator.registry import registered_forces
from coordinator.store import CONTENT_TABLES, CoordinatorStore
from federation.checkpoint import Checkpoint, record_anchor
from federation.duckdb_files import transaction
from federation.keys import BadSignature, Verifier
from federation.payload import (
    CONTENT_REJECTIONS,
    DEFAULT_MAX_BYTES,
    ITEMS_SCHEMA,
    CorruptPayload,
    DuckDBReplayStore,
    OversizePayload,
    PayloadBadSignature,
    PayloadRejected,
    ReplayedPayload,
    ShareSet,
    StalePayload,
    Submission,
    SubmissionHeader,
    SubmissionVerifier,
    UnknownSigner,
)
from policies.payload_rules import check_share_set


class SenderMismatch(PayloadRejected):
    """The transport's authenticated sender is not the force the payload claims to be."""

    reason = "sender_mismatch"


class InconsistentPayload(PayloadRejected):
    """The payload verifies but its tables contradict each other (dangling or clashing refs)."""

    reason = "inconsistent"


@dataclass(frozen=True)
class SubmitReceipt:
    """What happened to one payload (counts and ids, never content)."""

    payload_id: str
    force: str
    purpose: str
    epoch: int
    content_hash: str
    counts: dict[str, int]
    duplicate_of: str | None = None  # set when nothing changed: the payload already held
    superseded: tuple[str, ...] = field(default=())

    @property
    def accepted(self) -> bool:
        return self.duplicate_of is None

    def message(self) -> str:
        """One line for a person."""
        what = (f"payload {self.payload_id} from {self.force} (purpose {self.purpose}, "
                f"epoch {self.epoch})")
        if self.duplicate_of is not None:
            same = ("" if self.duplicate_of == self.payload_id
                    else f" as payload {self.duplicate_of}")
            return f"already received {what}{same}; nothing changed"
        counts = ", ".join(f"{n:,} {name}" for name, n in self.counts.items())
        line = f"accepted {what}: {counts}"
        if self.superseded:
            line += f"; supersedes {', '.join(self.superseded)}"
        return line

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["superseded"] = list(self.superseded)
        d["accepted"] = self.accepted
        return d


def submit_payload(store: CoordinatorStore, data: bytes, *, sender: str | None = None,
                   via: str = "file", actor: str = "coordinator",
                   max_bytes: int = DEFAULT_MAX_BYTES) -> SubmitReceipt:
    """Verify one payload's bytes and ingest it with its ledger entry, all or nothing.

    ``sender`` is the force the transport authenticated (Flower node auth); when given it
    must match the force the payload is signed by.
    """
    con = store.con
    if len(data) > max_bytes:
        raise OversizePayload(f"payload is {len(data):,} bytes; the limit is {max_bytes:,}")
    sub = Submission.from_bytes(data)  # truncation, bad magic, schema version
    h = sub.header
    forces = registered_forces(con)
    if not forces:
        raise UnknownSigner(f"payload {h.payload_id} claims force {h.force!r}, but no force "
                            "is registered yet (`crossforce coordinator register`)")
    if sender is not None and sender != h.force:
        raise SenderMismatch(f"payload {h.payload_id} claims force {h.force!r} but was sent "
                             f"by {sender!r}")
    known = forces.get(h.force)
    prior = con.execute("SELECT force, content_hash FROM submissions WHERE payload_id = ?",
                        [h.payload_id]).fetchone()
    if prior is not None:
        if known is None or tuple(prior) != (h.force, h.content_hash):
            raise ReplayedPayload(f"payload id {h.payload_id} was already used by an accepted "
                                  "payload with different content; a payload id is used once")
        try:
            Verifier(known.public_key).verify(Submission.signed_bytes(data), sub.signature)
        except BadSignature:
            raise PayloadBadSignature(
                f"payload {h.payload_id}: signature does not verify under {h.force}'s "
                f"registered key {known.fingerprint}") from None
        # the signature covers the header only: the body must still match its content
        # hash before this copy may be called the payload already held
        sub.open(store.keys.encryption)
        return _receipt(h, duplicate_of=h.payload_id)

    verifier = SubmissionVerifier(
        {f: r.public_key for f, r in forces.items()},
        known.epochs if known else {e for r in forces.values() for e in r.epochs},
        replay=DuckDBReplayStore(con), max_bytes=max_bytes,
        decryption_key=store.keys.encryption)
    same = con.execute(
        "SELECT payload_id FROM submissions WHERE force = ? AND purpose = ? "
        "AND content_hash = ? AND superseded_by IS NULL", [h.force, h.purpose, h.content_hash]
    ).fetchone()
    if same is not None:  # the same share set sealed again under a new id
        check_content(verifier.verify(data, record=False).share_set, h)
        return _receipt(h, duplicate_of=same[0])

    with transaction(con):
        verified = verifier.verify(data, record=True)
        check_content(verified.share_set, h)
        _check_not_stale(store, h)
        superseded, removed = _supersede(store, h)
        counts = _insert(store, verified.share_set, h)
        con.execute(
            "INSERT INTO submissions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
            "NULL, ?, NULL)",
            [h.payload_id, h.force, h.purpose, h.epoch, h.policy_hash, h.content_hash,
             h.signer, h.created_at, dt.datetime.now(dt.UTC).replace(tzinfo=None), via,
             verified.size, h.encryption is not None, counts["items"], counts["tokens"],
             counts["links"], counts["aggregates"], h.retention_days])
        if h.ledger_head is not None:  # the node's signed ledger head (audit: truncation)
            record_anchor(con, Checkpoint.from_dict(h.ledger_head), h.payload_id)
        ledger = store.ledger
        if superseded:
            ledger.append("erasure", actor=actor, purpose=h.purpose,
                          justification=f"superseded by payload {h.payload_id}: "
                          f"{', '.join(superseded)}", counts=removed, force=h.force)
        ledger.append("collection", actor=actor, purpose=h.purpose,
                      justification=f"payload {h.payload_id} received via {via}",
                      counts=counts, payload_hash=h.content_hash,
                      policy_hash=h.policy_hash, force=h.force)
    return _receipt(h, counts=counts, superseded=tuple(superseded))


def check_content(share: ShareSet, h: SubmissionHeader) -> None:
    """The national payload rules (the node gate's own code, ``policies.payload_rules``):
    raise the rejection class of the first rule broken, naming every breach."""
    breaches = check_share_set(share)
    if breaches:
        first = breaches[0].reason
        same = [b for b in breaches if b.reason == first]
        others = sorted({b.reason for b in breaches} - {first})
        also = f" (also breaks: {', '.join(others)})" if others else ""
        raise CONTENT_REJECTIONS[first](
            f"payload {h.payload_id} from {h.force} breaks the national payload rules "
            f"[{first}]: {'; '.join(str(b) for b in same)}{also}")


def _created(h: SubmissionHeader) -> dt.datetime:
    try:
        created = dt.datetime.fromisoformat(h.created_at.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        raise CorruptPayload(f"payload {h.payload_id}: created_at {h.created_at!r} is not "
                             "an ISO 8601 UTC time") from None
    if created.tzinfo is None:
        raise CorruptPayload(f"payload {h.payload_id}: created_at has no time zone")
    return created


def _check_not_stale(store: CoordinatorStore, h: SubmissionHeader) -> None:
    """Refuse a payload created before the force's current one for this purpose."""
    created = _created(h)
    current = store.con.execute(
        "SELECT payload_id, created_at FROM submissions WHERE force = ? AND purpose = ? "
        "AND superseded_by IS NULL", [h.force, h.purpose]).fetchall()
    for payload_id, at in current:
        try:
            held = dt.datetime.fromisoformat(str(at).replace("Z", "+00:00"))
        except ValueError:
            continue
        if held.tzinfo is None:
            held = held.replace(tzinfo=dt.UTC)
        if created < held:
            raise StalePayload(
                f"payload {h.payload_id} from {h.force} was created {h.created_at}, before "
                f"payload {payload_id} ({at}) that it would supersede; an older share set "
                "never replaces a newer one — send a fresh one")


def _receipt(h: SubmissionHeader, *, duplicate_of: str | None = None,
             counts: dict[str, int] | None = None,
             superseded: tuple[str, ...] = ()) -> SubmitReceipt:
    return SubmitReceipt(h.payload_id, h.force, h.purpose, h.epoch, h.content_hash,
                         counts if counts is not None else dict(h.counts), duplicate_of,
                         superseded)


def _supersede(store: CoordinatorStore, h: SubmissionHeader) -> tuple[list[str], dict[str, int]]:
    """Remove the rows of the force's earlier payloads for this purpose."""
    con = store.con
    ids = [r[0] for r in con.execute(
        "SELECT payload_id FROM submissions WHERE force = ? AND purpose = ? "
        "AND superseded_by IS NULL ORDER BY received_at", [h.force, h.purpose]).fetchall()]
    removed: dict[str, int] = {}
    if not ids:
        return ids, removed
    for table in CONTENT_TABLES:
        row = con.execute(f"DELETE FROM {table} WHERE payload_id IN (SELECT unnest($ids))",
                          {"ids": ids}).fetchone()
        removed[table] = int(row[0]) if row else 0
    con.execute("UPDATE submissions SET superseded_by = $new, erased_at = now()::TIMESTAMP "
                "WHERE payload_id IN (SELECT unnest($ids))", {"new": h.payload_id, "ids": ids})
    return ids, removed


def _insert(store: CoordinatorStore, share: ShareSet, h: SubmissionHeader) -> dict[str, int]:
    """Check the tables against each other, then append them (inside the caller's
    transaction)."""
    con = store.con
    params = {"force": h.force, "pid": h.payload_id}
    tables = {"_in_items": share.items, "_in_tokens": share.tokens,
              "_in_links": share.links, "_in_aggregates": share.aggregates}
    for name, table in tables.items():
        con.register(name, table)
    try:
        _check_consistency(store, h)
        con.execute("""INSERT INTO items (force, ref, kind, role, match_only, payload_id)
                       SELECT $force, ref, kind, role, coalesce(role = 'victim', false), $pid
                       FROM _in_items""", params)
        for column in _attribute_columns(share.items):
            quoted = '"' + column.replace('"', '""') + '"'
            con.execute(f"""INSERT INTO item_attributes
                            SELECT $force, ref, $name, CAST({quoted} AS VARCHAR), $pid
                            FROM _in_items WHERE {quoted} IS NOT NULL""",
                        {**params, "name": column})
        con.execute("""INSERT INTO tokens (force, ref, token_kind, token, payload_id)
                       SELECT $force, ref, token_kind, token, $pid FROM _in_tokens""", params)
        con.execute("""INSERT INTO links (force, ref_a, ref_b, kind, weight, payload_id)
                       SELECT $force, ref_a, ref_b, kind, weight, $pid FROM _in_links""",
                    params)
        con.execute("""INSERT INTO aggregates (force, name, cell, count, payload_id)
                       SELECT $force, name, cell, count, $pid FROM _in_aggregates""", params)
    finally:
        for name in tables:
            con.unregister(name)
    return share.counts()


def _attribute_columns(items: pa.Table) -> list[str]:
    return [c for c in items.column_names if c not in ITEMS_SCHEMA.names]


def _check_consistency(store: CoordinatorStore, h: SubmissionHeader) -> None:
    """Every token and link must name an item of this payload; no ref twice; no ref the
    force already holds under another purpose (linkage needs (force, ref) unique)."""
    problems = store.con.execute("""
        SELECT 'items carry the same ref twice', count(*) - count(DISTINCT ref) FROM _in_items
        UNION ALL
        SELECT 'tokens name refs the payload has no item for', count(*) FROM _in_tokens
            WHERE ref NOT IN (SELECT ref FROM _in_items)
        UNION ALL
        SELECT 'links name refs the payload has no item for', count(*) FROM _in_links
            WHERE ref_a NOT IN (SELECT ref FROM _in_items)
               OR ref_b NOT IN (SELECT ref FROM _in_items)
        UNION ALL
        SELECT 'refs clash with an earlier payload from this force', count(*)
            FROM _in_items i WHERE i.ref IN (SELECT ref FROM items WHERE force = $force)
        """, {"force": h.force}).fetchall()
    bad = [f"{n:,} {what}" for what, n in problems if n]
    if bad:
        raise InconsistentPayload(f"payload {h.payload_id} from {h.force}: {'; '.join(bad)}")
