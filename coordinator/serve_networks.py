"""One network's detail from memory: the network tables of the current store snapshot held
as Arrow columns sorted by network, so a network not asked for before is a slice, not
three DuckDB queries.

`GET /v1/networks/{id}` is the analyst's most varied question (thousands of networks),
so the answer cache (serve_cache.py) misses often, and each miss cost three point queries
(the network, its members, its edges; 3-5 ms of CPU). ``networks``, ``network_purposes``,
``network_members`` and ``network_edges`` are small beside the store (a network has tens
of members) and change only when the store does, so the service reads them once per
generation (in the background, like serve_lookups.py) and ``detail`` builds the same
answer as ``api_queries.network_detail`` from row ranges.
"""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from coordinator.api_queries import network_answer

_NETWORKS = """
    SELECT n.network_id, p.purpose, n.forces, n.n_persons, n.n_identifiers,
           n.counts_by_kind, n.first_activity, n.last_activity
    FROM networks n JOIN network_purposes p USING (network_id) ORDER BY network_id"""
_MEMBERS = """
    SELECT network_id, entity_id, kind, betweenness, degree, is_broker, is_key_player, forces
    FROM network_members ORDER BY network_id, entity_id"""
_EDGES = """
    SELECT network_id, entity_a, entity_b, kinds, forces, n_links FROM network_edges
    ORDER BY network_id, entity_a, entity_b"""


def _ranges(table: pa.Table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(network ids, first row, end row) of a table sorted by network_id."""
    ids = table.column("network_id").to_numpy()
    if not len(ids):
        return ids, ids, ids
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    ends = np.r_[starts[1:], len(ids)]
    return ids[starts], starts, ends


class NetworkIndex:
    """The network tables of one snapshot (see module docstring)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.networks: dict[tuple[int, str], tuple[Any, ...]] = {
            (row[0], row[1]): row for row in con.execute(_NETWORKS).fetchall()}
        self.members = con.sql(_MEMBERS).to_arrow_table().combine_chunks()
        self.edges = con.sql(_EDGES).to_arrow_table().combine_chunks()
        self._member_ranges = _ranges(self.members)
        self._edge_ranges = _ranges(self.edges)
        self.nbytes = int(self.members.nbytes + self.edges.nbytes + 400 * len(self.networks))

    @staticmethod
    def _rows(table: pa.Table, ranges: tuple[np.ndarray, np.ndarray, np.ndarray],
              network_id: int) -> list[dict[str, Any]]:
        ids, starts, ends = ranges
        i = int(np.searchsorted(ids, network_id))
        if i >= len(ids) or ids[i] != network_id:
            return []
        start, end = int(starts[i]), int(ends[i])
        return table.slice(start, end - start).to_pylist()

    def detail(self, purpose: str, network_id: int) -> dict[str, Any] | None:
        """What ``api_queries.network_detail`` answers, from memory."""
        row = self.networks.get((network_id, purpose))
        if row is None:
            return None
        members = [{"entity_id": m["entity_id"], "kind": m["kind"],
                    "betweenness": round(m["betweenness"], 6), "degree": m["degree"],
                    "is_broker": m["is_broker"], "is_key_player": m["is_key_player"],
                    "forces": m["forces"]}
                   for m in self._rows(self.members, self._member_ranges, network_id)]
        edges = [{"entity_a": e["entity_a"], "entity_b": e["entity_b"], "kinds": e["kinds"],
                  "forces": e["forces"], "n_links": e["n_links"]}
                 for e in self._rows(self.edges, self._edge_ranges, network_id)]
        nid, _, *rest = row
        return network_answer(purpose, (nid, *rest), members, edges)
