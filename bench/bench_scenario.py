"""Scenario generator throughput: 43 forces x 100,000 persons (target: under 5 minutes).

Baseline, measured in the same run (issue #12 item 5): a vectorised person generator — what
a competent user writes instead of per-row Faker: Faker's own name lists sampled with numpy,
dates of birth, phone numbers, e-mails and addresses built column-wise with Arrow kernels,
one CSV per force. The baseline makes only person records (5 fields); the generator makes
every table of the scenario (crimes, roles, devices, calls, messages, contacts, planted
networks and their truth), so a ratio below 1 is expected: it says what all the rest
costs over person rows alone. The per-row Faker loop is still shown, for scale.

Medians of ``--runs`` (default 3) runs of each, interleaved.

    .venv/bin/python bench/bench_scenario.py            # full scale
    .venv/bin/python bench/bench_scenario.py --small    # 5 forces x 20,000, a quick check
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import peak_rss_mb, report, timed  # noqa: E402
from scenario.generate import generate  # noqa: E402

NAIVE_SAMPLE = 3000
LOCALES = ("en_GB", "en_PK", "ro_RO", "pl_PL")


def _names() -> tuple[pa.Array, pa.Array, pa.Array]:
    """Faker's own given-name, surname and street-suffix lists for the locales."""
    import importlib

    given: set[str] = set()
    family: set[str] = set()
    for locale in LOCALES:
        provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        given.update(provider.first_names)
        family.update(provider.last_names)
    streets = importlib.import_module("faker.providers.address.en_GB").Provider
    return (pa.array(sorted(given)), pa.array(sorted(family)),
            pa.array(sorted(set(streets.street_suffixes))))


def vectorised_persons(n: int, out: Path, seed: int, lists: tuple[pa.Array, ...]) -> None:
    """``n`` person records (name, DOB, phone, e-mail, address) built column-wise and
    written as one CSV: the baseline."""
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    given_all, family_all, suffixes = lists
    rng = np.random.default_rng(seed)
    given = given_all.take(pa.array(rng.integers(0, len(given_all), n)))
    family = family_all.take(pa.array(rng.integers(0, len(family_all), n)))
    dob = pa.array(np.datetime64("1950-01-01") + rng.integers(0, 60 * 365, n)
                   .astype("timedelta64[D]"))
    digits = pc.utf8_lpad(pc.cast(pa.array(rng.integers(0, 10**9, n)), pa.string()), 9, "0")
    phone = pc.binary_join_element_wise("07", digits, "")
    number = pc.cast(pa.array(rng.integers(1, 300, n)), pa.string())
    email = pc.utf8_lower(pc.binary_join_element_wise(
        given, ".", family, pc.cast(pa.array(rng.integers(1, 99, n)), pa.string()),
        "@example.org", ""))
    street = family_all.take(pa.array(rng.integers(0, len(family_all), n)))
    suffix = suffixes.take(pa.array(rng.integers(0, len(suffixes), n)))
    address = pc.binary_join_element_wise(number, street, suffix, " ")
    table = pa.table({"person_id": pa.array(np.arange(n)), "given_names": given,
                      "family_name": family, "dob": dob, "phone": phone, "email": email,
                      "address": address})
    pacsv.write_csv(table, out)


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
    ap.add_argument("--runs", type=int, default=3, help="runs of each (median quoted)")
    args = ap.parse_args()
    forces, persons = (5, 20_000) if args.small else (43, 100_000)
    total = forces * persons

    naive_s, _ = timed(lambda: naive_persons(NAIVE_SAMPLE))
    naive_rate = NAIVE_SAMPLE / naive_s
    lists = _names()
    walls: list[float] = []
    cpus: list[float] = []
    base_walls: list[float] = []
    rows = 0
    size_mb = 0.0
    for run in range(args.runs):
        tmp = Path(tempfile.mkdtemp(prefix="bench-scenario-"))
        try:
            t0 = time.perf_counter()
            for force in range(forces):
                vectorised_persons(persons, tmp / f"force-{force}.csv", run * 100 + force,
                                   lists)
            base_walls.append(time.perf_counter() - t0)
            t0, c0 = time.perf_counter(), _cpu()
            summary = generate(tmp / "scenario", forces=forces, persons_per_force=persons,
                               seed=1 + run, progress=False)
            walls.append(time.perf_counter() - t0)
            cpus.append(_cpu() - c0)
            size_mb = sum(p.stat().st_size for p in (tmp / "scenario").rglob("*")
                          if p.is_file()) / 1e6
            rows = sum(sum(c.values()) for c in summary.counts.values())
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    wall, base = statistics.median(walls), statistics.median(base_walls)
    rate = total / wall
    report("bench_scenario" + ("--small" if args.small else ""), {
        "forces": forces, "persons": total, "rows_all_tables": rows, "runs": args.runs,
        "wall_s": wall, "wall_runs_s": "/".join(f"{w:.1f}" for w in walls),
        "cpu_s_all_processes": statistics.median(cpus), "load_avg_1m": os.getloadavg()[0],
        "persons_per_s": rate, "rows_per_s": rows / wall, "output_mb": size_mb,
        "vectorised_persons_only_per_s": total / base, "vectorised_persons_only_s": base,
        "naive_faker_persons_per_s": naive_rate,
        "naive_extrapolated_s": total / naive_rate, "peak_rss_mb_main": peak_rss_mb(),
    }, ratio=rate / (total / base),
        ratio_meaning="persons/s of the full generator (every table) / a vectorised "
                      "person-records-only generator, medians",
        target="43 x 100k in < 300 s" if not args.small else "")


if __name__ == "__main__":
    main()
