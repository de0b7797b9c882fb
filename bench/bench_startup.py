"""Start-up CPU of the `crossforce` command and of the Flower relay (issue #12 items 1, 2).

Each figure is the median, over RUNS fresh processes, of user+sys CPU seconds taken by the
child (``resource.getrusage(RUSAGE_CHILDREN)`` before and after), so other load on the
machine changes it little. The baseline, measured in the same run, is a bare
``python -c "import duckdb, pyarrow"``: what any command touching a node's store pays
anyway.

Targets: ``crossforce --help`` and ``crossforce node status --dir D`` within 2x the
baseline. The relay module (``import federation.flower.clientapp``) is shown next to
Flower's own floor for any ClientApp (``from flwr.clientapp import ClientApp``): it adds
next to nothing to it, and that floor (~0.4 CPU-s) is now paid once per node, when the
force's relay executor starts, not per message — each message's task is forked from the
preloaded executor. The per-message CPU (target < 0.3 CPU-s) is measured where messages
flow: ``bench_federation`` (``relay_cpu_s_per_message``, real nodes) and ``bench_demo``.
Run: ``.venv/bin/python bench/bench_startup.py`` (about 30 s).
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.harness import report  # noqa: E402

RUNS = 5
PY = sys.executable
CROSSFORCE = [PY, "-m", "federation.cli"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def child_cpu(cmd: list[str], runs: int = RUNS) -> float:
    """Median user+sys CPU seconds of `runs` fresh runs of `cmd` (which must succeed)."""
    samples = []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(cmd, check=True, env=_env(), cwd=ROOT,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        samples.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(samples)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        node = Path(tmp) / "node"
        subprocess.run([*CROSSFORCE, "node", "init", "--force", "lancashire", "--dir",
                        str(node)], check=True, env=_env(), cwd=ROOT,
                       stdout=subprocess.DEVNULL)
        cases = {
            "python_pass": [PY, "-c", "pass"],
            "duckdb_pyarrow": [PY, "-c", "import duckdb, pyarrow"],
            "help": [*CROSSFORCE, "--help"],
            "node_help": [*CROSSFORCE, "node", "--help"],
            "node_status": [*CROSSFORCE, "node", "status", "--dir", str(node)],
            "clientapp": [PY, "-c", "import federation.flower.clientapp"],
            "flwr_clientapp_min": [PY, "-c", "from flwr.clientapp import ClientApp"],
        }
        cpu = {name: child_cpu(cmd) for name, cmd in cases.items()}
    base = cpu["duckdb_pyarrow"]
    figures: dict[str, object] = {f"{k}_cpu_s": v for k, v in cpu.items()}
    for name in ("help", "node_help", "node_status"):
        figures[f"{name}_x"] = cpu[name] / base
    # the relay module's import: once per node (in the executor), no longer per message
    figures["relay_import_over_python_s"] = cpu["clientapp"] - cpu["python_pass"]
    figures["relay_over_flwr_min_s"] = cpu["clientapp"] - cpu["flwr_clientapp_min"]
    figures["runs"] = RUNS
    figures["load_avg_1m"] = os.getloadavg()[0]
    worst = max(cpu["help"], cpu["node_status"]) / base
    report("bench_startup", figures, worst,
           "CPU of the slower of `crossforce --help` and `crossforce node status` / "
           "python -c 'import duckdb, pyarrow', same run",
           target="<= 2 (relay per message: bench_federation)")


if __name__ == "__main__":
    main()
