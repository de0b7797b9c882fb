"""Hit / no-hit lookups from memory: every findable token of the current store snapshot in
sorted numpy arrays, so a lookup is a binary search instead of a DuckDB query.

A liaison's tokens are mostly new ones (a number nobody asked about before), so the answer
cache (serve_cache.py) rarely helps a lookup, and one point query on ``lookup_index`` and
``entity_view`` costs 2-4 ms of CPU — more than the rest of the request. The read-side
tables change only when the store does (the cache's ``generation``), so the service reads
them once per generation, in a background thread, into:

- per (purpose, kind), a run of 16-byte tokens, sorted (``lookup_index`` is unique per
  purpose, kind and token);
- per token: its entity, the index of its set of open forces (few distinct sets), hidden,
  stop-listed hub, its network (-1: none); per network, its forces.

``rows`` answers with exactly what ``api_queries.lookup_row`` would. The service holds
the index of the current generation (``serve_cache.PerSnapshot``); until it is read the
caller asks DuckDB, as before. A store with more than ``MAX_ROWS`` tokens is not loaded
(about 40 bytes a token).
"""

from __future__ import annotations

import bisect
import logging

import duckdb
import numpy as np
import pyarrow as pa

from coordinator.api_queries import NO_ROW, LookupRow

log = logging.getLogger("crossforce.lookups")
MAX_ROWS = 4_000_000  # ~160 MB; beyond it lookups stay point queries
TOKEN_BYTES = 16

_INDEX_SQL = """
    SELECT x.purpose, x.token_kind, x.token, v.entity_id, v.open_forces,
           (dense_rank() OVER (ORDER BY v.open_forces) - 1)::INTEGER AS set_id,
           v.hidden, v.hub, coalesce(v.network_id, -1) AS network_id
    FROM lookup_index x JOIN entity_view v USING (entity_id)
    WHERE octet_length(x.token) = 16
    ORDER BY x.purpose, x.token_kind, x.token"""


class LookupIndex:
    """The findable tokens of one snapshot (see module docstring)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        table = con.sql(_INDEX_SQL).to_arrow_table()
        n = table.num_rows
        tokens = table.column("token").combine_chunks().cast(pa.binary(TOKEN_BYTES))
        data = tokens.buffers()[1]
        self.tokens = np.frombuffer(data, dtype=f"S{TOKEN_BYTES}", count=n,
                                    offset=tokens.offset * TOKEN_BYTES) if n else \
            np.empty(0, dtype=f"S{TOKEN_BYTES}")
        self.entity = table.column("entity_id").to_numpy()
        self.forces_set = table.column("set_id").to_numpy()
        self.hidden = table.column("hidden").to_numpy(zero_copy_only=False)
        self.hub = table.column("hub").to_numpy(zero_copy_only=False)
        self.network = table.column("network_id").to_numpy()
        # (purpose, kind) -> [start, end) in the sorted arrays
        self.runs: dict[tuple[str, str], tuple[int, int]] = {}
        purpose = table.column("purpose").to_pylist() if n else []
        kind = table.column("token_kind").to_pylist() if n else []
        start = 0
        for i in range(1, n + 1):
            if i == n or purpose[i] != purpose[start] or kind[i] != kind[start]:
                self.runs[(purpose[start], kind[start])] = (start, i)
                start = i
        # the few distinct sets of open forces, each once (set_id counts them from 0)
        _, first = np.unique(self.forces_set, return_index=True)
        self.force_sets: list[list[str]] = [
            list(f) for f in table.column("open_forces").take(first).to_pylist()]
        self.network_forces: dict[int, list[str]] = {
            nid: list(forces) for nid, forces in con.execute(
                "SELECT network_id, forces FROM networks").fetchall()}
        self.nbytes = int(self.tokens.nbytes + self.entity.nbytes + self.forces_set.nbytes
                          + self.hidden.nbytes + self.hub.nbytes + self.network.nbytes)

    def rows(self, purpose: str, tokens: list[tuple[str, bytes]]) -> list[LookupRow]:
        """What ``api_queries.lookup_row`` answers for each (kind, token)."""
        out: list[LookupRow] = []
        for kind, token in tokens:
            run = self.runs.get((purpose, kind))
            if run is None or len(token) != TOKEN_BYTES:
                out.append(NO_ROW)
                continue
            start, end = run
            # bisect, not np.searchsorted: numpy lets go of the GIL, and the event loop
            # would wait a switch interval (5 ms) to get it back. numpy's S dtype drops
            # trailing zero bytes of what it returns, so compare without them (order and
            # equality of equal-length values stay the same)
            key = token.rstrip(b"\0")
            i = bisect.bisect_left(self.tokens, key, start, end)
            if i >= end or self.tokens[i] != key:
                out.append(NO_ROW)
                continue
            network = int(self.network[i])
            out.append((int(self.entity[i]), self.force_sets[self.forces_set[i]],
                        bool(self.hidden[i]), bool(self.hub[i]),
                        network if network >= 0 else None,
                        self.network_forces.get(network) if network >= 0 else None))
        return out


def load_lookups(con: duckdb.DuckDBPyConnection, max_rows: int = MAX_ROWS
                 ) -> LookupIndex | None:
    """The index of the snapshot ``con`` sees, or None if it holds over ``max_rows``
    tokens (lookups then stay point queries)."""
    n = con.execute("SELECT count(*) FROM lookup_index").fetchall()[0][0]
    if n > max_rows:
        log.warning("lookups: %d tokens, over %d: answered by point queries", n, max_rows)
        return None
    return LookupIndex(con)
