"""The default `crossforce demo` end to end: wall time, per-round time, peak memory.

Runs the default demo (5 forces, Deployment Engine on loopback: SuperLink + 5 SuperNodes +
5 gateways, TLS and node authentication on) as a user would, and, as the baseline in the
same run, the same scenario over the in-process grid (same nodes, gateways and coordinator
code, no Flower processes). The ratio is what Flower's processes cost on top. A third run
adds `--secure-aggregation` (every force's counts only inside a SecAgg+ national sum) to
show what the secure sum costs through the Deployment Engine.

Both federate the same one purpose (``--purposes cse-national``: in-process the demo's
default is one round for each of four purposes, which made earlier ratios unlike for
like). Deployment and in-process demos alternate, --runs times each (default 3); the figures are
medians, with the load average. Issue #12 item 2 asks for the deployed round within 1.5x
the in-process round: ``round_ratio`` (the headline ratio stays the whole demo's wall time).
Also the relay's CPU per message, from each relay executor's log (``wait4`` of each task).

Run: ``.venv/bin/python bench/bench_demo.py [--runs N]`` (about 4 minutes a run pair).
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from harness import load_avg, report  # noqa: E402

#: what a relay executor logs per task (``federation.flower.deployment.TASK_DONE``)
TASK_DONE = re.compile(r"relay executor: task \S+ of run \S+ done: exit -?\d+, ([\d.]+) CPU-s")

CROSSFORCE = Path(sys.executable).parent / "crossforce"


#: both engines federate the same purposes (in-process, the demo's default is all four)
PURPOSES = "cse-national"


def run_demo(engine: str, out: Path, *extra: str) -> tuple[float, dict[str, Any]]:
    t0 = time.perf_counter()
    done = subprocess.run([str(CROSSFORCE), "demo", "--engine", engine, "--json", "--out",
                           str(out), "--purposes", PURPOSES, *extra], capture_output=True,
                          text=True, check=False)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"demo --engine {engine} failed:\n{done.stderr[-3000:]}")
    return wall, json.loads(done.stdout)


def relay_cpu(out: Path) -> list[float]:
    """CPU seconds of every relay task of a deployed demo (its relay executors' logs)."""
    return [float(m.group(1)) for log in (out / "flower" / "logs").glob("relay-*.log")
            for m in TASK_DONE.finditer(log.read_text(errors="replace"))]


def main() -> None:
    runs = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv else 3
    med = statistics.median
    dep: list[tuple[float, dict[str, Any]]] = []
    inp: list[tuple[float, dict[str, Any]]] = []
    cpu: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as tmp:
        for i in range(runs):
            dep.append(run_demo("deployment", Path(tmp) / f"deployment-{i}"))
            cpu += relay_cpu(Path(tmp) / f"deployment-{i}")
            inp.append(run_demo("inprocess", Path(tmp) / f"inprocess-{i}"))
        secure_s, secure = run_demo("deployment", Path(tmp) / "secure", "--secure-aggregation")
    deployment = dep[-1][1]
    settings = deployment["settings"]

    def t(results: list[tuple[float, dict[str, Any]]], key: str) -> float:
        return med(r["timings"].get(key, 0.0) for _, r in results)

    wall, in_wall = med(w for w, _ in dep), med(w for w, _ in inp)
    round_s, in_round = t(dep, "round_total"), t(inp, "round_total")
    report("bench_demo", {
        "forces": settings["forces"], "persons_per_force": settings["persons_per_force"],
        "runs": runs, "wall_s": wall, "round_s": round_s,
        "round_collect_s": t(dep, "round_collect"), "round_link_s": t(dep, "round_link"),
        "round_notify_s": t(dep, "round_notify"),
        "round_aggregate_s": t(dep, "round_aggregate"),
        "federation_s_incl_startup": t(dep, "federation"),
        "peak_mb_all_processes": med(r["peak_memory_mb"].get("all_processes", 0.0)
                                     for _, r in dep),
        "person_link_f1": deployment["person_links"]["f1"],
        "network_membership_f1": deployment["network_membership"]["f1"],
        "inprocess_wall_s": in_wall, "inprocess_round_s": in_round,
        "inprocess_round_collect_s": t(inp, "round_collect"),
        "inprocess_round_notify_s": t(inp, "round_notify"),
        "inprocess_federation_s": t(inp, "federation"),
        "round_ratio": round_s / in_round,
        "wall_runs_s": "/".join(f"{w:.0f}" for w, _ in dep),
        "inprocess_wall_runs_s": "/".join(f"{w:.0f}" for w, _ in inp),
        "relay_messages": len(cpu),
        "relay_cpu_s_per_message": med(cpu) if cpu else 0.0,
        "relay_cpu_s_per_message_max": max(cpu) if cpu else 0.0,
        "secure_aggregation_wall_s": secure_s,
        "secure_aggregation_round_aggregate_s": secure["timings"]["round_aggregate"],
        "secure_aggregation_peak_mb_all_processes":
            secure["peak_memory_mb"].get("all_processes", 0.0),
        "load_avg_1m": load_avg(),
    }, wall / in_wall,
        "default demo wall time, Deployment Engine on loopback / in-process grid, same "
        "scenario, medians",
        target="default demo < 120 s on 2 cores; round_ratio <= 1.5; relay CPU < 0.3 s a "
               "message")


if __name__ == "__main__":
    main()
