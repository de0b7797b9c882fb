"""Handovers and the relationship graph: quality on a generated scenario (truth known) and
speed at issue-13 sizes, each against a bare baseline measured in the same run.

Quality (issue 13): planted burner handovers found with precision and recall >= 0.9 (a
planted handover counts when both numbers appear in at least 3 of the force's calls and
messages); each planted network's organiser in the top 5% of the force's persons by at
least one centrality measure (reported per measure); Leiden communities against the planted
networks (NMI over the members recorded in the force). Each force is loaded, resolved
(`node resolve`) and analysed through the CLI, as an analyst would.

Speed (wall and CPU seconds, and the load average: on a shared machine wall time follows
other people's load): handovers over N call records (default 10 million; target < 60 s)
against a bare DuckDB GROUP BY of the same calls per number; network measures on a graph of
E links (default 1 million; target < 60 s) against bare igraph degree + PageRank on the
same edges; and the error of the sampled betweenness / closeness against exact on a graph
a twentieth of the size.

    .venv/bin/python bench/bench_analyses_network.py [--part quality|speed|all]
        [--forces 5] [--persons 10000] [--calls 10000000] [--edges 1000000]
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import load_avg, peak_rss_mb, report, runs_arg  # noqa: E402

MEASURES = ("degree", "w_degree", "betweenness", "closeness", "eigenvector", "pagerank",
            "k_core")


def _cli(*args: object) -> str:
    return subprocess.run([sys.executable, "-m", "federation.cli", *map(str, args)],
                          check=True, capture_output=True, text=True).stdout


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# --------------------------------------------------------------------------- quality


def quality(root: Path, forces: int, persons: int, seed: int) -> dict[str, Any]:
    scen = root / "scenario"
    _cli("scenario", "generate", "--out", scen, "--forces", forces, "--persons-per-force",
         persons, "--seed", seed)
    truth = scen / "truth"
    records = _rows(truth / "persons.csv")
    members = {(r["network_id"], r["real_id"]): r["role"]
               for r in _rows(truth / "network_members.csv")}
    organisers = {r["network_id"]: r["organiser"] for r in _rows(truth / "networks.csv")}
    planted = _rows(truth / "handovers.csv")
    tp = fp = fn = seen = 0
    top5: dict[str, int] = defaultdict(int)
    checked = 0
    within: list[int] = []
    nmi: list[tuple[float, int]] = []
    t_handovers = t_network = 0.0
    for folder in sorted(p for p in scen.iterdir() if p.name != "truth"):
        force = folder.name
        node = root / f"node-{force}"
        _cli("node", "init", "--force", force, "--dir", node)
        _cli("node", "ingest", "--dir", node, folder)
        _cli("node", "resolve", "--dir", node)
        t0 = time.perf_counter()
        ho = json.loads(_cli("node", "analyse", "handovers", "--dir", node, "--json"))
        t_handovers += time.perf_counter() - t0
        found = {(r["old"], r["new"]) for r in ho["tables"]["handovers, strongest first"]}
        here = [h for h in planted if h["force"] == force]
        real = {(h["old_number"], h["new_number"]) for h in here}
        visible = {(h["old_number"], h["new_number"]) for h in here
                   if int(h["old_events"]) >= 3 and int(h["new_events"]) >= 3}
        tp += len(found & real)
        fp += len(found - real)
        fn += len(visible - found)
        seen += len(visible)
        t0 = time.perf_counter()
        net = json.loads(_cli("node", "analyse", "network", "--dir", node, "--json"))
        t_network += time.perf_counter() - t0
        ranking = net["tables"]["most central persons by pagerank"]
        con = duckdb.connect(str(node / "node.duckdb"), read_only=True)
        local = dict(con.execute("SELECT person_id, local_person FROM person_resolution")
                     .fetchall())
        con.close()
        node_of = {r["person_id"]: local.get(r["person_id"], r["person_id"])
                   for r in records if r["force"] == force}
        real_of = {r["person_id"]: r["real_id"] for r in records if r["force"] == force}
        n = len(ranking)
        ranks = {m: {e: i for i, e in enumerate(
            sorted((r["entity"] for r in ranking), key=lambda e, m=m: -_by(ranking)[e][m]))}
            for m in MEASURES}
        for network_id, organiser in organisers.items():
            nodes = {node_of[p] for p, rid in real_of.items() if rid == organiser}
            if not nodes:
                continue
            checked += 1
            for m in MEASURES:
                if min(ranks[m][x] for x in nodes) < 0.05 * n:
                    top5[m] += 1
            if any(min(ranks[m][x] for x in nodes) < 0.05 * n for m in MEASURES):
                top5["any"] += 1
            # the organiser's place among the network's members here, by PageRank
            mine = {node_of[p] for p, rid in real_of.items()
                    if (network_id, rid) in members and members[(network_id, rid)]
                    != "victim contact"}
            order = sorted(mine, key=lambda x: ranks["pagerank"][x])
            within.append(order.index(min(nodes, key=lambda x: ranks["pagerank"][x])) + 1)
        community = {r["entity"]: r["community"] for r in ranking}
        labels = [(nid, community[node_of[p]]) for (nid, rid), role in members.items()
                  if role != "victim contact" for p, r2 in real_of.items() if r2 == rid]
        if len({a for a, _ in labels}) >= 2:
            from sklearn.metrics import normalized_mutual_info_score

            a, b = zip(*labels, strict=True)
            nmi.append((normalized_mutual_info_score(a, b), len(labels)))
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = (seen - fn) / seen if seen else 1.0
    weighted_nmi = sum(v * k for v, k in nmi) / max(1, sum(k for _, k in nmi))
    return {"forces": forces, "persons_per_force": persons,
            "handovers_planted_visible": seen, "handovers_found": tp + fp,
            "handover_precision": precision, "handover_recall": recall,
            "organisers_checked": checked,
            **{f"organiser_top5_{m}": top5[m] / max(1, checked) for m in (*MEASURES, "any")},
            "organiser_median_place_in_network": float(np.median(within)) if within else 0,
            "communities_nmi": weighted_nmi,
            "handovers_s_per_force": t_handovers / forces,
            "network_s_per_force": t_network / forces}


def _by(ranking: list[dict[str, Any]], cache: dict[int, dict] = {}) -> dict[str, dict]:  # noqa: B006
    key = id(ranking)
    if key not in cache:
        cache[key] = {r["entity"]: r for r in ranking}
    return cache[key]


# --------------------------------------------------------------------------- speed


def synthetic_calls(node: Path, calls: int, devices: int) -> set[tuple[str, str]]:
    """Write ``calls`` calls of ``devices`` handsets straight into the node's store (the
    analysis is timed, not ingest): groups of 20 devices share 30 numbers, each device has
    40 private ones, 10 hubs are called by all; one number per group is replaced by a new
    one at a random day (the planted handovers, returned)."""
    con = duckdb.connect(str(node / "node.duckdb"))
    con.execute("SELECT setseed(0.42)")
    con.execute(f"""
        INSERT INTO devices (device_id, owner_number, owner_number_e164, timezone,
                             source_file)
        SELECT 'B' || i, '+4477' || lpad(i::VARCHAR, 8, '0'),
               '+4477' || lpad(i::VARCHAR, 8, '0'), 'Europe/London', 1
        FROM range({devices}) t(i)""")
    con.execute(f"""
        INSERT INTO calls (device_id, call_id, timestamp_utc, direction, number,
                           number_e164, source_file)
        WITH e AS (
            SELECT i, i % {devices} AS d, (i % {devices}) // 20 AS g, random() AS c,
                   floor(random() * 30)::BIGINT AS k, floor(random() * 40)::BIGINT AS p,
                   floor(random() * 10)::BIGINT AS h,
                   TIMESTAMP '2023-01-01' + to_seconds(floor(random() * 365 * 86400)::BIGINT)
                       AS ts
            FROM range({calls}) t(i)),
        n AS (
            SELECT *, CASE
                WHEN c < 0.1 THEN '+44163296' || lpad(h::VARCHAR, 4, '0')
                WHEN c < 0.5 AND k = 0 AND ts > TIMESTAMP '2023-01-01'
                     + to_days((100 + hash(g) % 165)::INTEGER)
                    THEN '+4476' || lpad(g::VARCHAR, 8, '0')
                WHEN c < 0.5 THEN '+4478' || lpad((g * 30 + k)::VARCHAR, 8, '0')
                ELSE '+4479' || lpad((d * 40 + p)::VARCHAR, 8, '0') END AS num
            FROM e)
        SELECT 'B' || d, i::VARCHAR, ts, CASE WHEN i % 2 = 0 THEN 'outgoing'
               ELSE 'incoming' END, num, num, 1 FROM n""")
    con.close()
    return {("+4478" + f"{g * 30:08d}", "+4476" + f"{g:08d}")
            for g in range((devices + 19) // 20)}


def speed_handovers(root: Path, calls: int, runs: int = 3) -> dict[str, Any]:
    from node.analyses import prepare_events
    from node.analyses.handovers import Settings, handovers
    from node.store import open_store

    node = root / "node-calls"
    _cli("node", "init", "--force", "lancashire", "--dir", node)
    devices = max(20, calls // 1000)
    planted = synthetic_calls(node, calls, devices)
    bases, products, cpus = [], [], []
    with open_store(node) as (_, con):
        for _ in range(runs):  # interleaved, each in a transaction rolled back
            con.execute("BEGIN")
            t0 = time.perf_counter()
            con.execute("""CREATE TEMP TABLE base AS SELECT number_e164, count(*) AS n,
                           min(timestamp_utc), max(timestamp_utc), count(DISTINCT device_id)
                           FROM calls GROUP BY number_e164""")
            bases.append(time.perf_counter() - t0)
            prepare_events(con)
            t0, c0 = time.perf_counter(), time.process_time()
            result = handovers(con, [f"B{i}" for i in range(devices)], (None, None),
                               Settings())
            products.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
            con.execute("ROLLBACK")
    found = {(r[0], r[1]) for r in result.tables[0].rows}
    product, cpu, base = (statistics.median(x) for x in (products, cpus, bases))
    return {"calls": calls, "devices": devices, "handovers_s": product, "handovers_cpu_s": cpu,
            "runs": runs, "handovers_runs_s": "/".join(f"{s:.3g}" for s in products),
            "bare_runs_s": "/".join(f"{s:.3g}" for s in bases),
            "load_average": load_avg(), "bare_group_by_s": base,
            "pairs_tested": result.summary["pairs_tested"], "planted": len(planted),
            "precision": len(found & planted) / max(1, len(found)),
            "recall": len(found & planted) / len(planted)}


def synthetic_graph(con: duckdb.DuckDBPyConnection, edges: int) -> None:
    """``g_nodes``/``g_edges`` as ``_graph.build`` makes them, of about ``edges`` links:
    persons owning phones, crimes of three persons, shared addresses, and calls between
    phones with a few very busy numbers."""
    persons = edges // 10
    con.execute("SELECT setseed(0.7)")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE g_edges AS
        SELECT 'person:P' || i AS src, 'phone:+447' || i AS dst, 'owns' AS kind,
               1.0::DOUBLE AS weight, false AS directed, NULL::DATE AS date, 'phone' AS label
        FROM range({persons}) t(i)
        UNION ALL
        SELECT 'person:P' || floor(random() * {persons})::BIGINT, 'crime:C' || (i // 3),
               'suspect', 1.0, false, NULL, 'suspect' FROM range({int(persons * 1.5)}) t(i)
        UNION ALL
        SELECT 'person:P' || i, 'address:A' || floor(random() * {int(persons * 0.6)})::BIGINT,
               'lives at', 1.0, false, NULL, 'home' FROM range({persons}) t(i)
        UNION ALL
        SELECT src, dst, 'contact', sum(w), true, NULL, NULL FROM (
            SELECT 'phone:+447' || floor(random() * {persons})::BIGINT AS src,
                   'phone:+447' || floor({persons} * pow(random(), 3))::BIGINT AS dst,
                   1 + floor(random() * 20) AS w
            FROM range({edges - int(persons * 3.5)})) WHERE src <> dst GROUP BY src, dst""")
    con.execute("""
        CREATE OR REPLACE TEMP TABLE g_nodes AS
        SELECT (row_number() OVER (ORDER BY id) - 1)::BIGINT AS idx, id,
               split_part(id, ':', 1) AS type, split_part(id, ':', 2) AS label,
               NULL::VARCHAR AS description
        FROM (SELECT src AS id FROM g_edges UNION SELECT dst FROM g_edges)""")


