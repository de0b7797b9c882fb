"""Scenario generator throughput: 43 forces x 100,000 persons (target: under 5 minutes).

Baseline, measured in the same run: the naive way — one Faker call per field per person
record (name, date of birth, phone, email, address), timed on a sample and extrapolated.
The baseline makes only person records, the generator makes every table, so the ratio
understates the real speed-up.

    .venv/bin/python bench/bench_scenario.py            # full scale
    .venv/bin/python bench/bench_scenario.py --small    # 5 forces x 20,000, a quick check
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import peak_rss_mb, report, timed  # noqa: E402
from scenario.generate import generate  # noqa: E402

NAIVE_SAMPLE = 3000


def naive_persons(n: int) -> list[dict]:
    """Per-row Faker generation: what a first attempt at a generator looks like."""
    from faker import Faker

    fake = Faker(["en_GB", "en_PK", "ro_RO", "pl_PL"])
    fake.seed_instance(1)
    return [{"name": fake.name(), "dob": fake.date_of_birth(minimum_age=10, maximum_age=70),
             "phone": fake.phone_number(), "email": fake.email(), "address": fake.address()}
            for _ in range(n)]


def _cpu() -> float:
    """CPU seconds of this process and its finished workers (the machine may be shared)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="5 forces x 20,000 persons")
    args = ap.parse_args()
    forces, persons = (5, 20_000) if args.small else (43, 100_000)

    naive_s, _ = timed(lambda: naive_persons(NAIVE_SAMPLE))
    naive_rate = NAIVE_SAMPLE / naive_s

    tmp = Path(tempfile.mkdtemp(prefix="bench-scenario-"))
    try:
        t0, c0 = time.perf_counter(), _cpu()
        summary = generate(tmp / "scenario", forces=forces, persons_per_force=persons,
                           seed=1, progress=True)
        wall, cpu = time.perf_counter() - t0, _cpu() - c0
        size_mb = sum(p.stat().st_size for p in (tmp / "scenario").rglob("*")
                      if p.is_file()) / 1e6
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    total = forces * persons
    rows = sum(sum(c.values()) for c in summary.counts.values())
    rate = total / wall
    report("bench_scenario" + ("--small" if args.small else ""), {
        "forces": forces, "persons": total, "rows_all_tables": rows, "wall_s": wall,
        "cpu_s_all_processes": cpu, "load_avg_1m": os.getloadavg()[0],
        "persons_per_s": rate, "rows_per_s": rows / wall, "output_mb": size_mb,
        "naive_faker_persons_per_s": naive_rate,
        "naive_extrapolated_s": total / naive_rate, "peak_rss_mb_main": peak_rss_mb(),
    }, ratio=rate / naive_rate,
        ratio_meaning="persons/s of the full generator (all tables) vs naive per-row Faker "
                      "person records",
        target="43 x 100k in < 300 s" if not args.small else "")


if __name__ == "__main__":
    main()
