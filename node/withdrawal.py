"""A force withdraws what it sent to the coordinator, and records the acknowledgement.

``request_withdrawal`` signs a withdrawal (federation/withdrawal.py) for one purpose or for
everything, and logs it in the node's ledger as an ``erasure`` asked of the coordinator
under the withdrawal's hash, in one transaction with a ``withdrawals`` row. The file then
goes to the coordinator (``crossforce coordinator withdraw``), which erases and signs an
acknowledgement; ``record_acknowledgement`` checks that against the coordinator key this
node trusts and logs it (``collection``, same hash), keeping the coordinator's ledger head.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb

from federation.checkpoint import checkpoint, record_anchor
from federation.duckdb_files import transaction
from federation.errors import CrossforceError
from federation.keys import NodeKeys
from federation.ledger import Ledger, canonical_json
from federation.withdrawal import Acknowledgement, Withdrawal
from node.egress import RECIPIENT, actor
from node.store import coordinator_signing_key, open_store


@dataclass(frozen=True)
class Acknowledged:
    withdrawal_id: str
    erased: dict[str, int]
    status: str  # recorded | unchanged


def shared_purposes(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Purposes this node disclosed share sets for (from its own ledger)."""
    return [r[0] for r in con.execute(
        "SELECT DISTINCT purpose FROM ledger WHERE action = 'disclosure' "
        "AND list_contains(recipients, ?) ORDER BY purpose", [RECIPIENT]).fetchall()]


def request_withdrawal(node_dir: Path, out: Path, purpose: str | None = None) -> Withdrawal:
    """Sign and log a withdrawal of ``purpose`` (or of everything) and write it to ``out``."""
    if out.is_dir():
        raise CrossforceError(f"--out {out} is a folder; give a file name")
    with open_store(Path(node_dir)) as (config, con):
        shared = shared_purposes(con)
        if purpose is not None and purpose not in shared:
            raise CrossforceError(f"purpose {purpose!r}: this node never shared anything for "
                                  f"it (shared: {', '.join(shared) or 'nothing yet'})")
        keys = NodeKeys.load(config.keys_dir)
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
        try:
            with transaction(con):
                w = Withdrawal.make(config.force, [purpose] if purpose else [], keys.signer,
                                    checkpoint(con, keys.signer, config.force))
                con.execute("INSERT INTO withdrawals VALUES (?, ?, ?, ?, NULL, NULL)",
                            [w.withdrawal_id, w.purposes, w.hash,
                             dt.datetime.now(dt.UTC).replace(tzinfo=None)])
                Ledger(con, keys.signer, config.force).append(
                    "erasure", actor=actor(), purpose=purpose or "all",
                    justification=f"withdrawal {w.withdrawal_id}: asked the coordinator to "
                                  f"erase everything this force sent for {w.describe()}",
                    counts={"purposes": len(shared) if w.everything else 1},
                    recipients=[RECIPIENT], payload_hash=w.hash)
                with os.fdopen(fd, "wb") as f:
                    f.write(w.to_bytes())
            os.replace(tmp, out)
        finally:
            Path(tmp).unlink(missing_ok=True)
    return w


def record_acknowledgement(node_dir: Path, path: Path) -> Acknowledged:
    """Check the coordinator's signed acknowledgement and record it (once)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise CrossforceError(f"{path}: cannot read ({exc.strerror})") from None
    ack = Acknowledgement.from_bytes(data, str(path))
    with open_store(Path(node_dir)) as (config, con):
        key = coordinator_signing_key(config)
        head = ack.head
        if not (ack.verifies(key) and head.verifies(key) and head.owner == "coordinator"):
            raise CrossforceError(f"{path}: not signed by the coordinator key this node "
                                  "trusts; nothing was recorded")
        row = con.execute("SELECT withdrawal_hash, acknowledged_at, purposes FROM withdrawals "
                          "WHERE withdrawal_id = ?", [ack.withdrawal_id]).fetchone()
        if ack.force != config.force or row is None or row[0] != ack.withdrawal_hash:
            raise CrossforceError(f"{path}: acknowledges withdrawal {ack.withdrawal_id} of "
                                  f"{ack.force}, which this node did not send")
        if row[1] is not None:
            return Acknowledged(ack.withdrawal_id, ack.erased, "unchanged")
        keys = NodeKeys.load(config.keys_dir)
        with transaction(con):
            con.execute("UPDATE withdrawals SET acknowledged_at = ?, erased = ? "
                        "WHERE withdrawal_id = ?",
                        [dt.datetime.now(dt.UTC).replace(tzinfo=None),
                         canonical_json(ack.erased).decode(), ack.withdrawal_id])
            record_anchor(con, head, ack.withdrawal_id)
            Ledger(con, keys.signer, config.force).append(
                "collection", actor=actor(), purpose="all" if row[2] == ["*"] else
                ",".join(row[2]),
                justification=f"withdrawal {ack.withdrawal_id} acknowledged by the "
                              "coordinator (its erasure, counts only)",
                counts=ack.erased, payload_hash=ack.withdrawal_hash)
    return Acknowledged(ack.withdrawal_id, ack.erased, "recorded")
