"""National secure sum: what SecAgg+ costs over asking each force for its counts in clear.

Five forces of a generated scenario (real nodes, real gateways on loopback, the real relay,
over the in-process grid). Baseline: each gateway is asked for its gated counts on the
national layout (all forces at once, as the grid asks them) and the counts are added up —
the cost with no secure aggregation. Secure: the same counts through Flower's SecAgg+ (4
round trips, key agreement, Shamir shares, masking). Ratio: secure / plain. Both release
the same counts through the same gate, so the ratio is the price of the coordinator not
seeing them.
"""

from __future__ import annotations

import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

import httpx  # noqa: E402
import numpy as np  # noqa: E402
from flwr.app import Context, RecordDict  # noqa: E402

from bench.harness import interleaved, load_avg, peak_rss_mb, report, runs_arg  # noqa: E402
from federation.cli import main  # noqa: E402
from federation.flower.gateway import running_gateway  # noqa: E402
from federation.flower.grid import InProcessGrid  # noqa: E402
from federation.flower.protocol import SECRET_HEADER, read_relay_secret  # noqa: E402
from federation.flower.secure_sum import secure_sum  # noqa: E402
from node.gateway import NodeGateway  # noqa: E402
from node.serve_cli import relay_secret  # noqa: E402
from policies.national_tables import NATIONAL_TABLES, NationalLayout  # noqa: E402

FORCES, PERSONS, PURPOSE = 5, 300, "BENCH-SECURE-SUM"
LAYOUT = NationalLayout(tables=NATIONAL_TABLES, years=(2010, 2025))
POLICY = f"""
[purpose]
code = "{PURPOSE}"
lawful_basis = "Bench only: national counts through a secure sum."

[aggregates]
dimensions = ["offence_category", "year", "role", "ethnicity", "outcome_code", "age_band"]
release = "secure-sum"
release_interval_days = 0   # the bench releases each force twice
"""


def crossforce(*args: object) -> None:
    assert main([str(a) for a in args]) == 0, args


def build(root: Path) -> dict[str, Path]:
    crossforce("scenario", "generate", "--forces", FORCES, "--persons-per-force", PERSONS,
               "--seed", 7, "--out", root / "scenario")
    nodes = {}
    for force_dir in sorted(p for p in (root / "scenario").iterdir() if p.name != "truth"):
        node = root / "nodes" / force_dir.name
        crossforce("node", "init", "--force", force_dir.name, "--dir", node)
        crossforce("node", "ingest", "--dir", node, force_dir)
        (node / "policy.toml").write_text(POLICY)
        nodes[force_dir.name] = node
    return nodes


def main_bench() -> None:
    runs = runs_arg()
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        nodes = build(Path(tmp))
        configs = {}
        for force, node in nodes.items():
            secret_file = relay_secret(node, None)
            server = stack.enter_context(running_gateway(
                NodeGateway(node), read_relay_secret(secret_file)))
            configs[force] = {"gateway": server.url, "gateway-secret-file": str(secret_file)}

        def ask(config: dict[str, str]) -> np.ndarray:
            secret = read_relay_secret(Path(config["gateway-secret-file"]))
            answer = httpx.post(f"{config['gateway']}/aggregates", timeout=60,
                                headers={SECRET_HEADER: secret},
                                json={"purpose": PURPOSE, "epoch": 0,
                                      "tables": list(LAYOUT.tables),
                                      "years": list(LAYOUT.years)}).json()
            return np.asarray(answer["counts"], dtype=np.int64)

        def plain() -> np.ndarray:  # all forces at once, as the grid asks them
            with ThreadPoolExecutor(len(configs)) as pool:
                return sum(pool.map(ask, configs.values()))

        def secure() -> np.ndarray:
            with InProcessGrid(configs) as grid:
                context = Context(run_id=1, node_id=0, node_config={}, state=RecordDict(),
                                  run_config={})
                return secure_sum(grid, context, grid.get_node_ids(), LAYOUT, 120,
                                  purpose=PURPOSE).counts

        m = interleaved({"plain": plain, "secure": secure}, runs)
        assert (m["plain"].result == m["secure"].result).all(), \
            "the secure sum differs from the plain one"
    report("secure_sum", {"forces": FORCES, "cells": LAYOUT.size, "runs": runs,
                          "plain_s": m["plain"].wall, "secure_inprocess_s": m["secure"].wall,
                          "plain_runs_s": m["plain"].runs_text(),
                          "secure_runs_s": m["secure"].runs_text(),
                          "peak_rss_mb": peak_rss_mb(), "load_avg_1m": load_avg()},
           m["secure"].wall / m["plain"].wall,
           "SecAgg+ in-process / plain gateway calls, medians, interleaved",
           target="same counts; deployment adds ~7 s per round trip (4 trips)")


if __name__ == "__main__":
    main_bench()
