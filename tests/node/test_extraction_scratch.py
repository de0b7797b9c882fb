"""An extraction is read into a scratch file beside the store, committed batch by batch
outside the store's transaction (node.extraction.scratch), so memory does not grow with
the report; the store itself is still written all or nothing, and the scratch file never
outlives the load nor sits outside the node's folder."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from node_data import ufdr_xml

import node.extraction.load as load
import node.extraction.rows as rows
from node.extraction.scratch import Scratch


def _calls(n: int, first: int = 0) -> list[dict[str, str]]:
    return [{"id": f"c{i}", "direction": ("Incoming", "Outgoing")[i % 2],
             "number": f"07700 900{i % 1000:03d}", "time": "2023-01-01T10:00:00Z"}
            for i in range(first, first + n)]


def _leftovers(node: Path) -> list[str]:
    return sorted(p.name for p in node.iterdir() if ".extraction-" in p.name)


@pytest.fixture
def scratch_rows(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Path, int]]:
    """(scratch file, calls it held) for each scratch file removed, read just before its
    removal; small batches, so a report is many commits to its scratch file."""
    monkeypatch.setattr(rows, "BATCH", 100)
    seen: list[tuple[Path, int]] = []
    real = Scratch.remove

    def remove(self: Scratch) -> None:
        if self.attached_to is None and self.path.exists():  # the read failed
            with duckdb.connect(str(self.path), read_only=True) as c:
                seen.append((self.path, c.execute("SELECT count(*) FROM x_calls"
                                                  ).fetchall()[0][0]))
        else:
            seen.append((self.path, -1))
        real(self)

    monkeypatch.setattr(Scratch, "remove", remove)
    return seen


def test_a_report_cut_half_way_leaves_the_store_as_it_was(
        cli, node: Path, make_ufdr, query, scratch_rows) -> None:  # noqa: ANN001
    path = make_ufdr("EXH-7.ufdr", calls=_calls(3), messages=[], contacts=[])
    assert cli("node", "ingest", "--dir", node, path).code == 0
    before = query(node, "SELECT call_id, number FROM calls ORDER BY 1")
    assert len(before) == 3
    xml = ufdr_xml(_calls(2000, first=100), [], [])
    make_ufdr("EXH-7.ufdr", xml=xml[: len(xml) * 3 // 4])  # a new version, cut in its calls
    r = cli("node", "ingest", "--dir", node, path)
    assert r.code == 2 and "EXH-7.ufdr" in r.err and "truncated XML" in r.err, r
    # the cut version reached its scratch file in committed batches, and no further
    (_, held), = scratch_rows[1:]
    assert 1000 <= held < 2000, held
    assert query(node, "SELECT call_id, number FROM calls ORDER BY 1") == before
    assert query(node, "SELECT count(*) FROM source_files") == [(1,)]
    assert query(node, "SELECT DISTINCT event_id FROM event_parties ORDER BY 1") == [
        ("c0",), ("c1",), ("c2",)]
    assert _leftovers(node) == []


def test_a_report_refused_at_its_checks_leaves_nothing(
        cli, node: Path, make_ufdr, status, scratch_rows) -> None:  # noqa: ANN001
    """Refused after the scratch file is attached: the same call id twice."""
    before = status(node)["tables"]
    calls = _calls(500)
    calls[400] = {**calls[400], "id": "c7"}
    r = cli("node", "ingest", "--dir", node,
            make_ufdr("EXH-8.ufdr", calls=calls, messages=[], contacts=[]))
    assert r.code == 2 and "nothing loaded" in r.out + r.err, r
    assert "c7" in r.out + r.err
    assert status(node)["tables"] == before
    (path, held), = scratch_rows
    assert held == -1 and path.parent == node  # attached, then removed: beside the store
    assert _leftovers(node) == []


def test_a_loaded_report_keeps_every_row_and_no_scratch_file(
        cli, node: Path, make_ufdr, query, scratch_rows) -> None:  # noqa: ANN001
    r = cli("node", "ingest", "--dir", node,
            make_ufdr("EXH-9.ufdr", calls=_calls(1234), messages=[], contacts=[]))
    assert r.code == 0, r
    assert query(node, "SELECT count(*), count(DISTINCT call_id), "
                       "count(*) FILTER (direction = 'outgoing'), count(number_e164), "
                       "min(number_e164), max(number_e164) FROM calls") == [
        (1234, 1234, 617, 1234, "+447700900000", "+447700900999")]
    assert query(node, "SELECT count(*) FROM event_parties") == [(2468,)]
    assert _leftovers(node) == []


def test_languages_detected_in_parts_match_one_pass(
        node: Path, make_ufdr, loaded, query, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    """Bodies are detected a part at a time (bounded lists): the same answers."""
    monkeypatch.setattr(load, "LANGUAGE_PART", 2)  # 5 messages: 3 parts
    bodies = ["Gdzie jesteś? Zadzwoń do mnie", "paise kab doge yaar",
              "Gdzie jesteś? Zadzwoń do mnie", "where are you, call me when you can", ""]
    messages = [{"id": f"x{i}", "direction": "Incoming", "number": "07700900123",
                 "body": b, "time": "2023-01-03T21:00:00Z"} for i, b in enumerate(bodies)]
    report = loaded(node, make_ufdr(messages=messages, calls=[], contacts=[]))
    assert report["flags"]["language"] == {"pl": 2, "en": 1, "ur-Latn": 1, "und": 1}
    assert query(node, "SELECT message_id, language FROM messages ORDER BY 1") == [
        ("x0", "pl"), ("x1", "ur-Latn"), ("x2", "pl"), ("x3", "en"), ("x4", "und")]


#: the real ingest of one extraction, frozen once its rows are in the scratch file
_LOADER = """
import sys, time
from pathlib import Path
from node.ingest import ingest
from node.store import open_store

node_dir, path, marker = map(Path, sys.argv[1:4])

def progress(p):
    def step(stage):
        if stage == "write":
            marker.write_text("read into scratch, staged, not stored")
            time.sleep(600)
    return step

with open_store(node_dir) as (config, con):
    ingest(con, config, [path], progress=progress)
"""


def test_kill_9_mid_extraction_leaves_the_store_and_the_next_load_sweeps_the_scratch(
        cli, node: Path, make_ufdr, status, query, tmp_path: Path) -> None:  # noqa: ANN001
    import os
    import signal
    import subprocess
    import sys
    import time

    before = status(node)["tables"]
    marker = tmp_path / "marker"
    proc = subprocess.Popen([sys.executable, "-c", _LOADER, str(node), str(
        make_ufdr("EXH-5.ufdr", calls=_calls(300), messages=[], contacts=[])), str(marker)])
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None, "loader ended before staging"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert _leftovers(node)  # the scratch file, beside the store
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert status(node)["tables"] == before
    r = cli("node", "ingest", "--dir", node,
            make_ufdr("EXH-6.ufdr", calls=_calls(2), messages=[], contacts=[]))
    assert r.code == 0, r
    assert _leftovers(node) == []  # the dead load's scratch file went with the next load
    assert query(node, "SELECT device_id, count(*) FROM calls GROUP BY 1") == [("EXH-6", 2)]