def speed_network(edges: int, runs: int = 3) -> dict[str, Any]:
    import igraph as ig

    from node.analyses import _graph as gr

    con = duckdb.connect()
    synthetic_graph(con, edges)
    arcs = con.execute("SELECT a.idx, b.idx FROM g_edges e JOIN g_nodes a ON a.id = e.src "
                       "JOIN g_nodes b ON b.id = e.dst").fetchnumpy()
    products, cpus, bases = [], [], []
    for _ in range(runs):  # interleaved with the baseline
        t0, c0 = time.perf_counter(), time.process_time()
        gr.define_view(con, True)
        g = gr.load(con, True)
        m = gr.measure(g)
        products.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        t0 = time.perf_counter()
        bare = ig.Graph(n=con.execute("SELECT count(*) FROM g_nodes").fetchall()[0][0],
                        edges=np.column_stack(list(arcs.values())).tolist())
        bare.degree()
        bare.pagerank()
        bases.append(time.perf_counter() - t0)
    product, cpu, base = (statistics.median(x) for x in (products, cpus, bases))
    out = {"links": int(con.execute("SELECT count(*) FROM g_edges").fetchall()[0][0]),
           "measured_vertices": g.undirected.vcount(),
           "measured_edges": g.undirected.ecount(), "measures_s": product,
           "measures_cpu_s": cpu, "runs": runs,
           "measures_runs_s": "/".join(f"{s:.3g}" for s in products),
           "bare_runs_s": "/".join(f"{s:.3g}" for s in bases), "load_average": load_avg(),
           "bare_igraph_degree_pagerank_s": base, "betweenness": m.method["betweenness"],
           "communities": len(set(m.community)), "modularity": m.modularity}
    # the estimate's error, on a graph a twentieth of the size where exact is affordable
    from scipy.stats import spearmanr

    synthetic_graph(con, edges // 20)
    gr.define_view(con, True)
    small = gr.load(con, True).undirected
    exact_b = np.array(small.betweenness(directed=False))
    part = np.array(small.connected_components().sizes())[
        small.connected_components().membership]
    exact_c = np.nan_to_num(np.array(small.closeness())) * (part - 1) / (small.vcount() - 1)
    est_b, est_c = (np.array(v) for v in gr.sampled_paths(small, gr.SAMPLE_SOURCES, 1))
    top = max(1, len(exact_b) // 100)
    out.update({
        "error_graph_vertices": small.vcount(),
        "sampled_betweenness_spearman": float(spearmanr(exact_b, est_b).statistic),
        "sampled_betweenness_top1pct_overlap": len(
            set(np.argsort(-exact_b)[:top]) & set(np.argsort(-est_b)[:top])) / top,
        "sampled_betweenness_top100_median_rel_error": float(np.median(
            np.abs(est_b - exact_b)[np.argsort(-exact_b)[:100]] /
            exact_b[np.argsort(-exact_b)[:100]])),
        "sampled_closeness_spearman": float(spearmanr(exact_c, est_c).statistic),
    })
    return out


def main() -> None:
    runs = runs_arg()
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--part", default="all", choices=("quality", "speed", "all"))
    ap.add_argument("--forces", type=int, default=5)
    ap.add_argument("--persons", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--calls", type=int, default=10_000_000)
    ap.add_argument("--edges", type=int, default=1_000_000)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if a.part in ("quality", "all"):
            q = quality(root, a.forces, a.persons, a.seed)
            report("analyses_network quality", q, q["handover_precision"],
                   "handover precision; recall, organiser and NMI figures beside it",
                   "precision and recall >= 0.9; organiser top 5% by some measure")
        if a.part in ("speed", "all"):
            h = speed_handovers(root, a.calls, runs)
            report("analyses_network handovers speed", {**h, "peak_rss_mb": peak_rss_mb()},
                   h["handovers_s"] / h["bare_group_by_s"],
                   "handovers s / bare DuckDB GROUP BY per number s, medians, interleaved",
                   "< 60 s at 10M calls")
            n = speed_network(a.edges, runs)
            report("analyses_network network speed", {**n, "peak_rss_mb": peak_rss_mb()},
                   n["measures_s"] / n["bare_igraph_degree_pagerank_s"],
                   "all measures + Leiden s / bare igraph degree + PageRank s, medians, "
                   "interleaved",
                   "< 60 s at 1M links")


if __name__ == "__main__":
    main()
