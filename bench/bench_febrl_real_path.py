"""FEBRL4 linkage quality through the REAL path, not the linkage function alone.

Two nodes (force-a = FEBRL4 A with half its people dropped, force-b = B, so half of B has
no partner) each ingest a node input folder, share under the default `cse-national`
policy, the coordinator submits both payloads, links, and writes each force's hits; each
node resolves its hits to its own person ids. Predicted pairs = (A id, B id) that the two
nodes resolved to one national entity; truth = same FEBRL number. No social-security
number anywhere. Then the same with names + DOB only (no addresses.csv).

Baseline, in the same run on the same people: `bench_linkage`'s direct path (match keys →
tokens → `coordinator.linkage.link`). Ratio: real-path seconds (ingest → node hits) /
direct-path seconds (encode + link).

Run: .venv/bin/python bench/bench_febrl_real_path.py [--subset N]
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import duckdb  # noqa: E402

from bench.bench_linkage import Clock, load_store  # noqa: E402
from bench.febrl_layout import (  # noqa: E402
    RealPathRun,
    febrl4_forces,
    pairwise,
    real_path,
    true_pairs,
)
from bench.harness import report  # noqa: E402
from coordinator.linkage import link  # noqa: E402
from federation.keys import LinkageSecret  # noqa: E402
from federation.matchkeys import DEFAULT_KEYS, NAME_DOB_KEYS, MatchKey  # noqa: E402
from federation.tokens import Tokeniser  # noqa: E402

#: the real path's steps that are the product's work (setup = init, keys, register)
STEPS = ("ingest", "share", "submit", "link", "hits", "node_hits")


def measure(people: dict[str, Any], addresses: bool) -> RealPathRun:
    """One real-path run in a fresh temp folder."""
    with tempfile.TemporaryDirectory(prefix="febrl-real-") as tmp:
        return real_path(people, Path(tmp), addresses=addresses)


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
    measure(febrl4_forces(subset=200), True)  # warm: imports, FEBRL files, connections
    people = febrl4_forces(subset=subset)
    truth = true_pairs(people)
    full, names = measure(people, True), measure(people, False)
    base, base_s = direct(people, DEFAULT_KEYS)
    base_names, _ = direct(people, NAME_DOB_KEYS)
    q, qn = pairwise(full.predicted, truth), pairwise(names.predicted, truth)
    d, dn = pairwise(base, truth), pairwise(base_names, truth)
    real_s = sum(full.seconds[s] for s in STEPS)
    report("febrl4_real_path" + (f"_subset_{subset}" if subset else ""), {
        "precision": _f(q["precision"]), "recall": _f(q["recall"]), "f1": _f(q["f1"]),
        "true_pairs": q["true_pairs"], "found_pairs": q["found_pairs"],
        "names_dob_precision": _f(qn["precision"]), "names_dob_recall": _f(qn["recall"]),
        "names_dob_f1": _f(qn["f1"]),
        "direct_precision": _f(d["precision"]), "direct_recall": _f(d["recall"]),
        "direct_f1": _f(d["f1"]), "direct_names_dob_f1": _f(dn["f1"]),
        # pairs found by one path and not the other (0 = the product path loses nothing)
        "pairs_differing_from_direct": len(full.predicted ^ base),
        "names_dob_pairs_differing_from_direct": len(names.predicted ^ base_names),
        **{f"{s}_s": round(full.seconds[s], 2) for s in STEPS},
        "real_path_s": round(real_s, 2), "direct_s": round(base_s, 2),
        "load_avg_1m": round(os.getloadavg()[0], 1)},
        ratio=real_s / base_s,
        ratio_meaning="real-path seconds (ingest→node hits, both forces) / direct path "
                      "seconds (encode + link)",
        target="F1 >= 0.997 with precision >= 0.999; names+DOB F1 >= 0.935")


if __name__ == "__main__":
    main(sys.argv[1:])
