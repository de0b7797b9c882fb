"""Shared bench plumbing: time a thing, print figures and a ratio, append to RESULTS.md.

Every bench compares against a baseline measured in the same run on the same machine, so
the ratio means something on any hardware. No test ever asserts on these numbers.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("RESULTS.md")


def timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    """Best wall time of `repeat` runs (seconds) and the last result."""
    best = float("inf")
    result = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(bench: str, figures: dict[str, Any], ratio: float, ratio_meaning: str,
           target: str = "") -> None:
    """Print the figures and append one dated line to bench/RESULTS.md."""
    shown = ", ".join(f"{k}={_fmt(v)}" for k, v in figures.items())
    line = (f"- {dt.date.today().isoformat()} `{bench}` ({os.cpu_count()} cores, "
            f"{platform.python_version()}): {shown}; **ratio {ratio:.2f}** ({ratio_meaning})")
    if target:
        line += f"; target {target}"
    print(line)
    if not RESULTS.exists():
        RESULTS.write_text("# Bench results\n\nNewest last. Written by `make bench`.\n\n")
    with RESULTS.open("a") as f:
        f.write(line + "\n")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.3g}" if abs(v) < 1000 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def median_of(fn: Callable[[], float], runs: int = 3) -> tuple[float, list[float]]:
    """Median of ``runs`` calls of ``fn`` (each returns its own measure, e.g. seconds),
    and the samples: benches quote medians of >= 3 runs, not best cases."""
    import statistics

    samples = [float(fn()) for _ in range(runs)]
    return statistics.median(samples), samples


def median_timed(fn: Callable[[], Any], runs: int = 3) -> tuple[float, float, Any]:
    """Median wall and median CPU seconds (this process, all threads) of ``runs`` calls
    of ``fn``, and the last result."""
    import statistics

    walls, cpus, result = [], [], None
    for _ in range(runs):
        c0, t0 = time.process_time(), time.perf_counter()
        result = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus), result


def load_avg() -> float:
    """The 1-minute load average now (the machine is shared: quote it with every figure)."""
    return os.getloadavg()[0]


@dataclass
class Sampled:
    """One measured thing over several runs: median wall and CPU seconds, the samples,
    and the last run's result."""

    wall: float
    cpu: float
    walls: list[float]
    result: Any

    def runs_text(self) -> str:
        """The wall samples as ``1.23/1.31/1.19`` (for the RESULTS line)."""
        return "/".join(f"{s:.3g}" for s in self.walls)


def cpu_seconds() -> float:
    """CPU seconds of this process (all threads) and its finished children."""
    import resource

    me, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF,
                                                 resource.RUSAGE_CHILDREN))
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def interleaved(fns: Mapping[str, Callable[[], Any]], runs: int = 3) -> dict[str, Sampled]:
    """Run every function of ``fns`` once per round, ``runs`` rounds, in order, so a
    change in the machine's load falls on the baseline and the product alike; per name
    the median wall and CPU seconds (``Sampled``)."""
    import statistics

    walls: dict[str, list[float]] = {name: [] for name in fns}
    cpus: dict[str, list[float]] = {name: [] for name in fns}
    results: dict[str, Any] = {}
    for _ in range(runs):
        for name, fn in fns.items():
            c0, t0 = cpu_seconds(), time.perf_counter()
            results[name] = fn()
            walls[name].append(time.perf_counter() - t0)
            cpus[name].append(cpu_seconds() - c0)
    return {name: Sampled(statistics.median(walls[name]), statistics.median(cpus[name]),
                          walls[name], results[name]) for name in fns}


def runs_arg(default: int = 3) -> int:
    """``--runs N`` from the command line (other arguments left to the bench); at least 3
    unless asked otherwise, since RESULTS quotes medians of >= 3."""
    import sys

    if "--runs" in sys.argv:
        at = sys.argv.index("--runs")
        try:
            value = int(sys.argv[at + 1])
        except (IndexError, ValueError):
            raise SystemExit("--runs needs a whole number, e.g. --runs 3") from None
        del sys.argv[at:at + 2]
        return value
    return default
