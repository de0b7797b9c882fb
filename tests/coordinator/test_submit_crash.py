"""kill -9 between the coordinator's ingest and its ledger write: the payload is in both the
store and the ledger, or in neither — never content without its collection entry.

A real ``submit_payload`` runs in a child process on a real coordinator; the child freezes
at the ledger write (before the entry is inserted, or after it but before COMMIT) and is
killed with SIGKILL. The parent then opens the store as the next process would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from tests.federation.audit_world import FORCES, node_dir, world_template
from tests.node.egress_nodes import run

#: Ingests one payload and freezes inside the ledger write of its collection entry.
SUBMITTER = """
import sys, time
from pathlib import Path
from coordinator.store import open_store
from coordinator.submit import submit_payload
from federation.ledger import Ledger

coord, payload, marker, when = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
original = Ledger.append

def freeze(self, action, **kw):
    if action == "collection" and when == "before":
        marker.write_text("content written, ledger entry not")
        time.sleep(600)
    entry = original(self, action, **kw)
    if action == "collection":
        marker.write_text("content and ledger entry written, not committed")
        time.sleep(600)
    return entry

Ledger.append = freeze
with open_store(coord) as store:
    submit_payload(store, payload.read_bytes())
"""


def kill_mid_submit(coord: Path, payload: Path, marker: Path, when: str) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-c", SUBMITTER, str(coord), str(payload),
                             str(marker), when], env=env)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None, "the submitter exited before the ledger write"
            assert time.monotonic() < deadline, "the submitter never reached the ledger write"
            time.sleep(0.05)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


def held(coord: Path) -> tuple[int, int, int]:
    """(submissions, content items, collection entries) the store holds."""
    with duckdb.connect(str(coord / "coordinator.duckdb"), read_only=True) as con:
        return con.execute(
            "SELECT (SELECT count(*) FROM submissions), (SELECT count(*) FROM items), "
            "(SELECT count(*) FROM ledger WHERE action = 'collection')").fetchone()


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_crash_at_the_ledger_write_leaves_the_payload_in_neither(
        cli, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, when: str) -> None:
    world = world_template(tmp_path_factory)
    force = FORCES[0]
    coord = tmp_path / "coordinator"
    run("coordinator", "init", "--dir", coord)
    run("coordinator", "register", "--dir", coord, "--force", force, "--public-key",
        node_dir(world, force) / "keys" / "public.json")
    payload = world / "out" / f"{force}.cfsub"

    kill_mid_submit(coord, payload, tmp_path / "marker", when)
    assert held(coord) == (0, 0, 0)

    # the next attempt goes through whole: content and its entry, under the node's hash
    assert cli("coordinator", "submit", "--dir", coord, payload).code == 0
    submissions, items, collections = held(coord)
    assert (submissions, collections) == (1, 1) and items > 0
    with duckdb.connect(str(coord / "coordinator.duckdb"), read_only=True) as con:
        stored = con.execute("SELECT content_hash FROM submissions").fetchone()
        logged = con.execute("SELECT payload_hash FROM ledger "
                             "WHERE action = 'collection'").fetchone()
    with duckdb.connect(str(node_dir(world, force) / "node.duckdb"), read_only=True) as con:
        disclosed = con.execute("SELECT payload_hash FROM ledger "
                                "WHERE action = 'disclosure'").fetchone()
    assert stored == logged == disclosed
