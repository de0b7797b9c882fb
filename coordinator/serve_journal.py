"""The service's ledger journal: one writer thread, group commit.

Every API request is a *consultation* ledger entry (DESIGN.md §8), and an answer may only
leave once its entry is durable. Committing one entry per request, each in its own
transaction on the store's one write connection, serialised every request behind every
other's commit. Here requests hand their entry to a queue and get a future; one writer
thread takes whatever is queued (up to ``max_batch``), appends it to the hash chain in
one INSERT that commits by itself (``Ledger.append_many``, after the head it wrote last
unless another writer took the store's lock since), then completes the futures of that
batch. So:

- **group commit**: an entry's future completes only after the transaction holding it
  committed (DuckDB writes and syncs its WAL at commit), and the API releases an answer
  only when its future completed — a crash can lose only entries of requests whose answer
  was never sent;
- the chain stays one chain: entries are appended in queue order by the one writer, under
  the store's write lock (the other writers — a submission, a user added — take it too),
  so ``audit verify`` checks them like any other;
- a refused request is queued like an answered one (its refusal waits for it too);
- one bad entry (a field the ledger refuses) fails alone: a batch that fails is retried
  entry by entry (reading the head again);
- an entry queued from the event loop (``submit_soon``) gets an asyncio future, and the
  writer settles all of a batch's futures with one call into that loop — no thread
  future, lock or wake-up per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any

import duckdb

from federation.ledger import Ledger, LedgerEntry

log = logging.getLogger("crossforce.journal")
SLOW_COMMIT_S = 0.25  # a commit slower than this is worth a line in the service's log


class WriteLock:
    """The store's write lock, counting how often it was taken: the journal keeps the head
    it appended last only while nobody else took the lock (and so wrote) since."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.taken = 0

    def __enter__(self) -> WriteLock:
        self._lock.acquire()
        self.taken += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


#: how the writer tells a request its entry is committed: a thread future, or an asyncio
#: future with the loop it belongs to
Done = Future[LedgerEntry] | tuple[asyncio.AbstractEventLoop, "asyncio.Future[LedgerEntry]"]


def _settle(outcomes: list[tuple[asyncio.Future[LedgerEntry], LedgerEntry | BaseException]]
            ) -> None:
    """On the event loop: complete a batch's futures (a request gone already is skipped)."""
    for done, outcome in outcomes:
        if done.done():
            continue
        if isinstance(outcome, BaseException):
            done.set_exception(outcome)
        else:
            done.set_result(outcome)


def _tell(items: list[tuple[Done, LedgerEntry | BaseException]]) -> None:
    """Complete thread futures at once and each loop's futures in one call into it."""
    loops: dict[asyncio.AbstractEventLoop, list[Any]] = {}
    for done, outcome in items:
        if isinstance(done, Future):
            if isinstance(outcome, BaseException):
                done.set_exception(outcome)
            else:
                done.set_result(outcome)
        else:
            loops.setdefault(done[0], []).append((done[1], outcome))
    for loop, outcomes in loops.items():
        with contextlib.suppress(RuntimeError):  # a loop closed: nobody waits any more
            loop.call_soon_threadsafe(_settle, outcomes)


class Journal:
    """Queue ledger entries; a writer thread appends and commits them in batches."""

    def __init__(self, con: duckdb.DuckDBPyConnection, ledger: Ledger,
                 lock: WriteLock, *, max_batch: int = 512,
                 on_commit: Callable[[int], None] | None = None) -> None:
        self.con, self.ledger, self.lock, self.max_batch = con, ledger, lock, max_batch
        self.on_commit = on_commit
        self.batches = self.entries = 0  # for the bench and the log: how well it groups
        self._head: LedgerEntry | None = None  # the last entry this journal appended
        self._taken = -1                       # lock.taken right after it did
        self._queue: queue.SimpleQueue[tuple[dict[str, Any], Done] | None] = \
            queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="ledger-journal", daemon=True)
        self._thread.start()

    def submit(self, entry: Mapping[str, Any]) -> Future[LedgerEntry]:
        """Queue one entry (``Ledger.append`` keywords); the future completes once it is
        committed (or fails with the reason it could not be)."""
        done: Future[LedgerEntry] = Future()
        if not self._thread.is_alive():
            done.set_exception(RuntimeError("the ledger journal is closed"))
        else:
            self._queue.put((dict(entry), done))
        return done

    def submit_soon(self, entry: Mapping[str, Any]) -> asyncio.Future[LedgerEntry]:
        """Queue one entry from the running event loop; the asyncio future completes once
        it is committed (or fails with the reason it could not be)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[LedgerEntry] = loop.create_future()
        if not self._thread.is_alive():
            done.set_exception(RuntimeError("the ledger journal is closed"))
        else:
            self._queue.put((dict(entry), (loop, done)))
        return done

    def record(self, entry: Mapping[str, Any]) -> LedgerEntry:
        """Queue one entry and wait until it is committed."""
        return self.submit(entry).result()

    def close(self, timeout: float = 30.0) -> None:
        """Commit what is queued, then stop the writer."""
        self._queue.put(None)
        self._thread.join(timeout)

    # -- the writer
    def _run(self) -> None:
        stop = False
        while not stop:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._write(batch)

    def _write(self, batch: list[tuple[dict[str, Any], Done]]) -> None:
        started = time.perf_counter()
        try:
            with self.lock:
                after = self._head if self.lock.taken == self._taken + 1 else None
                self._head = None
                made = self.ledger.append_many([entry for entry, _ in batch], after=after)
                self._head, self._taken = made[-1], self.lock.taken
        except BaseException as exc:  # noqa: BLE001 — retried alone, so one bad entry fails alone
            if len(batch) == 1:
                log.error("ledger entry not written: %s", exc)
                _tell([(batch[0][1], exc)])
                return
            for one in batch:
                self._write([one])
            return
        took = time.perf_counter() - started
        if took > SLOW_COMMIT_S:
            log.warning("ledger journal: %d entries took %.2f s to commit", len(made), took)
        self.batches += 1
        self.entries += len(made)
        if self.on_commit is not None:
            self.on_commit(len(made))
        _tell([(done, entry) for (_, done), entry in zip(batch, made, strict=True)])
