"""The service's ledger journal file (federation/ledger_journal.py): an answered request's
entry survives a SIGKILL and reaches the ledger exactly once at the next start; a torn
last record is dropped with a clear message and the rest kept; an entry altered in the
journal, or after it was folded, is caught by `audit verify`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import zlib
from collections import Counter
from pathlib import Path

import httpx
import pytest

from coordinator.store import open_store
from federation.ledger import LedgerEntry, entry_row, read_entries, verify_ledger
from federation.ledger_journal import JournalFiles, journal_dir, read_journal, segments
from tests.coordinator.coordinator_payloads import federation_template  # noqa: F401
from tests.coordinator.served_api import LISTENING, Api, add_user, serving
from tests.coordinator.two_networks import build
from tests.spawned import start, stop_all


@pytest.fixture(scope="module")
def linked(tmp_path_factory: pytest.TempPathFactory, federation_template: Path  # noqa: F811
           ) -> Path:
    return build(federation_template, tmp_path_factory.mktemp("jfile") / "fed").dir


@pytest.fixture
def coord(linked: Path, tmp_path: Path) -> Path:
    directory = tmp_path / "coordinator"
    shutil.copytree(linked, directory)
    return directory


def consultation(n: int) -> dict[str, object]:
    return {"action": "consultation", "actor": "api:tester (analyst)", "purpose": "op-test",
            "justification": f"GET /v1/networks request {n}",
            "counts": {"status": 200, "results": 1}}


def journaled(directory: Path, n: int, batches: int = 2) -> list[LedgerEntry]:
    """``n`` signed entries after the ledger's head, journaled in ``batches`` appends and
    not folded: what a service killed between two folds leaves."""
    with open_store(directory) as store:
        made = store.ledger.make_entries([consultation(i) for i in range(n)])
    files = JournalFiles(journal_dir(directory))
    step = -(-n // batches)
    for i in range(0, n, step):
        files.append([entry_row(e) for e in made[i:i + step]])
    files.close(all_folded=False)
    return made


def segment(directory: Path) -> Path:
    written = [p for _, p in segments(journal_dir(directory))
               if p.read_bytes().rstrip(b"\0")]
    assert len(written) == 1
    return written[0]


def cli(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "federation.cli", *map(str, args)],
                          capture_output=True, text=True, env={**os.environ,
                                                               "COLUMNS": "200"})


def audit_verify(directory: Path) -> tuple[int, dict]:
    done = cli("audit", "verify", directory / "coordinator.duckdb", "--public-key",
               directory / "keys", "--json")
    return done.returncode, json.loads(done.stdout)


def consultations(directory: Path) -> list[LedgerEntry]:
    with open_store(directory) as store:
        return [e for e in read_entries(store.con) if e.action == "consultation"]


@pytest.mark.parametrize("fold_s", ["3600", "0.05"], ids=["never-folded", "folding"])
def test_answered_requests_survive_a_sigkill_and_are_folded_exactly_once(
        coord: Path, fold_s: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Real service, real HTTP, SIGKILL mid-load (no shutdown, no fold): the next `serve`
    folds the journal at start-up; every answered request is in the ledger once."""
    monkeypatch.setenv("CROSSFORCE_LEDGER_FOLD_S", fold_s)
    key = add_user(coord, "crash-analyst", "analyst")
    auditor = add_user(coord, "crash-auditor", "auditor")
    process = start([sys.executable, "-m", "federation.cli"], "coordinator", "serve",
                    "--dir", coord, "--port", 0, "--no-console")
    answered: list[str] = []
    stop = threading.Event()
    try:
        url = ""
        while not url:
            line = process.stdout.readline() if process.stdout else ""
            assert line or process.poll() is None, "coordinator serve did not start"
            found = LISTENING.search(line)
            url = found.group(1) if found else ""

        def ask(n: int) -> None:
            with httpx.Client(base_url=url, timeout=30.0) as client:
                i = 0
                while not stop.is_set():
                    why = f"journal crash check {n}-{i}"
                    try:
                        reply = client.get("/v1/networks", headers={
                            "Authorization": f"Bearer {key}", "X-Purpose": "op-test",
                            "X-Justification": why})
                    except httpx.HTTPError:
                        return  # killed mid-request: never answered
                    if reply.status_code == 200:
                        answered.append(why)
                    i += 1

        threads = [threading.Thread(target=ask, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        while len(answered) < 80:
            stop.wait(0.05)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    finally:
        stop.set()
        stop_all([process])
    for t in threads:
        t.join()
    left = read_journal(journal_dir(coord))
    if fold_s == "3600":  # nothing was folded: every answered entry is in the journal only
        held = {r.row[10].rsplit(": ", 1)[-1] for r in left.records}
        assert set(answered) <= held
    with serving(coord, "--no-console") as url:  # folds what the journal holds first
        assert not read_journal(journal_dir(coord)).records
        check = Api(url, auditor, "AUDIT", "after the crash: is the ledger whole").get(
            "/v1/ledger/verify")
        assert check.status_code == 200 and check.json()["ok"], check.text
    code, report = audit_verify(coord)
    assert code == 0 and report["ok"], report["problems"]
    logged = Counter(e.justification.rsplit(": ", 1)[-1] for e in consultations(coord))
    assert len(answered) >= 80
    assert [why for why in answered if logged[why] != 1] == []  # each exactly once
    ids = Counter(e.entry_id for e in consultations(coord))
    assert max(ids.values()) == 1


def test_a_torn_last_record_is_dropped_with_a_message_and_the_rest_kept(coord: Path
                                                                        ) -> None:
    made = journaled(coord, 10)
    path = segment(coord)
    cut = entry_row(made[-1])
    from federation.ledger_journal import encode

    end = len(path.read_bytes().rstrip(b"\0"))
    with path.open("r+b") as f:  # an 11th record, cut short by a crash mid-write
        f.seek(end)
        f.write(encode([cut[0] + 1, "f" * 32, *cut[2:]])[:120])
    done = cli("coordinator", "status", "--dir", coord, "--json")
    assert done.returncode == 0, done.stderr
    assert f"{path} line 11: torn record at the end" in done.stderr
    assert "dropped, the records before it kept" in done.stderr
    kept = [e.entry_id for e in consultations(coord)]
    assert [e.entry_id for e in made] == kept[-10:]  # all ten, in order, once
    assert not segments(journal_dir(coord))          # folded and removed
    code, report = audit_verify(coord)
    assert code == 0 and report["ok"], report["problems"]


def test_folding_twice_doubles_nothing(coord: Path) -> None:
    """A crash after the fold's commit but before the segment's removal: the next open
    finds the same records again and skips them by entry id."""
    made = journaled(coord, 12, batches=3)
    path = segment(coord)
    saved = path.read_bytes()
    with open_store(coord):
        pass  # folds, removes the segment
    path.write_bytes(saved)  # the removal "lost"
    with open_store(coord) as store:
        report = verify_ledger(store.con, store.keys.signer.public_key)
        assert report.ok, report.problems
    ids = Counter(e.entry_id for e in consultations(coord))
    assert all(ids[e.entry_id] == 1 for e in made)


def _rewrite(path: Path, line: int, change: dict[str, object], fix_checksum: bool) -> None:
    lines = path.read_bytes().split(b"\n")
    body = json.loads(lines[line - 1][9:])
    body.update(change)
    new = json.dumps(body, separators=(",", ":")).encode()
    crc = zlib.crc32(new) if fix_checksum else int(lines[line - 1][:8], 16)
    lines[line - 1] = b"%08x %s" % (crc, new)
    path.write_bytes(b"\n".join(lines))


def test_an_entry_altered_in_the_journal_is_caught_by_verify(coord: Path) -> None:
    made = journaled(coord, 6)
    _rewrite(segment(coord), 3, {"justification": "GET /v1/networks nothing to see"},
             fix_checksum=True)  # whoever edits the file can recompute a CRC
    code, report = audit_verify(coord)  # folds (the audit command), then checks
    assert code == 1
    assert [(p["kind"], p["entry_id"]) for p in report["problems"]] == [
        ("changed", made[2].entry_id)]


def test_a_damaged_record_inside_the_journal_is_named_and_verify_shows_the_gap(
        coord: Path) -> None:
    made = journaled(coord, 6)
    path = segment(coord)
    _rewrite(path, 3, {"justification": "edited"}, fix_checksum=False)
    done = cli("audit", "verify", coord / "coordinator.duckdb", "--public-key",
               coord / "keys", "--json")
    assert f"{path} line 3: unreadable record (checksum does not match); not folded" \
        in done.stderr
    report = json.loads(done.stdout)
    assert done.returncode == 1
    assert [(p["kind"], p["entry_id"]) for p in report["problems"]] == [
        ("removed", made[3].entry_id)]  # the entry after the one lost names the gap
    kept = {e.entry_id for e in consultations(coord)}
    assert {e.entry_id for e in made} - kept == {made[2].entry_id}


def test_an_entry_altered_after_it_was_folded_is_caught_by_verify(coord: Path) -> None:
    made = journaled(coord, 4)
    with open_store(coord) as store:  # folds
        store.con.execute("UPDATE ledger SET justification = 'GET /v1/networks tidied' "
                          "WHERE entry_id = ?", [made[1].entry_id])
    code, report = audit_verify(coord)
    assert code == 1
    assert [(p["kind"], p["entry_id"]) for p in report["problems"]] == [
        ("changed", made[1].entry_id)]


def test_full_segments_are_switched_and_removed_once_folded(coord: Path) -> None:
    """Small segments: the writer moves on to the next (made in advance) when one is full,
    a full segment goes once all of it is folded, and the chain runs across them."""
    from coordinator.serve_journal import Journal, WriteLock

    with open_store(coord) as store:
        lock = WriteLock()
        journal = Journal(store.con, store.ledger, lock, journal_dir(coord),
                          segment_bytes=4096, fold_after_s=0.02, max_batch=4)
        try:
            made = [journal.submit(consultation(n)) for n in range(200)]
            entries = [f.result(timeout=60) for f in made]
            assert journal._files.number > 3  # moved on to new segments several times
            journal.fold_now()
            with lock:  # another writer between: folds, appends after the true head
                store.ledger.append("alteration", actor="test", purpose="service-users",
                                    justification="a user added meanwhile", counts={})
            more = [journal.submit(consultation(n)) for n in range(200, 220)]
            entries += [f.result(timeout=60) for f in more]
            journal.fold_now()
            left = [p for _, p in segments(journal_dir(coord))]
            assert len(left) <= 3  # the active one, the next, at most one not yet removed
        finally:
            journal.close()
        assert not segments(journal_dir(coord))  # everything folded: nothing left
        report = verify_ledger(store.con, store.keys.signer.public_key)
        assert report.ok, report.problems
        stored = [e.entry_id for e in read_entries(store.con) if e.actor == "api:tester "
                  "(analyst)"]
        assert stored == [e.entry_id for e in entries]
