"""Speed of `node analyse contacts` and `node analyse common` over many call records.

Target (issue 13): contacts and common contacts over 10 million call records in under 30 s
on 2 cores. The store is filled straight through DuckDB (ingest has its own bench): N calls
on N / 5,000 seized phones; each call goes to one of 20 hubs (10%), one of 20 numbers of
the phone's group of five (20%) or one of 200 numbers of the phone's own (70%), at a random
time in 2023. Both analyses run through their real functions inside ``consult`` (store
opened, transaction rolled back, ledger entry written) over every phone of the node: the
heaviest case, every device a subject. Baseline, in the same run on the same store: the
bare ``SELECT device_id, number_e164, count(*) FROM calls GROUP BY ALL`` an analyst would
write for "who calls whom, how often". Ratio = product s / baseline s.

    .venv/bin/python bench/bench_analyses_contacts.py [--calls 10000000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import interleaved, load_avg, peak_rss_mb, report, runs_arg  # noqa: E402

HUBS, GROUP, OWN = 20, 20, 200


def fill(node: Path, calls: int, seed: int = 13) -> int:
    """Write ``calls`` call records on generated devices into the node's store."""
    rng = np.random.default_rng(seed)
    devices = max(20, calls // 5000)
    device = rng.integers(0, devices, calls)
    kind = rng.random(calls)
    # number ids: hubs first, then each group's numbers, then each phone's own
    groups = devices // 5 + 1
    party = np.where(kind < 0.1, rng.integers(0, HUBS, calls),
                     np.where(kind < 0.3, HUBS + (device // 5) * GROUP
                              + rng.integers(0, GROUP, calls),
                              HUBS + groups * GROUP + device * OWN
                              + rng.integers(0, OWN, calls)))
    numbers = pa.array([f"+447{700000000 + i:09d}" for i in range(
        HUBS + groups * GROUP + devices * OWN)], pa.string())
    ids = pa.array([f"B-D{i:06d}" for i in range(devices)], pa.string())
    start = np.datetime64("2023-01-01T00:00:00", "s")
    table = pa.table({
        "device_id": pa.DictionaryArray.from_arrays(pa.array(device, pa.int32()), ids
                                                    ).cast(pa.string()),
        "call_id": pa.array(np.arange(calls).astype(str)),
        "timestamp_utc": pa.array(start + rng.integers(0, 365 * 86400, calls).astype(
            "timedelta64[s]")),
        "direction": pa.DictionaryArray.from_arrays(
            pa.array(rng.integers(0, 3, calls), pa.int32()),
            pa.array(["incoming", "outgoing", "missed"])).cast(pa.string()),
        "number_e164": pa.DictionaryArray.from_arrays(pa.array(party, pa.int32()), numbers
                                                      ).cast(pa.string()),
        "duration_s": pa.array(rng.integers(0, 600, calls), pa.int32()),
    })
    con = duckdb.connect(str(node / "node.duckdb"))
    con.register("gen", table)
    con.execute("""INSERT INTO devices (device_id, timezone, source_file)
                   SELECT DISTINCT device_id, 'Europe/London', 0 FROM gen""")
    con.execute("""INSERT INTO calls (device_id, call_id, timestamp_utc, direction, number,
                   duration_s, app, deleted, number_e164, source_file)
                   SELECT device_id, call_id, timestamp_utc, direction, number_e164,
                          duration_s, 'Phone', false, number_e164, 0 FROM gen""")
    con.close()
    return devices


def baseline(node: Path) -> int:
    con = duckdb.connect(str(node / "node.duckdb"), read_only=True)
    try:
        return con.execute("""SELECT count(*) FROM (SELECT device_id, number_e164, count(*)
                              FROM calls GROUP BY ALL)""").fetchone()[0]
    finally:
        con.close()


def run_contacts(node: Path, one: str | None = None) -> dict[str, int]:
    """Contacts of every device (each alone), or of the one device named."""
    from node.analyses import consult, resolve_devices
    from node.analyses.contacts import contacts

    with consult(node, "contacts", {"bench": True}) as (con, counts):
        subjects = {one: [one]} if one else resolve_devices(con)
        result = contacts(con, subjects, (None, None), (22 * 60, 6 * 60), 10, 0.05)
        counts.update({"pairs": result.summary["pairs"]})
    return result.summary


def run_common(node: Path) -> dict[str, int]:
    from node.analyses import consult, resolve_devices
    from node.analyses.common import common

    with consult(node, "common", {"bench": True}) as (con, counts):
        result = common(con, resolve_devices(con), (None, None))
        counts.update({"common": result.summary["common_contacts"]})
    return result.summary


def main() -> None:
    runs = runs_arg()
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=10_000_000)
    args = ap.parse_args()
    from node.store import init_node

    with tempfile.TemporaryDirectory() as tmp:
        node = Path(tmp) / "node"
        init_node(node, "Benchshire")
        t0 = time.perf_counter()
        devices = fill(node, args.calls)
        fill_s = time.perf_counter() - t0
        s = interleaved({"base": lambda: baseline(node),
                         "contacts": lambda: run_contacts(node),
                         "one": lambda: run_contacts(node, "B-D000000"),
                         "common": lambda: run_common(node)}, runs)
        base_s, base_pairs = s["base"].wall, s["base"].result
        contacts_s, c = s["contacts"].wall, s["contacts"].result
        one_s, common_s, m = s["one"].wall, s["common"].wall, s["common"].result
        assert c["pairs"] == base_pairs, (c["pairs"], base_pairs)
        figures = {"calls": args.calls, "devices": devices, "pairs": c["pairs"], "runs": runs,
                   "contacts_runs_s": s["contacts"].runs_text(),
                   "common_runs_s": s["common"].runs_text(),
                   "base_runs_s": s["base"].runs_text(), "load_avg_1m": load_avg(),
                   "fill_s": fill_s, "bare_group_by_s": base_s, "contacts_s": contacts_s,
                   "contacts_one_device_s": one_s, "common_s": common_s,
                   "unusual_night_pairs": c["unusual_night_pairs"],
                   "common_contacts": m["common_contacts"], "hubs": m["hubs"],
                   "hub_threshold": m["hub_threshold"], "peak_rss_mb": peak_rss_mb()}
        report("bench_analyses_contacts", figures, max(contacts_s, common_s) / base_s,
               "slower of contacts and common, every device a subject / bare DuckDB "
               "GROUP BY device, number, medians, interleaved",
               "contacts and common over 10M calls < 30 s each")


if __name__ == "__main__":
    main()
