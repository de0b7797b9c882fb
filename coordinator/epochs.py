"""Key epoch rotation at the coordinator: refuse payloads of a retired epoch and purge what
they carried.

After the key service starts epoch N (``crossforce keyservice rotate``) and a round under
N has linked, the tokens of earlier epochs are useless for linkage (they were made with a
retired key) and a liability if kept. ``retire_epochs(before=N)``, in one transaction:
every registered force accepts epoch N and later only (an older payload is refused as an
old key epoch from then on), and the rows of every current submission of an earlier
epoch are deleted — an erasure ledger entry with the counts removed per table, never
content. Entities and networks are recomputed from what is left at the next link.
"""

from __future__ import annotations

from dataclasses import dataclass

from coordinator.registry import registered_forces
from coordinator.store import CONTENT_TABLES, CoordinatorStore
from federation.duckdb_files import transaction
from federation.errors import CrossforceError


@dataclass(frozen=True)
class Retirement:
    before: int
    forces: int
    payloads: int
    removed: dict[str, int]

    def as_json(self) -> dict[str, object]:
        return {"before": self.before, "forces": self.forces, "payloads": self.payloads,
                "removed": self.removed}


def retire_epochs(store: CoordinatorStore, before: int, *,
                  actor: str = "coordinator") -> Retirement:
    """Accept only epochs >= ``before`` from now on; purge content of earlier ones."""
    if before < 2:
        raise CrossforceError("--before names the first epoch still accepted (2 or more): "
                              "epochs before it are retired")
    con = store.con
    forces = registered_forces(con)
    with transaction(con):
        for entry in forces.values():
            kept = sorted({e for e in entry.epochs if e >= before} | {before})
            if tuple(kept) != entry.epochs:
                con.execute("UPDATE forces SET epochs = ? WHERE force = ?",
                            [kept, entry.force])
        ids = [r[0] for r in con.execute(
            "SELECT payload_id FROM submissions WHERE epoch < ? AND superseded_by IS NULL",
            [before]).fetchall()]
        removed: dict[str, int] = {}
        for table in CONTENT_TABLES:
            row = con.execute(f"DELETE FROM {table} WHERE payload_id IN (SELECT unnest($ids))",
                              {"ids": ids}).fetchone()
            removed[table] = int(row[0]) if row else 0
        con.execute("UPDATE submissions SET superseded_by = $why WHERE payload_id IN "
                    "(SELECT unnest($ids))", {"why": f"retired-epoch-before-{before}",
                                               "ids": ids})
        store.ledger.append("alteration", actor=actor, purpose="registry",
                            justification=f"key epochs before {before} retired: payloads of "
                            "them are refused from now on", counts={"forces": len(forces)})
        store.ledger.append("erasure", actor=actor, purpose="retention",
                            justification=f"content of {len(ids)} payload(s) made under key "
                            f"epochs before {before} purged after the epoch-{before} round",
                            counts={"payloads": len(ids), **removed})
    return Retirement(before, len(forces), len(ids), removed)


__all__ = ["Retirement", "retire_epochs"]
