"""The coordinator store while `crossforce coordinator serve` runs: one owner, many readers.

DuckDB lets one process open the file (DESIGN.md §12), so the service is its only owner
while it runs, and everything goes through it:

- **reads** run on a cursor per thread; DuckDB's MVCC gives each its own snapshot, so a
  read never waits for a write;
- **link** runs in one transaction on its own cursor and commits entities, networks and the
  read-side views (views.py) at once: readers see the old set until the commit, then the
  new one — a long link never blocks them. Its ledger entry (combination) is appended right
  after the commit: the ledger is a hash chain, and an entry written inside a transaction
  opened before other entries were appended would fork it;
- **ledger entries** of requests are *group-committed* (serve_journal.py): each request
  queues its entry and its answer waits until a writer thread has journaled it with
  whatever else was queued (one fsync of an append-only file for many concurrent
  requests), so every answer is logged before it is sent; the entries reach the ledger
  table in larger batches off the request path, and before any reader of the ledger;
- **answers** of the graph endpoints are kept per snapshot (serve_cache.py) until the next
  link, submission or secure sum commits; what a lookup can find and the network tables
  are read into memory once per snapshot (serve_lookups.py, serve_networks.py);
- **a federation round** started while the service runs hands it payloads instead of
  opening the file: `open_service` (the ServerApp's factory) finds ``DIR/service/serve.json``
  and returns a ``RemoteCoordinator`` that calls the service's internal API.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import duckdb

from coordinator.consult import check_something_to_link, link_tables, purposes
from coordinator.serve_cache import PerSnapshot, SnapshotCache
from coordinator.serve_journal import Journal, WriteLock
from coordinator.serve_lookups import LookupIndex, load_lookups
from coordinator.serve_networks import NetworkIndex
from coordinator.serve_state import INTERNAL_HEADER, internal_secret
from coordinator.service import CoordinatorStoreService
from federation.duckdb_files import transaction
from federation.errors import CrossforceError
from federation.ledger import LedgerEntry
from federation.ledger_journal import journal_dir

#: how often journaled ledger entries are folded into the table (serve_journal.py)
FOLD_ENV = "CROSSFORCE_LEDGER_FOLD_S"


def fold_seconds(environ: Mapping[str, str] = os.environ) -> float:
    from federation.flower.pulls import env_seconds

    return env_seconds(environ, FOLD_ENV, 1.0, 0.01, 3600.0)


_HEAP = threading.Lock()


def settle_heap() -> None:
    """Keep what the service holds for long out of Python's full garbage collections.

    A full collection scans every container object of the process and stops every
    thread meanwhile; with the snapshot's indexes and the app's own objects in the heap
    it took 120-330 ms, and under load it ran about twice a second (objects of requests
    in flight outlive the young generations) — the largest part of the p99. Once a
    snapshot's index is read, what is alive is frozen (``gc.freeze``: never scanned
    again), so a full collection scans only what came after (~5 ms). The next snapshot
    unfreezes and collects once (the old snapshot's objects go), then freezes again."""
    import gc

    with _HEAP:
        gc.unfreeze()
        gc.collect()
        gc.freeze()


class ServedStore(CoordinatorStoreService):
    """The service's hold on the store: the round's calls (submit, link, hits, aggregates,
    inherited — serialised on the write lock) plus per-thread readers, a link that never
    blocks readers, group-committed ledger entries (serve_journal.py) and answers kept per
    snapshot (serve_cache.py)."""

    def __init__(self, directory: Path, **kwargs: Any) -> None:
        super().__init__(Path(directory), actor="coordinator-service", **kwargs)
        self._lock = WriteLock()  # type: ignore[assignment]  # counts who wrote (journal)
        self._local = threading.local()
        self._link_lock = threading.Lock()
        self.journal = Journal(self.store.con, self.store.ledger, self._lock,
                               journal_dir(self.store.dir), fold_after_s=fold_seconds())
        self.cache = SnapshotCache()
        #: what lookups can find, and the network tables, read once per snapshot
        self.lookups: PerSnapshot[LookupIndex] = PerSnapshot(
            "lookup-index", self.cache, self.store.con.cursor, load_lookups, settle_heap)
        self.network_index: PerSnapshot[NetworkIndex] = PerSnapshot(
            "network-index", self.cache, self.store.con.cursor, NetworkIndex, settle_heap)
        self.linking = threading.Event()
        #: what the API found in place once (e.g. "linked": the read-side views exist)
        self.ready: set[str] = set()

    # -- reads
    def reader(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor (its own snapshot per statement)."""
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self.store.con.cursor()
            cur.execute("SET TimeZone = 'UTC'")
            self._local.cursor = cur
        return cur

    def writing(self) -> WriteLock:
        """Hold while writing on the store's own connection (users, the round's calls)."""
        return self._lock

    # -- the ledger, group-committed
    def record(self, **entry: Any) -> None:
        """Append one ledger entry (``Ledger.append`` keywords) and return once committed."""
        self.journal.record(entry)

    def record_later(self, **entry: Any) -> Future[LedgerEntry] | asyncio.Future[LedgerEntry]:
        """Queue one ledger entry; the future completes once it is committed — an asyncio
        future when called on the running event loop, else a thread future."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return self.journal.submit(entry)
        return self.journal.submit_soon(entry)

    def ledger_reader(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor, once every entry journaled so far is in the ledger table
        (the auditor sees every request answered before theirs)."""
        self.journal.fold_now()
        return self.reader()

    # -- writes that change what the API shows: kept answers go once each commits
    def submit(self, payload: bytes, sender: str) -> dict[str, Any]:
        try:
            return super().submit(payload, sender)
        finally:
            self.cache.bump()

    def record_secure_sum(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            return super().record_secure_sum(*args, **kwargs)
        finally:
            self.cache.bump()

    # -- link into a new snapshot
    def link(self) -> dict[str, Any]:
        return self.link_now(justification="federation round: link all held payloads")

    def link_now(self, *, actor: str | None = None, justification: str,
                 progress: Callable[[str], None] | None = None) -> dict[str, Any]:
        """Link on a cursor of its own, commit, then log the combination."""
        with self._link_lock:
            self.linking.set()
            cur = self.store.con.cursor()
            try:
                check_something_to_link(cur, self.store.dir)
                try:
                    with transaction(cur):
                        summary = link_tables(cur, linkage=self.linkage,
                                              networks=self.networks, progress=progress)
                finally:
                    self.cache.bump()
                self.record(action="combination", actor=actor or self.actor,
                            purpose=purposes(cur), justification=justification,
                            counts=summary.counts)
            finally:
                cur.close()
                self.linking.clear()
        return summary.as_dict()

    def close(self) -> None:
        self.lookups.close()
        self.network_index.close()
        self.journal.close()
        super().close()


# --------------------------------------------------------------------------- remote client

class RemoteCoordinator:
    """The CoordinatorService protocol over the running service's internal API, for a
    ServerApp on the same machine (it must not open the store the service holds)."""

    def __init__(self, directory: Path, state: Mapping[str, Any]) -> None:
        import httpx

        self.url = str(state["url"]).rstrip("/") + "/internal/v1"
        verify: Any = state.get("cafile") or True
        self._client = httpx.Client(
            headers={INTERNAL_HEADER: internal_secret(directory)}, verify=verify,
            timeout=httpx.Timeout(1800.0, connect=10.0))

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        reply = self._client.request(method, self.url + path, **kwargs)
        if reply.status_code >= 400:
            try:
                message = reply.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = reply.text[:300]
            raise CrossforceError(f"coordinator service: {message}")
        return reply

    def submit(self, payload: bytes, sender: str) -> dict[str, Any]:
        return self._call("POST", "/submit", content=payload,
                          params={"sender": sender}).json()

    def link(self) -> dict[str, Any]:
        return self._call("POST", "/link").json()

    def hits_for(self, force: str, purpose: str | None = None) -> bytes:
        params = {"force": force, **({"purpose": purpose} if purpose else {})}
        return self._call("GET", "/hits", params=params).content

    def national_aggregates(self, purpose: str) -> dict[str, Any]:
        return self._call("POST", "/aggregates", params={"purpose": purpose}).json()

    def record_secure_sum(self, purpose: str, epoch: int, cells: Any, counts: Any,
                          contributors: int) -> dict[str, Any]:
        body = {"purpose": purpose, "epoch": epoch, "cells": [list(c) for c in cells],
                "counts": [int(c) for c in counts], "contributors": contributors}
        return self._call("POST", "/secure-sum", json=body).json()

    def close(self) -> None:
        self._client.close()
