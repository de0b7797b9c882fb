"""kill -9 in the middle of loading a file leaves the store as it was before that file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
from node_data import DEVICES_CSV, PERSONS_CSV

#: Runs the real ingest and freezes once the file's rows are written, before COMMIT.
LOADER = """
import sys, time
from pathlib import Path
from node.ingest import ingest
from node.store import open_store

node_dir, path, marker = map(Path, sys.argv[1:4])

def progress(p):
    def step(stage):
        if stage == "commit":
            marker.write_text("rows written, not committed")
            time.sleep(600)
    return step

with open_store(node_dir) as (config, con):
    ingest(con, config, [path], progress=progress)
"""


def _calls_csv(path: Path, n: int, offset: int = 0) -> Path:
    duckdb.connect().execute(
        f"COPY (SELECT 'D1' AS device_id, (i + {offset})::VARCHAR AS call_id, "
        "TIMESTAMP '2023-01-01' + to_seconds(i) AS timestamp_utc, 'incoming' AS direction, "
        "'07700 9' || lpad((i % 1000)::VARCHAR, 5, '0') AS number FROM range(?) t(i)) "
        f"TO '{path}' (HEADER)", [n])
    return path


def _kill_mid_load(node: Path, path: Path, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    marker.unlink(missing_ok=True)
    proc = subprocess.Popen([sys.executable, "-c", LOADER, str(node), str(path), str(marker)])
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None, "loader ended before reaching the commit"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()


def test_kill_9_mid_load_leaves_the_store_as_before(cli, node: Path, write, status,
                                                    tmp_path: Path) -> None:
    write("persons.csv", PERSONS_CSV)
    assert cli("node", "ingest", "--dir", node, write("devices.csv", DEVICES_CSV).parent
               ).code == 0
    before = status(node)
    calls = _calls_csv(tmp_path / "calls.csv", 50_000)

    _kill_mid_load(node, calls, tmp_path)

    after = status(node)
    assert after["tables"] == before["tables"]
    assert after["files"] == before["files"]
    con = duckdb.connect(str(node / "node.duckdb"), read_only=True)
    # the genesis entry of `node init` and the two loads before the kill
    assert con.execute("SELECT count(*) FROM ledger").fetchone() == (3,)
    con.close()
    # and the file loads cleanly afterwards
    r = cli("node", "ingest", "--dir", node, calls)
    assert r.code == 0 and status(node)["tables"]["calls"] == 50_000


def test_kill_9_mid_replacement_keeps_the_previous_version(cli, node: Path, write, status,
                                                           query, tmp_path: Path) -> None:
    write("persons.csv", PERSONS_CSV)
    cli("node", "ingest", "--dir", node, write("devices.csv", DEVICES_CSV).parent)
    calls = _calls_csv(tmp_path / "calls.csv", 1_000)
    assert cli("node", "ingest", "--dir", node, calls).code == 0
    _calls_csv(calls, 50_000, offset=7)  # a changed version at the same path

    _kill_mid_load(node, calls, tmp_path)

    assert status(node)["tables"]["calls"] == 1_000
    assert query(node, "SELECT min(call_id::INT) FROM calls") == [(0,)]
