"""Answers kept per snapshot of the served store, so a repeated question skips DuckDB.

What the analyst endpoints show (networks, members, edges, entities, force pairs) and what
a lookup finds for a token change only when the store does: a link, a submission, a
secure sum. The service is the store's only writer, so it numbers those changes itself
(``generation``, bumped after each commits); an answer is kept under the generation it was
read in and everything is dropped at the next bump. A key holds everything the answer
depends on (endpoint, purpose, parameters) and never the caller: answers that depend on
who asks (a liaison's own force) are built from a kept row per request. Bounded by bytes,
least recently used first out. Never kept: ledger, consultations, submissions, users.

``PerSnapshot`` holds something read from the store once per generation (the lookup
index, the network tables: serve_lookups.py, serve_networks.py), read in a background
thread so no request waits for it; until it is ready callers answer as before.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

import duckdb

T = TypeVar("T")
log = logging.getLogger("crossforce.cache")


class SnapshotCache:
    """LRU of answers of the current generation, at most ``max_bytes`` (as the builder
    sizes them)."""

    def __init__(self, max_bytes: int = 128 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self.generation = 0
        self.hits = self.misses = 0
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def bump(self) -> None:
        """The store changed (call after the change committed): forget every answer."""
        with self._lock:
            self.generation += 1
            self._items.clear()
            self._bytes = 0

    def peek(self, key: Hashable) -> Any | None:
        """The kept value for ``key`` of the current generation, or None (nothing built):
        what the event loop may ask without blocking."""
        with self._lock:
            found = self._items.get((self.generation, key))
            if found is None:
                return None
            self._items.move_to_end((self.generation, key))
            self.hits += 1
            return found[0]

    def get(self, key: Hashable, build: Callable[[], T], size: Callable[[T], int]) -> T:
        """The kept value for ``key``, or ``build()`` kept under the generation current
        *before* it ran (a change committing meanwhile makes it a key nobody asks again)."""
        with self._lock:
            generation = self.generation
            found = self._items.get((generation, key))
            if found is not None:
                self._items.move_to_end((generation, key))
                self.hits += 1
                return found[0]
            self.misses += 1
        value = build()
        n = size(value)
        if n > self.max_bytes // 8:  # one huge answer would push out everything else
            return value
        with self._lock:
            if generation == self.generation and (generation, key) not in self._items:
                self._items[(generation, key)] = (value, n)
                self._bytes += n
                while self._bytes > self.max_bytes:
                    _, (_, dropped) = self._items.popitem(last=False)
                    self._bytes -= dropped
        return value

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"generation": self.generation, "entries": len(self._items),
                    "bytes": self._bytes, "hits": self.hits, "misses": self.misses}


class PerSnapshot(Generic[T]):
    """``load(cursor)`` of the cache's current generation, or None while it is being read
    (in a thread of its own, started by the first ``get`` after the store changed) or when
    ``load`` found nothing to read (None) or failed (logged). A value read while a change
    committed is kept under the generation it started in, so it is never used."""

    def __init__(self, name: str, cache: SnapshotCache,
                 cursor: Callable[[], duckdb.DuckDBPyConnection],
                 load: Callable[[duckdb.DuckDBPyConnection], T | None],
                 on_loaded: Callable[[], None] | None = None) -> None:
        self.name, self.cache, self.cursor, self.load = name, cache, cursor, load
        self.on_loaded = on_loaded  # called after each value read (served.settle_heap)
        self._value: tuple[int, T | None] | None = None  # (generation, value)
        self._loading: int | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self._lock = threading.Lock()

    def get(self) -> T | None:
        current = self._value
        if current is not None and current[0] == self.cache.generation:
            return current[1]
        self.warm()
        return None

    def warm(self) -> None:
        """Start reading the current generation's value unless it is there or under way."""
        generation = self.cache.generation
        with self._lock:
            if self._closed or self._loading == generation or (
                    self._value is not None and self._value[0] == generation):
                return
            self._loading = generation
            self._thread = threading.Thread(target=self._read, args=(generation,),
                                            name=self.name, daemon=True)
            self._thread.start()

    def close(self, timeout: float = 60.0) -> None:
        """Read no more; wait for a read under way (its cursor must close before the
        store's connection can)."""
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _read(self, generation: int) -> None:
        value: T | None = None
        try:
            cur = self.cursor()
            try:
                value = self.load(cur)
            finally:
                cur.close()
        except Exception as exc:  # noqa: BLE001 — not linked yet, a table missing, closing
            log.info("%s: not read (%s)", self.name, str(exc).splitlines()[0])
        with self._lock:
            if self._loading == generation:
                self._loading = None
            if generation == self.cache.generation:
                self._value = (generation, value)
        if value is not None and self.on_loaded is not None:
            self.on_loaded()

    def generation(self) -> int | None:
        """The generation of the value held (None: nothing read yet)."""
        current = self._value
        return current[0] if current else None
