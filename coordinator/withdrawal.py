"""A force withdraws what it sent: the coordinator erases it and acknowledges, signed.

``apply_withdrawal`` checks the force's signed withdrawal (federation/withdrawal.py) against
its registered key, then in ONE transaction: erases every payload of that force for the
purposes named (all, for ``*``) from every content table, re-derives entities and networks
without them, keeps the force's ledger head, writes an ``erasure`` entry (counts only,
the withdrawal's hash) and a ``combination`` entry for the re-derivation, and signs the
acknowledgement the node records. Applying the same withdrawal again changes nothing and
returns the same acknowledgement.

What stays, and why, is :data:`KEPT`: every other table must hold no row of a force that
withdrew everything (tests/coordinator/test_withdrawal.py checks it table by table from
DuckDB's catalog, so a new table cannot be forgotten).
"""

from __future__ import annotations

import datetime as dt

from coordinator.erasure import erase_payloads, force_rows, rederive
from coordinator.networks import NetworkSettings
from coordinator.registry import registered_forces
from coordinator.settings import LinkageSettings
from coordinator.store import OWNER, CoordinatorStore
from federation.checkpoint import checkpoint, record_anchor
from federation.duckdb_files import transaction
from federation.errors import CrossforceError
from federation.ledger import canonical_json
from federation.withdrawal import Acknowledgement, Withdrawal

#: tables that keep rows naming a force after it withdrew everything, and why
KEPT: dict[str, str] = {
    "ledger": "the s.62 log is append-only; its erasure entries hold counts, never content",
    "ledger_anchors": "the force's signed ledger heads: audit evidence, no content",
    "forces": "the registry: the force stays a member (its public key and epochs)",
    "submissions": "metadata of each payload (who, when, content hash, counts), marked "
                   "erased: the audit trail, no content",
    "seen_payloads": "payload ids already used, so a withdrawn payload cannot be replayed",
    "withdrawals": "the withdrawal itself and the acknowledgement sent back",
    "secure_sums": "national sums of a SecAgg+ round: no force's part was ever seen, so "
                   "none can be taken out",
    "store_migrations": "schema versions",
    "api_users": "who may call the coordinator service (a liaison's account names its "
                 "force): accounts, not data the force sent; revoke them with "
                 "`coordinator users revoke`",
}


def apply_withdrawal(store: CoordinatorStore, data: bytes, *, actor: str,
                     source: str = "withdrawal",
                     linkage: LinkageSettings | None = None,
                     networks: NetworkSettings | None = None) -> Acknowledgement:
    """Erase what the withdrawal names and return the signed acknowledgement."""
    con = store.con
    w = Withdrawal.from_bytes(data, source)
    known = registered_forces(con).get(w.force)
    if known is None:
        raise CrossforceError(f"{source}: withdrawal from {w.force!r}, which is not a "
                              "registered force; nothing was erased")
    if not w.verifies(known.public_key) or not w.head.verifies(known.public_key) \
            or w.head.owner != w.force:
        raise CrossforceError(f"{source}: the withdrawal is not signed by {w.force}'s "
                              f"registered key {known.fingerprint}; nothing was erased")
    prior = con.execute("SELECT acknowledgement FROM withdrawals WHERE withdrawal_id = ?",
                        [w.withdrawal_id]).fetchone()
    if prior is not None:
        return Acknowledgement.from_bytes(prior[0].encode(), "withdrawals table")
    with transaction(con):
        ids = [r[0] for r in con.execute(
            "SELECT payload_id FROM submissions WHERE force = $force "
            "AND ($all OR list_contains($purposes, purpose))",
            {"force": w.force, "all": w.everything, "purposes": w.purposes}).fetchall()]
        before = force_rows(con, w.force)
        erased = erase_payloads(con, ids, f"withdrawal {w.withdrawal_id}")
        derived = rederive(con, linkage, networks)
        after = force_rows(con, w.force)
        erased.update({t: max(n - after.get(t, 0), 0) for t, n in before.items()})
        record_anchor(con, w.head, w.withdrawal_id)
        ledger = store.ledger
        purpose = "all" if w.everything else ",".join(w.purposes)
        entry = ledger.append(
            "erasure", actor=actor, purpose=purpose, force=w.force,
            justification=f"withdrawal {w.withdrawal_id} from {w.force}: erased everything "
                          f"it sent for {w.describe()}", counts=erased, payload_hash=w.hash)
        if derived:
            ledger.append("combination", actor=actor, purpose=purpose,
                          justification=f"entities and networks re-derived without what "
                                        f"{w.force} withdrew ({w.withdrawal_id})",
                          counts=derived)
        ack = Acknowledgement.make(w, erased, entry.entry_hash, store.keys.signer,
                                   checkpoint(con, store.keys.signer, OWNER))
        con.execute("INSERT INTO withdrawals VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [w.withdrawal_id, w.force, w.purposes, w.hash, w.created_at,
                     dt.datetime.now(dt.UTC).replace(tzinfo=None),
                     canonical_json(erased).decode(), ack.to_bytes().decode()])
    return ack
