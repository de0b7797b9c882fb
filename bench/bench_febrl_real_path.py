"""FEBRL4 linkage quality through the REAL path, not the linkage function alone.

Two nodes (force-a = FEBRL4 A with half its people dropped, force-b = B, so half of B has
no partner) each ingest a node input folder, share under the default `cse-national`
policy, the coordinator submits both payloads, links, and writes each force's hits; each
node resolves its hits to its own person ids. Predicted pairs = (A id, B id) that the two
nodes resolved to one national entity; truth = same FEBRL number. No social-security
number anywhere. Then the same with names + DOB only (no addresses.csv).

The real path runs twice (issue #12 item 5): as a force runs it — every command its own
`crossforce` process (`process_runner`) — and in one process (`cli_runner`, no start-up).
Next to it, in the same script on the same sample: Splink on the raw records
(`bench.splink_baseline`, what an analyst without privacy constraints runs), clkhash CLKs +
anonlink (`bench/anonlink_baseline.py`, the privacy-preserving alternative; in its own
interpreter, ANONLINK_PYTHON or `.venv-anonlink/bin/python`, since clkhash pins an old
`cryptography` — skipped with a note if missing) and `bench_linkage`'s direct path (match
keys → tokens → `coordinator.linkage.link`, no CLI, no ingest). Every path: F1 on the same
truth, wall and CPU seconds (CPU: this process plus its child processes), medians of
--runs (default 3), interleaved. Ratio: the real CLI path's CPU / Splink's CPU.

Run: .venv/bin/python bench/bench_febrl_real_path.py [--subset N] [--runs N]
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import duckdb  # noqa: E402

from bench.bench_linkage import Clock, load_store  # noqa: E402
from bench.febrl_layout import (  # noqa: E402  # noqa: E402
    FORCES,
    RealPathRun,
    common_layout,
    febrl4_forces,
    pairwise,
    real_path,
    true_pairs,
)
from bench.harness import load_avg, report  # noqa: E402
from bench.real_path import cli_runner, process_runner  # noqa: E402
from coordinator.linkage import link  # noqa: E402
from federation.keys import LinkageSecret  # noqa: E402
from federation.matchkeys import DEFAULT_KEYS, NAME_DOB_KEYS, MatchKey  # noqa: E402
from federation.tokens import Tokeniser  # noqa: E402

#: the real path's steps that are the product's work (setup = init, keys, register)
STEPS = ("ingest", "share", "submit", "link", "hits", "node_hits")


REPO = Path(__file__).resolve().parents[1]
ANONLINK_PYTHON = Path(os.environ.get("ANONLINK_PYTHON", REPO / ".venv-anonlink" / "bin" /
                                      "python"))


def measure(people: dict[str, Any], addresses: bool, run: Any = None) -> RealPathRun:
    """One real-path run in a fresh temp folder."""
    with tempfile.TemporaryDirectory(prefix="febrl-real-") as tmp:
        return real_path(people, Path(tmp), run, addresses=addresses)


def _cpu_now() -> float:
    """CPU seconds of this process (all threads) and its finished children."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def clocked(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """(wall seconds, CPU seconds incl. child processes, result) of one call."""
    t0, c0 = time.perf_counter(), _cpu_now()
    result = fn()
    return time.perf_counter() - t0, _cpu_now() - c0, result


def splink_pairs(people: dict[str, Any]) -> set[tuple[str, str]]:
    """Cross-force pairs Splink clusters together, on the raw records of both forces."""
    import pandas as pd

    from bench.splink_baseline import splink_clusters

    frames = []
    for force in FORCES:
        frame = common_layout(people[force])
        frame["force"] = force
        frames.append(frame)
    clusters, _, _ = splink_clusters(pd.concat(frames, ignore_index=True), others=())
    a_ids = {str(r) for r in people[FORCES[0]].index}
    members: dict[int, list[str]] = {}
    for record, cluster in clusters.items():
        members.setdefault(cluster, []).append(record)
    return {(x, y) for m in members.values() for x in m if x in a_ids
            for y in m if y not in a_ids}


def anonlink_pairs(csvs: Sequence[Path]) -> set[tuple[str, str]]:
    """Pairs clkhash + anonlink match (its own interpreter: see anonlink_baseline.py)."""
    done = subprocess.run([str(ANONLINK_PYTHON), str(REPO / "bench" / "anonlink_baseline.py"),
                           *map(str, csvs)], capture_output=True, text=True, check=True)
    return {tuple(p) for p in json.loads(done.stdout.splitlines()[-1])["pairs"]}


def direct(people: dict[str, Any], keys: Sequence[MatchKey]
           ) -> tuple[set[tuple[str, str]], float]:
    """The baseline: `bench_linkage`'s direct path on the same people — (pairs, seconds of
    encode + link)."""
    con = duckdb.connect()
    clock = Clock()
    truth = load_store(con, people, Tokeniser(LinkageSecret.generate().derive("bench", 1)),
                       keys)
    link(con)
    clock.lap("direct")
    pairs = {(truth[bytes(a)], truth[bytes(b)]) for a, b in con.execute("""
        SELECT a.ref, b.ref FROM entities a JOIN entities b
          ON a.entity_id = b.entity_id AND a.force < b.force""").fetchall()}
    con.close()
    return pairs, clock.wall["direct"]


def _f(x: float) -> str:
    return f"{x:.4f}"


def main(argv: list[str]) -> None:
    subset = int(argv[argv.index("--subset") + 1]) if "--subset" in argv else None
    runs = int(argv[argv.index("--runs") + 1]) if "--runs" in argv else 3
    measure(febrl4_forces(subset=200), True)  # warm: imports, FEBRL files, connections
    people = febrl4_forces(subset=subset)
    truth = true_pairs(people)
    work = Path(tempfile.mkdtemp(prefix="febrl-baselines-"))
    csvs = [work / f"{force}.csv" for force in FORCES]
    for force, path in zip(FORCES, csvs, strict=True):
        common_layout(people[force]).to_csv(path, index=False)
    has_anonlink = ANONLINK_PYTHON.exists()
    paths: dict[str, Callable[[], set[tuple[str, str]]]] = {
        "cli_processes": lambda: measure(people, True, process_runner()).predicted,
        "one_process": lambda: measure(people, True, cli_runner()).predicted,
        "splink": lambda: splink_pairs(people),
        "direct": lambda: direct(people, DEFAULT_KEYS)[0],
    }
    if has_anonlink:
        paths["clkhash_anonlink"] = lambda: anonlink_pairs(csvs)
    wall: dict[str, list[float]] = {name: [] for name in paths}
    cpu: dict[str, list[float]] = {name: [] for name in paths}
    found: dict[str, set[tuple[str, str]]] = {}
    for _ in range(runs):  # interleaved, so a change in load hits every path alike
        for name, path in paths.items():
            w, c, found[name] = clocked(path)
            wall[name].append(w)
            cpu[name].append(c)
    full = measure(people, True)  # one more one-process run for its steps' seconds
    names = measure(people, False)
    base_names, _ = direct(people, NAME_DOB_KEYS)
    q, qn = pairwise(found["one_process"], truth), pairwise(names.predicted, truth)
    dn = pairwise(base_names, truth)
    med_w = {n: statistics.median(v) for n, v in wall.items()}
    med_c = {n: statistics.median(v) for n, v in cpu.items()}
    figures: dict[str, Any] = {
        "precision": _f(q["precision"]), "recall": _f(q["recall"]), "f1": _f(q["f1"]),
        "true_pairs": q["true_pairs"], "found_pairs": q["found_pairs"],
        "names_dob_precision": _f(qn["precision"]), "names_dob_recall": _f(qn["recall"]),
        "names_dob_f1": _f(qn["f1"]), "direct_names_dob_f1": _f(dn["f1"])}
    for name in paths:
        figures[f"{name}_f1"] = _f(pairwise(found[name], truth)["f1"])
        figures[f"{name}_s"] = round(med_w[name], 2)
        figures[f"{name}_cpu_s"] = round(med_c[name], 2)
    figures.update({
        "cli_pairs_differing_from_one_process": len(found["cli_processes"]
                                                    ^ found["one_process"]),
        "pairs_differing_from_direct": len(found["one_process"] ^ found["direct"]),
        **{f"{s}_s": round(full.seconds[s], 2) for s in STEPS},
        "clkhash_anonlink": "measured" if has_anonlink else f"not run: no {ANONLINK_PYTHON}",
        "runs": runs, "load_avg_1m": round(load_avg(), 1)})
    report("febrl4_real_path" + (f"_subset_{subset}" if subset else ""), figures,
           ratio=med_c["cli_processes"] / med_c["splink"],
           ratio_meaning="CPU seconds of the real CLI path (each command a process: ingest → "
                         "node hits, both forces) / Splink on the raw records, same sample, "
                         "medians",
           target="F1 >= 0.997 with precision >= 0.999; names+DOB F1 >= 0.935")


if __name__ == "__main__":
    main(sys.argv[1:])
