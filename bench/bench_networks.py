"""Bench: cross-force networks for 43 forces x 100,000 persons (target: under 60 s).

A synthetic national store, generated with numpy: every person has a phone; some persons
moved force (held by two); a third of each force's persons are in small local gangs; some
call a random local number; a fifth call one of 20 national taxi firms (hubs to stop-list);
1% are victims (match-only). Planted cross-force networks (3-6 co-offending persons in each
of 2-4 forces, joined through numbers found in another force's seized phones) are the truth;
`planted_found` is the share of them with >= 80% of their persons in one reported network.

Baseline, in the same run: the bare minimum any component finder needs — a DuckDB join
mapping every link to entity ids, then scipy connected_components on that edge list.

    .venv/bin/python bench/bench_networks.py [--forces 43] [--persons 100000]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import interleaved, load_avg, peak_rss_mb, report, runs_arg  # noqa: E402
from coordinator.graph import LINKS_DDL  # noqa: E402
from coordinator.hits import hits_for_force  # noqa: E402
from coordinator.networks import NetworkSettings, find_networks  # noqa: E402
from coordinator.schema import ENTITIES_DDL  # noqa: E402

ITEMS_DDL = """CREATE TABLE items (force VARCHAR, ref BLOB, kind VARCHAR, role VARCHAR,
                                   match_only BOOLEAN)"""
DAY0 = np.datetime64("2022-01-01")


class Scenario:
    """Holdings (force, entity) and links (force, entity_a, entity_b, kind), as numpy."""

    def __init__(self, forces: int, persons: int, n_planted: int, seed: int) -> None:
        self.rng = rng = np.random.default_rng(seed)
        self.F, self.P = forces, persons
        n = forces * persons
        self.n_taxi = 20
        self.n_entities = 2 * n + self.n_taxi
        self.phone_offset, self.taxi_offset = n, 2 * n
        home = np.repeat(np.arange(forces), persons)
        person = np.arange(n)
        victim = rng.random(n) < 0.01
        self.h_force: list[np.ndarray] = []
        self.h_entity: list[np.ndarray] = []
        self.h_victim: list[np.ndarray] = []
        self.l_force: list[np.ndarray] = []
        self.l_a: list[np.ndarray] = []
        self.l_b: list[np.ndarray] = []
        self.l_kind: list[np.ndarray] = []

        # everyone, at home: person, phone, person_identifier
        self._hold(home, person, victim)
        self._hold(home, self.phone(person), victim)
        self._link(home, person, self.phone(person), 0)
        # 2% moved: a second force holds them too
        moved = rng.choice(n, n // 50, replace=False)
        away = (home[moved] + rng.integers(1, forces, len(moved))) % forces
        self._hold(away, moved, victim[moved])
        self._hold(away, self.phone(moved), victim[moved])
        self._link(away, moved, self.phone(moved), 0)
        # local gangs of 4: co-suspect chains, and their phones call each other
        for f in range(forces):
            members = f * persons + rng.permutation(persons)[: persons // 3 // 4 * 4]
            g = members.reshape(-1, 4)
            for i in range(3):
                fs = np.full(len(g), f)
                self._link(fs, g[:, i], g[:, i + 1], 1)
                self._link(fs, self.phone(g[:, i]), self.phone(g[:, i + 1]), 2)
        # 5% call a random local number
        callers = np.flatnonzero(rng.random(n) < 0.05)
        callee = home[callers] * persons + rng.integers(0, persons, len(callers))
        self._link(home[callers], self.phone(callers), self.phone(callee), 2)
        # 20% call a taxi firm
        callers = np.flatnonzero(rng.random(n) < 0.2)
        taxi = self.taxi_offset + rng.integers(0, self.n_taxi, len(callers))
        self._hold(home[callers], taxi, np.zeros(len(callers), bool))
        self._link(home[callers], self.phone(callers), taxi, 2)
        # planted cross-force networks: each force's part co-offends and calls each other;
        # two numbers of the next part turn up in this part's seized phones
        self.planted: list[np.ndarray] = []
        for _ in range(n_planted):
            k = int(rng.integers(2, 5))
            parts = []
            for f in rng.choice(forces, k, replace=False):
                part = f * persons + rng.choice(persons, int(rng.integers(3, 7)), replace=False)
                i, j = np.triu_indices(len(part), 1)
                fs = np.full(len(i), f)
                self._link(fs, part[i], part[j], 1)
                self._link(fs, self.phone(part[i]), self.phone(part[j]), 2)
                parts.append((f, part))
            for (f, part), (_, nxt) in zip(parts, parts[1:], strict=False):
                contacts = self.phone(nxt[:2])
                fs = np.full(2, f)
                self._hold(fs, contacts, np.zeros(2, bool))
                self._link(fs, self.phone(part[:2]), contacts, 2)
                self._link(fs, self.phone(part[1:3]), contacts, 2)
            self.planted.append(np.concatenate([p for _, p in parts]))

    def phone(self, person: np.ndarray) -> np.ndarray:
        return self.phone_offset + person

    def _hold(self, force: np.ndarray, entity: np.ndarray, victim: np.ndarray) -> None:
        self.h_force.append(force)
        self.h_entity.append(entity)
        self.h_victim.append(victim)

    def _link(self, force: np.ndarray, a: np.ndarray, b: np.ndarray, kind: int) -> None:
        self.l_force.append(force)
        self.l_a.append(a)
        self.l_b.append(b)
        self.l_kind.append(np.full(len(a), kind, np.int8))

    def load(self, con: duckdb.DuckDBPyConnection) -> dict[str, int]:
        """Write entities, items and links with random 16-byte refs; return row counts."""
        rng = self.rng
        force_names = [f"Force{f:02d}" for f in range(self.F)]
        m = self.n_entities
        key = np.concatenate(self.h_force).astype(np.int64) * m + np.concatenate(self.h_entity)
        victim = np.concatenate(self.h_victim)
        keys, first = np.unique(key, return_index=True)
        victim_any = np.zeros(len(keys), bool)
        np.logical_or.at(victim_any, np.searchsorted(keys, key), victim)
        h_force, h_entity = keys // m, keys % m
        kind = np.where(h_entity < self.phone_offset, 0, 1).astype(np.int8)
        refs = rng.integers(0, 256, (len(keys), 16), np.uint8)

        def ref_array(rows: np.ndarray) -> pa.Array:
            buf = pa.py_buffer(np.ascontiguousarray(refs[rows]).tobytes())
            return pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), len(rows), [None, buf])

        def forces(codes: np.ndarray) -> pa.Array:
            return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)),
                                                  pa.array(force_names))

        kinds = pa.array(["person", "phone"])
        holdings = pa.table({
            "force": forces(h_force), "ref": ref_array(np.arange(len(keys))),
            "kind": pa.DictionaryArray.from_arrays(pa.array(kind.astype(np.int32)), kinds),
            "entity_id": pa.array(h_entity), "match_only": pa.array(victim_any)})
        lf = np.concatenate(self.l_force).astype(np.int64)
        la = np.searchsorted(keys, lf * m + np.concatenate(self.l_a))
        lb = np.searchsorted(keys, lf * m + np.concatenate(self.l_b))
        lk = np.concatenate(self.l_kind)
        days = rng.integers(0, 1000, len(lf))
        dated = lk == 2
        links = pa.table({
            "force": forces(lf), "ref_a": ref_array(la), "ref_b": ref_array(lb),
            "kind": pa.DictionaryArray.from_arrays(
                pa.array(lk.astype(np.int32)),
                pa.array(["person_identifier", "co_suspect", "communication"])),
            "weight": pa.array(np.where(dated, rng.choice([1, 5, 10, 50], len(lf)), 1)
                               .astype(np.int32)),
            "first_seen": pa.array(np.where(dated, DAY0 + days, np.datetime64("NaT")),
                                   pa.date32()),
            "last_seen": pa.array(np.where(dated, DAY0 + days + 30, np.datetime64("NaT")),
                                  pa.date32())})
        for ddl in (ENTITIES_DDL, ITEMS_DDL, LINKS_DDL):
            con.execute(ddl)
        con.register("h", holdings)
        con.register("l", links)
        con.execute("INSERT INTO entities SELECT force, ref, kind, entity_id, NULL FROM h")
        con.execute("INSERT INTO items SELECT force, ref, kind, NULL, match_only FROM h")
        con.execute("INSERT INTO links SELECT * FROM l")
        con.unregister("h")
        con.unregister("l")
        return {"refs": len(keys), "links": len(lf)}


def baseline(con: duckdb.DuckDBPyConnection) -> int:
    cols = con.execute("""
        SELECT a.entity_id AS a, b.entity_id AS b FROM links l
        JOIN entities a ON a.force = l.force AND a.ref = l.ref_a
        JOIN entities b ON b.force = l.force AND b.ref = l.ref_b""").fetchnumpy()
    nodes, inv = np.unique(np.concatenate([cols["a"], cols["b"]]), return_inverse=True)
    m = len(cols["a"])
    graph = sp.coo_matrix((np.ones(m, np.int8), (inv[:m], inv[m:])),
                          shape=(len(nodes), len(nodes)))
    return connected_components(graph, directed=False)[0]


def planted_found(con: duckdb.DuckDBPyConnection, planted: list[np.ndarray]) -> float:
    """Share of planted networks with >= 80% of their persons in one found network."""
    truth = pa.table({
        "planted": np.repeat(np.arange(len(planted)), [len(p) for p in planted]),
        "entity_id": np.concatenate(planted)})
    con.register("truth", truth)
    found = con.execute("""
        WITH best AS (
            SELECT t.planted, max(n) AS n FROM (
                SELECT t.planted, m.network_id, count(*) AS n FROM truth t
                JOIN network_members m USING (entity_id) GROUP BY ALL) t GROUP BY t.planted),
        size AS (SELECT planted, count(*) AS size FROM truth GROUP BY planted)
        SELECT count(*) FILTER (WHERE coalesce(b.n, 0) >= 0.8 * s.size) / count(*)
        FROM size s LEFT JOIN best b USING (planted)""").fetchall()[0][0]
    con.unregister("truth")
    return float(found)


def main() -> None:
    runs = runs_arg()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--forces", type=int, default=43)
    parser.add_argument("--persons", type=int, default=100_000, help="persons per force")
    parser.add_argument("--planted", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    scenario = Scenario(args.forces, args.persons, args.planted, args.seed)
    con = duckdb.connect()
    counts = scenario.load(con)
    m = interleaved({"baseline": lambda: baseline(con),
                     "networks": lambda: find_networks(con, NetworkSettings()),
                     "hits": lambda: hits_for_force(con, "Force00")}, runs)
    t_base, n_components = m["baseline"].wall, m["baseline"].result
    t_networks, networks = m["networks"].wall, m["networks"].result
    t_hits, hits = m["hits"].wall, m["hits"].result
    hubs = con.execute("SELECT count(*) FROM network_hubs").fetchall()[0][0]
    report("bench_networks", {
        "forces": args.forces, "persons": args.forces * args.persons, "refs": counts["refs"],
        "links": counts["links"], "components": int(n_components), "networks": len(networks),
        "hubs": hubs, "planted_found": planted_found(con, scenario.planted),
        "find_networks_s": t_networks, "baseline_s": t_base,
        # CPU seconds (all threads): the wall figures stretch when the machine is shared
        "find_networks_cpu_s": m["networks"].cpu, "baseline_cpu_s": m["baseline"].cpu,
        "hits_one_force_s": t_hits, "hits_one_force": hits.num_rows, "runs": runs,
        "find_networks_runs_s": m["networks"].runs_text(),
        "baseline_runs_s": m["baseline"].runs_text(), "peak_rss_mb": peak_rss_mb(),
        "load_avg_1m": load_avg()},
        ratio=t_networks / t_base,
        ratio_meaning="find_networks / bare DuckDB link→entity join + scipy components, "
                      "medians, interleaved",
        target="find_networks under 60 s")


if __name__ == "__main__":
    main()
