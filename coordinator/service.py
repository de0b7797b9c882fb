"""The coordinator as a service the Flower ServerApp drives (DESIGN.md §10, §12).

``CoordinatorStoreService`` implements ``federation.flower.protocol.CoordinatorService``
over one coordinator folder. It owns the store while it runs (DuckDB allows one writer):
the ServerApp hands it payloads instead of opening the file itself. ``submit`` is the same
``submit_payload`` as the offline ``crossforce coordinator submit``.

Run-config for the ServerApp: ``coordinator-service = "coordinator.service:open_service"``
and ``coordinator-dir = "<DIR>"``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from coordinator.aggregates import record_secure_sum, summarise
from coordinator.consult import disclose_hits, link_store, log
from coordinator.networks import NetworkSettings
from coordinator.retention import purge_expired
from coordinator.settings import LinkageSettings
from coordinator.store import CoordinatorStore, open_existing
from coordinator.submit import submit_payload
from federation.duckdb_files import transaction
from federation.payload import DEFAULT_MAX_BYTES

ACTOR = "flower-serverapp"


class CoordinatorStoreService:
    """submit / link / hits_for / national aggregates over one coordinator folder; calls
    are serialised."""

    def __init__(self, directory: Path, *, actor: str = ACTOR,
                 linkage: LinkageSettings | None = None,
                 networks: NetworkSettings | None = None,
                 max_bytes: int = DEFAULT_MAX_BYTES, wait_s: float | None = None) -> None:
        self.store: CoordinatorStore = open_existing(Path(directory), wait_s)
        self.actor = actor
        self.linkage, self.networks = linkage, networks
        self.max_bytes = max_bytes
        self._lock = threading.Lock()

    def submit(self, payload: bytes, sender: str) -> dict[str, Any]:
        """Verify and ingest one payload from ``sender``; raises PayloadRejected to refuse."""
        with self._lock:
            receipt = submit_payload(self.store, payload, sender=sender, via="flower",
                                     actor=self.actor, max_bytes=self.max_bytes)
        return {**receipt.as_dict(), "message": receipt.message()}

    def link(self) -> dict[str, Any]:
        """Purge what is past retention (every run does), then link what is held."""
        with self._lock:
            purge_expired(self.store, actor=self.actor, relink=False)
            summary = link_store(self.store, actor=self.actor,
                                 justification="federation round: link all held payloads",
                                 linkage=self.linkage, networks=self.networks)
        return summary.as_dict()

    def hits_for(self, force: str, purpose: str | None = None) -> bytes:
        """The force's own hits (Arrow IPC file bytes) — of what it shared under
        ``purpose``, when the round names one — logged as a disclosure to it."""
        with self._lock:
            return disclose_hits(self.store, force, actor=self.actor, purpose=purpose,
                                 justification=f"federation round: hits sent to {force}"
                                 + (f" ({purpose})" if purpose else ""))

    def national_aggregates(self, purpose: str) -> dict[str, Any]:
        """Sum the forces' gated aggregate counts for ``purpose`` (round step *aggregate*);
        logged as a combination. Returns counts of cells, never their values."""
        with self._lock:
            summary = summarise(self.store.con, purpose).as_dict()
            log(self.store, "combination", actor=self.actor,
                justification=f"federation round: national aggregates for {purpose}",
                counts={k: v for k, v in summary.items() if isinstance(v, int)})
        return summary

    def record_secure_sum(self, purpose: str, epoch: int, cells: Sequence[tuple[str, str]],
                          counts: Sequence[int], contributors: int) -> dict[str, Any]:
        """Keep a SecAgg+ round's national vector (the only thing the coordinator saw)."""
        with self._lock, transaction(self.store.con):
            n = record_secure_sum(self.store.con, purpose=purpose, epoch=epoch, cells=cells,
                                  counts=counts, contributors=contributors)
            self.store.ledger.append(
                "combination", actor=self.actor, purpose=purpose,
                justification=f"federation round: secure sum of aggregates for {purpose}",
                counts={"cells": n, "contributors": contributors})
        return {"cells": n, "contributors": contributors}

    def close(self) -> None:
        with self._lock:
            self.store.close()

    def __enter__(self) -> CoordinatorStoreService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: where `crossforce coordinator run --settings FILE` leaves the round's linkage settings,
#: inside the coordinator folder (Flower's run-config only takes keys the app declares)
ROUND_LINKAGE_SETTINGS = Path("flower") / "linkage.toml"


def open_service(directory: Path) -> Any:
    """Factory for ``load_coordinator_service("coordinator.service:open_service", DIR)``;
    with the round's linkage settings when the operator set them. While `crossforce
    coordinator serve` holds the store, the round goes through the service instead (it
    links with the settings it was started with)."""
    from coordinator.serve_state import running_service
    from coordinator.served import RemoteCoordinator

    state = running_service(Path(directory))
    if state is not None:
        return RemoteCoordinator(Path(directory), state)
    path = Path(directory) / ROUND_LINKAGE_SETTINGS
    linkage = LinkageSettings.from_file(path) if path.is_file() else None
    return CoordinatorStoreService(Path(directory), linkage=linkage)
