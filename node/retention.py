"""Retention at the node: the private ref map and the hits received are kept no longer than
the force's policy keeps its data at the coordinator (``[retention] days``).

A ref in ``egress_refs`` is past retention when it has not left in a share set for that
many days (the coordinator has erased every payload that carried it by then); a hits batch
when it was received that long ago (its resolved rows go; the batch's hash and counts stay,
so the same batch is still known if it comes again). One ``erasure`` entry, counts only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from federation.duckdb_files import transaction
from federation.keys import NodeKeys
from federation.ledger import Ledger
from node.egress import actor, node_policy
from node.store import open_store


@dataclass(frozen=True)
class NodePurge:
    as_of: dt.datetime
    retention_days: int
    egress_refs: int
    received_hits: int
    dry_run: bool

    def as_dict(self) -> dict[str, Any]:
        return {"as_of": self.as_of.isoformat() + "Z", "retention_days": self.retention_days,
                "egress_refs": self.egress_refs, "received_hits": self.received_hits,
                "dry_run": self.dry_run}


_PAST = {
    "egress_refs": "FROM egress_refs WHERE coalesce(last_shared_at, created_at) < $cutoff",
    "received_hits": "FROM received_hits WHERE batch IN "
                     "(SELECT batch FROM hit_batches WHERE received_at < $cutoff)",
}


def purge_node(node_dir: Path, *, as_of: dt.datetime | None = None,
               dry_run: bool = False) -> NodePurge:
    """Erase (or, dry, count) what is past the policy's retention as of ``as_of``."""
    policy, source = node_policy(Path(node_dir))
    days = policy.retention.days
    when = as_of or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    params = {"cutoff": when - dt.timedelta(days=days)}
    with open_store(Path(node_dir)) as (config, con), transaction(con):
        counts = {name: int(con.execute(f"SELECT count(*) {where}", params).fetchone()[0])  # type: ignore[index]
                  for name, where in _PAST.items()}
        if not dry_run and any(counts.values()):
            for where in _PAST.values():
                con.execute(f"DELETE {where}", params)
            Ledger(con, NodeKeys.load(config.keys_dir).signer, config.force).append(
                "erasure", actor=actor(), purpose=policy.purpose.code,
                justification=f"retention: refs not shared and hits received more than "
                              f"{days} days ago ({source})", counts=counts)
    return NodePurge(when, days, counts["egress_refs"], counts["received_hits"], dry_run)
