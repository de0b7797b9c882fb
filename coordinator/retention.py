"""Retention at the coordinator: a payload is kept for the days its force's policy set.

Every submission declares ``retention_days`` (the force's policy ``[retention] days``, in
the signed header). ``purge_expired`` erases every payload still held whose received time
plus those days has passed — at every federation round (``CoordinatorStoreService.link``)
and on ``crossforce coordinator purge`` — with one ``erasure`` entry per force and purpose
(counts only), then re-derives entities and networks. A payload that declared no period is
kept until superseded or withdrawn, and ``expired`` lists nothing for it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import duckdb

from coordinator.erasure import erase_payloads, rederive
from coordinator.networks import NetworkSettings
from coordinator.settings import LinkageSettings
from coordinator.store import CoordinatorStore
from federation.duckdb_files import transaction


@dataclass
class PurgeResult:
    """What a purge erased (or, dry, would erase): per force and purpose, counts only."""

    as_of: dt.datetime
    dry_run: bool
    erased: list[dict[str, Any]] = field(default_factory=list)
    derived: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"as_of": self.as_of.isoformat() + "Z", "dry_run": self.dry_run,
                "erased": self.erased, "derived": self.derived}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def expired(con: duckdb.DuckDBPyConnection, as_of: dt.datetime | None = None
            ) -> list[tuple[str, str, int, list[str]]]:
    """(force, purpose, retention days, payload ids) of content held past its retention."""
    rows = con.execute("""
        SELECT force, purpose, max(retention_days), list(payload_id ORDER BY payload_id)
        FROM submissions
        WHERE superseded_by IS NULL AND retention_days IS NOT NULL
          AND received_at + to_days(retention_days) < $as_of
        GROUP BY force, purpose ORDER BY force, purpose""",
                       {"as_of": as_of or _now()}).fetchall()
    return [(f, p, int(d), list(ids)) for f, p, d, ids in rows]


def purge_expired(store: CoordinatorStore, *, actor: str, as_of: dt.datetime | None = None,
                  dry_run: bool = False, relink: bool = True,
                  linkage: LinkageSettings | None = None,
                  networks: NetworkSettings | None = None) -> PurgeResult:
    """Erase what is past retention, logged per force and purpose; ``relink=False`` when
    the caller links right after (a round does)."""
    when = as_of or _now()
    result = PurgeResult(when, dry_run)
    con = store.con
    due = expired(con, when)
    if dry_run or not due:
        result.erased = [{"force": f, "purpose": p, "retention_days": d, "payloads": len(ids)}
                         for f, p, d, ids in due]
        return result
    with transaction(con):
        ledger = store.ledger
        for force, purpose, days, ids in due:
            erased = erase_payloads(con, ids, "retention")
            ledger.append("erasure", actor=actor, purpose=purpose, force=force,
                          justification=f"retention: held past the {days} days of "
                                        f"{force}'s policy", counts=erased)
            result.erased.append({"force": force, "purpose": purpose,
                                  "retention_days": days, **erased})
        if relink:
            result.derived = rederive(con, linkage, networks)
            if result.derived:
                ledger.append("combination", actor=actor, purpose="retention",
                              justification="entities and networks re-derived without the "
                                            "data past retention", counts=result.derived)
    return result
