"""The service's ledger journal: group commit to an append-only file, folded into the
ledger table off the request path.

Every API request is a *consultation* ledger entry (DESIGN.md §8), and an answer may only
leave once its entry is durable. Requests hand their entry to a queue and get a future;
one writer thread takes whatever is queued (up to ``max_batch``), signs and chains the
entries after the head it knows, writes them to the journal file in one durable write
(federation/ledger_journal.py), then completes the futures of that batch.
A folder thread moves journaled entries into the DuckDB ``ledger`` table every
``fold_after_s`` (sooner once ``fold_every`` are waiting) in one INSERT that commits by
itself, then removes the folded segment. So:

- **group commit on a file**: an entry's future completes only after the durable write
  of the batch holding it, and the API releases an answer only then — a crash (even
  SIGKILL mid-batch) loses only entries of requests whose answer was never sent, and the
  next start folds whatever the journal holds, exactly once (by entry id). The DuckDB
  COMMIT (40-60 ms at p50, up to ~600 ms on a busy machine) is no longer on the request
  path, only the write (~1 ms on a quiet disk: a segment is made full of zeros in
  advance, so a write changes no file-system metadata);
- the chain stays one chain: the writer chains after the last entry it journaled; every
  other writer of the table (a submission, a user added, a secure sum) takes the store's
  WriteLock, which first folds everything journaled and holds the journal until it is
  done, then the journal goes on after whatever that writer appended;
- a reader that must see every answered entry (the auditor's endpoints) calls
  ``fold_now`` first;
- a refused request is queued like an answered one (its refusal waits for it too);
- one bad entry (a field the ledger refuses) fails alone; a failed write fails its batch;
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
from pathlib import Path
from typing import Any

import duckdb

from federation.ledger import Ledger, LedgerEntry, entry_row, insert_rows, next_position
from federation.ledger_journal import SEGMENT_BYTES, JournalFiles

log = logging.getLogger("crossforce.journal")
SLOW_COMMIT_S = 0.25  # a commit slower than this is worth a line in the service's log


class WriteLock:
    """The store's write lock. Taking it also holds the journal (``Journal.hold``): what it
    made durable is folded into the table first and no entry is journaled until it is
    released, so whoever writes the ledger table under it appends after the true head."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.journal: Journal | None = None

    def __enter__(self) -> WriteLock:
        self._lock.acquire()
        if self.journal is not None:
            try:
                self.journal.hold()
            except BaseException:
                self._lock.release()
                raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self.journal is not None:
                self.journal.release()
        finally:
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
    """Queue ledger entries; a writer thread journals them in batches (one durable write
    each), a folder thread moves them into the ledger table in larger batches."""

    def __init__(self, con: duckdb.DuckDBPyConnection, ledger: Ledger, lock: WriteLock,
                 folder: Path, *, max_batch: int = 512, fold_every: int = 4096,
                 fold_after_s: float = 1.0, segment_bytes: int = SEGMENT_BYTES,
                 on_commit: Callable[[int], None] | None = None) -> None:
        self.ledger, self.lock, self.max_batch = ledger, lock, max_batch
        self.fold_every, self.fold_after_s = fold_every, fold_after_s
        self.on_commit = on_commit
        self.batches = self.entries = 0  # for the bench and the log: how well it groups
        self.folds = self.folded = 0
        self._con = con.cursor()  # the folds' own connection (under _fold_lock)
        self._files = JournalFiles(folder, segment_bytes)
        self._head = next_position(self._con)  # (seq, hash) the next entry follows
        self._pending: list[list[Any]] = []  # journaled, not yet in the table
        self._append_lock = threading.Lock()  # the file, _head, _pending
        self._fold_lock = threading.Lock()    # the table's ledger (taken first)
        self._wake = threading.Event()
        self._stopping = False
        self._queue: queue.SimpleQueue[tuple[dict[str, Any], Done] | None] = \
            queue.SimpleQueue()
        lock.journal = self
        self._thread = threading.Thread(target=self._run, name="ledger-journal", daemon=True)
        self._folder = threading.Thread(target=self._fold_loop, name="ledger-fold",
                                        daemon=True)
        self._thread.start()
        self._folder.start()

    def submit(self, entry: Mapping[str, Any]) -> Future[LedgerEntry]:
        """Queue one entry (``Ledger.append`` keywords); the future completes once it is
        durable (or fails with the reason it could not be)."""
        done: Future[LedgerEntry] = Future()
        if not self._thread.is_alive():
            done.set_exception(RuntimeError("the ledger journal is closed"))
        else:
            self._queue.put((dict(entry), done))
        return done

    def submit_soon(self, entry: Mapping[str, Any]) -> asyncio.Future[LedgerEntry]:
        """Queue one entry from the running event loop; the asyncio future completes once
        it is durable (or fails with the reason it could not be)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[LedgerEntry] = loop.create_future()
        if not self._thread.is_alive():
            done.set_exception(RuntimeError("the ledger journal is closed"))
        else:
            self._queue.put((dict(entry), (loop, done)))
        return done

    def record(self, entry: Mapping[str, Any]) -> LedgerEntry:
        """Queue one entry and wait until it is durable."""
        return self.submit(entry).result()

    # -- folding into the table
    def fold_now(self) -> int:
        """Fold everything journaled so far into the table (what a reader of the table
        needs first: the auditor's endpoints); how many entries were folded."""
        with self._fold_lock:
            with self._append_lock:
                rows = self._take()
            return self._store(rows, holding=False)

    def hold(self) -> None:
        """Fold everything and stop journaling until ``release``: another writer is about
        to append to the table (WriteLock)."""
        self._fold_lock.acquire()
        self._append_lock.acquire()
        try:
            self._store(self._take(), holding=True)
        except BaseException:
            self._append_lock.release()
            self._fold_lock.release()
            raise

    def release(self) -> None:
        """The other writer is done: the next entry follows whatever it appended."""
        try:
            self._head = next_position(self._con)
        finally:
            self._append_lock.release()
            self._fold_lock.release()

    def _take(self) -> list[list[Any]]:
        """(under _append_lock) the pending rows."""
        rows, self._pending = self._pending, []
        return rows

    def _store(self, rows: list[list[Any]], *, holding: bool) -> int:
        """(under _fold_lock) insert the rows in one statement that commits by itself, then
        remove the full segments now folded. On a failure the rows go back in front of the
        pending ones (their segments stay), to be folded at the next try."""
        if rows:
            started = time.perf_counter()
            try:
                insert_rows(self._con, rows, self.ledger.owner)
            except BaseException:
                with contextlib.nullcontext() if holding else self._append_lock:
                    self._pending[:0] = rows
                raise
            took = time.perf_counter() - started
            if took > SLOW_COMMIT_S:
                log.warning("ledger journal: folding %d entries took %.2f s", len(rows), took)
            self.folds += 1
            self.folded += len(rows)
        self._files.remove_folded(self.folded, contextlib.nullcontext() if holding
                                  else self._append_lock)
        return len(rows)

    def _fold_loop(self) -> None:
        while not self._stopping:
            self._wake.wait(self.fold_after_s)
            self._wake.clear()
            if self._stopping:
                continue
            try:
                with self._fold_lock:
                    self._files.prepare(self._append_lock)  # the next segment, if used up
                if self._pending:
                    self.fold_now()
            except Exception:  # noqa: BLE001 — kept in the journal; tried again
                log.exception("ledger journal: fold failed (entries kept in the journal)")

    def close(self, timeout: float = 30.0) -> None:
        """Journal what is queued, fold everything, then stop both threads."""
        self._queue.put(None)
        self._thread.join(timeout)
        self._stopping = True
        self._wake.set()
        self._folder.join(timeout)
        folded = False
        try:
            self.fold_now()
            folded = True
        finally:
            self.lock.journal = None  # the table is the whole ledger again
            self._files.close(all_folded=folded and not self._pending)
            self._con.close()

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
        """Sign and chain the batch's entries and write them to the journal file (durable
        when the write returns); only then tell their requests. An entry the ledger
        refuses fails alone; a failed write fails the batch (nothing of it is kept, the
        head does not move)."""
        started = time.perf_counter()
        told: list[tuple[Done, LedgerEntry | BaseException]] = []
        made: list[LedgerEntry] = []
        need_segment = False
        with self._append_lock:
            after = self._head
            for entry, done in batch:
                try:
                    (one,) = self.ledger.make_entries([entry], after=after)
                except Exception as exc:  # noqa: BLE001 — this request fails, not the batch
                    log.error("ledger entry not written: %s", exc)
                    told.append((done, exc))
                    continue
                made.append(one)
                told.append((done, one))
                after = (one.seq, one.entry_hash)
            if made:
                rows = [entry_row(e) for e in made]
                try:
                    need_segment = self._files.append(rows)
                except BaseException as exc:  # noqa: BLE001 — no answer without its entry
                    log.error("ledger journal: %d entries not written: %s", len(made), exc)
                    _tell([(done, exc) for done, _ in told])
                    return
                self._pending.extend(rows)
                self._head = after
        took = time.perf_counter() - started
        if took > SLOW_COMMIT_S:
            log.warning("ledger journal: %d entries took %.2f s to journal", len(made), took)
        if made:
            self.batches += 1
            self.entries += len(made)
            if need_segment or len(self._pending) >= self.fold_every:
                self._wake.set()
            if self.on_commit is not None:
                self.on_commit(len(made))
        _tell(told)
