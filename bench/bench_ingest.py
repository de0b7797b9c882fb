"""Ingest speed: `node ingest` of a calls file against a bare DuckDB read_csv of the same file.

The target (issue 3, again issue 12 item 3): 10 million call records load at no less than
half the speed of `CREATE TABLE ... AS SELECT * FROM read_csv(...)` — i.e. ratio = bare
time / ingest time >= 0.5 — while ingest also hashes the file, validates every row,
normalises the numbers, writes each party's kind, normalised form and number flag, the
ledger entry, and commits in one transaction.

Both sides run ``--runs`` times (default 3), alternating, each into a fresh store; the
ratio is of the medians. Wall time follows the machine's load (the 2 cores are shared), so
CPU seconds (user + system, all threads) and the load average are printed beside it.

    .venv/bin/python bench/bench_ingest.py [--rows 10000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import peak_rss_mb, report  # noqa: E402
from federation.layout import CALLS  # noqa: E402

DEVICES = 2_000
DISTINCT_NUMBERS = 200_000


def write_calls(path: Path, rows: int) -> None:
    """Realistic-looking calls: UK mobiles in several spellings, short codes, 'Voicemail'."""
    duckdb.connect().execute(f"""
        COPY (
          SELECT 'DEV' || (i % {DEVICES}) AS device_id,
                 i::VARCHAR AS call_id,
                 TIMESTAMP '2022-01-01' + to_seconds(i % 63072000) AS timestamp_utc,
                 ['incoming', 'outgoing', 'missed', 'unknown'][1 + i % 4] AS direction,
                 CASE WHEN i % 97 = 0 THEN 'Voicemail'
                      WHEN i % 89 = 0 THEN '121'
                      ELSE [ '07700 ', '+44 7700 ', '00447700', '07700-' ][1 + (i // 7) % 4]
                           || lpad(((i * 7919) % {DISTINCT_NUMBERS})::VARCHAR, 6, '0') END
                   AS number,
                 CASE WHEN i % 3 = 0 THEN 'Contact ' || (i % 5000) END AS name,
                 (i % 900)::INTEGER AS duration_s,
                 ['Phone', 'WhatsApp', 'Telegram'][1 + i % 3] AS app,
                 i % 50 = 0 AS deleted
          FROM range({rows}) t(i)
        ) TO '{path}' (HEADER)""")
    # a force's device export says which country its phones dial in (without it national
    # numbers stay raw, and the bench would skip the normalising it is meant to measure)
    (path.parent / "devices.csv").write_text(
        "device_id,region\n" + "".join(f"DEV{i},GB\n" for i in range(DEVICES)))


def bare(path: Path, work: Path) -> int:
    con = duckdb.connect(str(work / "bare.duckdb"))
    columns = "{" + ", ".join(f"'{c.name}': '{c.type}'" for c in CALLS.columns) + "}"
    con.execute(f"CREATE OR REPLACE TABLE calls AS SELECT * FROM "
                f"read_csv('{path}', header=true, columns={columns})")
    rows = int(con.execute("SELECT count(*) FROM calls").fetchall()[0][0])
    con.close()
    return rows


def prepare_node(path: Path, work: Path) -> None:
    """A node that knows the devices (untimed: the bench times the calls file)."""
    from node.ingest import ingest
    from node.store import init_node, open_store

    init_node(work / "node", "Bench")
    with open_store(work / "node") as (config, con):
        ingest(con, config, [path.parent / "devices.csv"])


def ours(path: Path, work: Path) -> int:
    """`node ingest` of the calls file as the CLI runs it: open the store, load, close."""
    from node.ingest import ingest
    from node.store import open_store

    with open_store(work / "node") as (config, con):
        (r,) = ingest(con, config, [path])
    assert r.status == "loaded", r
    return r.rows["calls"]


def _cpu_s() -> float:
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def _run(fn: Callable[[Path, Path], int], data: Path, work: Path) -> tuple[float, float, int]:
    """(wall s, CPU s, rows) of one load into a fresh folder, removed afterwards."""
    work.mkdir()
    try:
        if fn is ours:
            prepare_node(data, work)
        t0, c0 = time.perf_counter(), _cpu_s()
        rows = fn(data, work)
        return time.perf_counter() - t0, _cpu_s() - c0, rows
    finally:
        shutil.rmtree(work)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_ingest_") as tmp:
        work = Path(tmp)
        data = work / "in" / "calls.csv"
        data.parent.mkdir()
        write_calls(data, args.rows)
        size_mb = data.stat().st_size / 1e6
        loads = [os.getloadavg()[0]]
        runs: dict[str, list[tuple[float, float]]] = {"bare": [], "ours": []}
        for i in range(args.runs):  # alternate, so drift in the load hits both sides
            order = (("bare", bare), ("ours", ours)) if i % 2 == 0 else \
                (("ours", ours), ("bare", bare))
            for name, fn in order:
                wall, cpu, loaded = _run(fn, data, work / f"{name}{i}")
                assert loaded == args.rows, (name, loaded)
                runs[name].append((wall, cpu))
                print(f"  run {i + 1} {name}: {wall:.1f} s wall, {cpu:.1f} CPU s, "
                      f"load {os.getloadavg()[0]:.1f}", flush=True)
                loads.append(os.getloadavg()[0])
        t_bare = statistics.median(w for w, _ in runs["bare"])
        t_ours = statistics.median(w for w, _ in runs["ours"])
        c_bare = statistics.median(c for _, c in runs["bare"])
        c_ours = statistics.median(c for _, c in runs["ours"])
        report("bench_ingest", {
            "rows": args.rows, "file_mb": round(size_mb), "runs": args.runs,
            "bare_read_csv_s": t_bare, "node_ingest_s": t_ours,
            "bare_runs_s": "/".join(f"{w:.1f}" for w, _ in runs["bare"]),
            "ingest_runs_s": "/".join(f"{w:.1f}" for w, _ in runs["ours"]),
            "bare_cpu_s": c_bare, "ingest_cpu_s": c_ours,
            "cpu_ratio": round(c_bare / c_ours, 2),
            "ingest_rows_per_s": int(args.rows / t_ours), "peak_rss_mb": peak_rss_mb(),
            "load_avg_1m": f"{min(loads):.1f}-{max(loads):.1f}"},
            ratio=t_bare / t_ours,
            ratio_meaning="median node ingest speed / median bare DuckDB read_csv speed, "
                          "same file, runs alternating",
            target=">= 0.5")


if __name__ == "__main__":
    main()
