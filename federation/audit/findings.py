"""What `audit verify` finds: one named problem per line, and the whole report."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from federation.ledger import LedgerProblem


@dataclass(frozen=True)
class Finding:
    """``side``: whose ledger or store (a force, 'coordinator', or 'Kent ↔ coordinator');
    ``kind``: changed, removed, truncated, unmatched, retention, held, key, ...; the entry
    (seq and id) when one is to blame."""

    side: str
    kind: str
    detail: str
    seq: int | None = None
    entry_id: str | None = None

    @classmethod
    def of(cls, side: str, problem: LedgerProblem) -> Finding:
        return cls(side, problem.kind, problem.detail, problem.seq, problem.entry_id)

    def __str__(self) -> str:
        where = f" entry seq {self.seq} (id {self.entry_id})" if self.seq is not None else ""
        return f"{self.side}{where}: {self.kind}: {self.detail}"


@dataclass
class AuditReport:
    """Every ledger checked, every check run, every finding; ``ok`` when none."""

    ledgers: list[dict[str, Any]] = field(default_factory=list)
    checks: dict[str, int] = field(default_factory=dict)  # check -> items checked
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def add(self, check: str, checked: int, found: list[Finding]) -> None:
        self.checks[check] = self.checks.get(check, 0) + checked
        self.findings += found

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "ledgers": self.ledgers, "checks": self.checks,
                "findings": [asdict(f) for f in self.findings]}
