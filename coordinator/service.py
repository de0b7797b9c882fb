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
from pathlib import Path
from typing import Any

from coordinator.consult import disclose_hits, link_store
from coordinator.networks import NetworkSettings
from coordinator.settings import LinkageSettings
from coordinator.store import CoordinatorStore, open_existing
from coordinator.submit import submit_payload
from federation.payload import DEFAULT_MAX_BYTES

ACTOR = "flower-serverapp"


class CoordinatorStoreService:
    """submit / link / hits_for over one coordinator folder; calls are serialised."""

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
        with self._lock:
            summary = link_store(self.store, actor=self.actor,
                                 justification="federation round: link all held payloads",
                                 linkage=self.linkage, networks=self.networks)
        return summary.as_dict()

    def hits_for(self, force: str) -> bytes:
        """The force's own hits (Arrow IPC file bytes), logged as a disclosure to it."""
        with self._lock:
            return disclose_hits(self.store, force, actor=self.actor,
                                 justification=f"federation round: hits sent to {force}")

    def close(self) -> None:
        with self._lock:
            self.store.close()

    def __enter__(self) -> CoordinatorStoreService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_service(directory: Path) -> CoordinatorStoreService:
    """Factory for ``load_coordinator_service("coordinator.service:open_service", DIR)``."""
    return CoordinatorStoreService(Path(directory))
