"""Ingest speed: `node ingest` of a calls file against a bare DuckDB read_csv of the same file.

The target (issue 3): 10 million call records load at no less than half the speed of
`CREATE TABLE ... AS SELECT * FROM read_csv(...)` — i.e. ratio = bare time / ingest time
>= 0.5 — while ingest also hashes the file, validates every row, normalises the numbers,
writes the ledger entry and commits in one transaction.

    .venv/bin/python bench/bench_ingest.py [--rows 10000000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import peak_rss_mb, report, timed  # noqa: E402
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


def bare(path: Path, work: Path) -> None:
    con = duckdb.connect(str(work / "bare.duckdb"))
    columns = "{" + ", ".join(f"'{c.name}': '{c.type}'" for c in CALLS.columns) + "}"
    con.execute(f"CREATE OR REPLACE TABLE calls AS SELECT * FROM "
                f"read_csv('{path}', header=true, columns={columns})")
    con.close()


def ours(path: Path, work: Path) -> int:
    from node.ingest import ingest
    from node.store import init_node, open_store

    node_dir = work / "node"
    init_node(node_dir, "Bench")
    with open_store(node_dir) as (config, con):
        ingest(con, config, [path.parent / "devices.csv"])
        (r,) = ingest(con, config, [path])
    assert r.status == "loaded", r
    return r.rows["calls"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=10_000_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_ingest_") as tmp:
        work = Path(tmp)
        data = work / "in" / "calls.csv"
        data.parent.mkdir()
        write_calls(data, args.rows)
        size_mb = data.stat().st_size / 1e6
        t_bare, _ = timed(lambda: bare(data, work))
        t_ours, loaded = timed(lambda: ours(data, work))
        assert loaded == args.rows
        report("bench_ingest", {
            "rows": args.rows, "file_mb": round(size_mb), "bare_read_csv_s": t_bare,
            "node_ingest_s": t_ours, "ingest_rows_per_s": int(args.rows / t_ours),
            "peak_rss_mb": peak_rss_mb()},
            ratio=t_bare / t_ours,
            ratio_meaning="node ingest speed / bare DuckDB read_csv speed on the same file",
            target=">= 0.5")


if __name__ == "__main__":
    main()
