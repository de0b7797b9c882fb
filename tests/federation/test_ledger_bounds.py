"""Issue #20 item 4: a ledger cannot fork, an emptied ledger is a finding, and the
cross-check catches hits a node recorded that the coordinator never sent."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from federation.errors import CrossforceError
from federation.keys import NodeKeys, Signer
from federation.ledger import GENESIS, Ledger, match_flows, read_entries, verify_ledger

SIGNER = Signer.from_seed(bytes(range(32)))


def _append(ledger: Ledger, n: int = 1) -> None:
    for _ in range(n):
        ledger.append("consultation", actor="gateway", purpose="federation",
                      justification="a call", counts={"calls": 1})


def test_a_new_ledger_starts_with_a_signed_genesis_entry() -> None:
    con = duckdb.connect()
    ledger = Ledger(con, SIGNER, "Kent")
    (genesis,) = ledger.entries()
    assert (genesis.seq, genesis.action, genesis.prev_hash) == (1, "genesis", GENESIS)
    Ledger(con, SIGNER, "Kent")  # opening it again writes no second genesis
    assert len(ledger.entries()) == 1
    report = verify_ledger(con, SIGNER.public_key)
    assert report.ok and report.entries == 1


def test_a_ledger_with_every_entry_deleted_is_a_finding() -> None:
    con = duckdb.connect()
    _append(Ledger(con, SIGNER, "Kent"), 3)
    con.execute("DELETE FROM ledger")
    report = verify_ledger(con, SIGNER.public_key)
    assert not report.ok
    assert [(p.kind, p.seq) for p in report.problems] == [("removed", None)]
    assert "not even the genesis entry" in report.problems[0].detail


def test_two_writers_that_read_the_same_head_cannot_both_commit(tmp_path: Path) -> None:
    """Two transactions append after the same entry: the chain's unique index lets only
    the first commit; the ledger stays one chain."""
    con = duckdb.connect(str(tmp_path / "store.duckdb"))
    _append(Ledger(con, SIGNER, "Kent"))
    a, b = con.cursor(), con.cursor()
    a.begin()
    b.begin()
    _append(Ledger(a, SIGNER, "Kent"))
    _append(Ledger(b, SIGNER, "Kent"))
    a.commit()
    with pytest.raises((CrossforceError, duckdb.TransactionException)):  # LedgerForked or
        b.commit()                                                      # a failed commit
    entries = read_entries(con)
    assert len({e.prev_hash for e in entries}) == len(entries) == 3
    assert verify_ledger(con, SIGNER.public_key).ok


def test_a_writer_behind_a_committed_entry_is_refused_with_a_clear_error(
        tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "store.duckdb"))
    _append(Ledger(con, SIGNER, "Kent"))
    a, b = con.cursor(), con.cursor()
    b.begin()
    b.execute("SELECT count(*) FROM ledger").fetchone()  # b's snapshot: before a's entry
    _append(Ledger(a, SIGNER, "Kent"))                   # a commits (autocommit)
    with pytest.raises((CrossforceError, duckdb.TransactionException)) as caught:
        _append(Ledger(b, SIGNER, "Kent"))
        b.commit()
    if isinstance(caught.value, CrossforceError):  # LedgerForked, at the insert
        assert "another writer appended after entry seq 2" in str(caught.value)
    assert verify_ledger(con, SIGNER.public_key).ok


def _two_ledgers(tmp_path: Path) -> tuple[Path, Path, NodeKeys, NodeKeys]:
    kent = NodeKeys.create(tmp_path / "kent-keys", "Kent")
    coord = NodeKeys.create(tmp_path / "coord-keys", "coordinator")
    return tmp_path / "kent.duckdb", tmp_path / "coord.duckdb", kent, coord


def test_hits_a_node_recorded_that_the_coordinator_never_sent_are_flagged(
        cli, tmp_path: Path) -> None:
    node_db, coord_db, kent, coord = _two_ledgers(tmp_path)
    with duckdb.connect(str(node_db)) as con:
        ledger = Ledger(con, kent.signer, "Kent")
        for h in ("cc" * 32, "ee" * 32):  # the second batch came from somewhere else
            ledger.append("collection", actor="gateway", purpose="hits",
                          justification="hit/no-hit answer", counts={"hits": 2},
                          payload_hash=h)
    with duckdb.connect(str(coord_db)) as con:
        Ledger(con, coord.signer, "coordinator").append(
            "disclosure", actor="server", purpose="op", justification="hits",
            counts={"hits": 2}, recipients=["Kent"], payload_hash="cc" * 32, force="Kent")
    with duckdb.connect(str(node_db)) as n, duckdb.connect(str(coord_db)) as c:
        problems = match_flows(read_entries(n), read_entries(c))
    assert [(p.kind, p.seq) for p in problems] == [("unmatched", 3)]
    assert "eeeeeeeeeeeeeeee" in problems[0].detail
    assert "never disclosed" in problems[0].detail
    result = cli("audit", "verify", node_db, "-k", tmp_path / "kent-keys", "--receipts",
                 coord_db, "--coordinator-key", tmp_path / "coord-keys", "--json")
    assert result.code == 1
    assert [p["seq"] for p in json.loads(result.out)["problems"]] == [3]


def test_hits_written_to_a_file_by_the_coordinator_match_the_node_collection(
        cli, tmp_path: Path) -> None:
    """`coordinator hits --out` logs a consultation with the file's hash: that matches."""
    node_db, coord_db, kent, coord = _two_ledgers(tmp_path)
    with duckdb.connect(str(node_db)) as con:
        Ledger(con, kent.signer, "Kent").append(
            "collection", actor="analyst", purpose="hits", justification="file",
            counts={"hits": 1}, payload_hash="ab" * 32)
    with duckdb.connect(str(coord_db)) as con:
        Ledger(con, coord.signer, "coordinator").append(
            "consultation", actor="analyst", purpose="op", justification="hits --out",
            counts={"hits": 1}, payload_hash="ab" * 32, force="Kent")
    result = cli("audit", "verify", node_db, "-k", tmp_path / "kent-keys", "--receipts",
                 coord_db, "--coordinator-key", tmp_path / "coord-keys")
    assert result.code == 0, result
