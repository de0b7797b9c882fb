"""Shared bench plumbing: time a thing, print figures and a ratio, append to RESULTS.md.

Every bench compares against a baseline measured in the same run on the same machine, so
the ratio means something on any hardware. No test ever asserts on these numbers.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import time
from collections.abc import Callable
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
