"""The default `crossforce demo` end to end: wall time, per-round time, peak memory.

Runs the default demo (5 forces, Deployment Engine on loopback: SuperLink + 5 SuperNodes +
5 gateways, TLS and node authentication on) as a user would, and, as the baseline in the
same run, the same scenario over the in-process grid (same nodes, gateways and coordinator
code, no Flower processes). The ratio is what Flower's processes cost on top. A third run
adds `--secure-aggregation` (every force's counts only inside a SecAgg+ national sum) to
show what the secure sum costs through the Deployment Engine.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from harness import report  # noqa: E402

CROSSFORCE = Path(sys.executable).parent / "crossforce"


def run_demo(engine: str, out: Path, *extra: str) -> tuple[float, dict[str, Any]]:
    t0 = time.perf_counter()
    done = subprocess.run([str(CROSSFORCE), "demo", "--engine", engine, "--json", "--out",
                           str(out), *extra], capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"demo --engine {engine} failed:\n{done.stderr[-3000:]}")
    return wall, json.loads(done.stdout)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as tmp:
        deployment_s, deployment = run_demo("deployment", Path(tmp) / "deployment")
        inprocess_s, inprocess = run_demo("inprocess", Path(tmp) / "inprocess")
        secure_s, secure = run_demo("deployment", Path(tmp) / "secure", "--secure-aggregation")
    t, m = deployment["timings"], deployment["peak_memory_mb"]
    settings = deployment["settings"]
    report("bench_demo", {
        "forces": settings["forces"], "persons_per_force": settings["persons_per_force"],
        "wall_s": deployment_s, "round_s": t["round_total"],
        "round_collect_s": t["round_collect"], "round_link_s": t["round_link"],
        "round_notify_s": t["round_notify"], "round_aggregate_s": t["round_aggregate"],
        "federation_s_incl_startup": t["federation"],
        "peak_mb_all_processes": m.get("all_processes", 0.0),
        "peak_mb_demo_process": m["demo_process"],
        "person_link_f1": deployment["person_links"]["f1"],
        "network_membership_f1": deployment["network_membership"]["f1"],
        "inprocess_wall_s": inprocess_s, "inprocess_round_s": inprocess["timings"]["round_total"],
        "inprocess_peak_mb_all_processes": inprocess["peak_memory_mb"].get("all_processes", 0.0),
        "secure_aggregation_wall_s": secure_s,
        "secure_aggregation_round_aggregate_s": secure["timings"]["round_aggregate"],
        "secure_aggregation_peak_mb_all_processes":
            secure["peak_memory_mb"].get("all_processes", 0.0),
    }, deployment_s / inprocess_s,
        "default demo wall time, Deployment Engine on loopback / in-process grid, same scenario",
        target="default demo < 120 s on 2 cores")


if __name__ == "__main__":
    main()
