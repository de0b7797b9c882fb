"""`crossforce audit verify`: what a governance officer runs against a node's DuckDB file."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from federation.keys import NodeKeys
from federation.ledger import Ledger


@pytest.fixture
def node(tmp_path: Path) -> tuple[Path, Path, str]:
    """A node DuckDB file with its genesis and three more ledger entries, and its keys."""
    keys = NodeKeys.create(tmp_path / "keys", "Kent")
    db = tmp_path / "kent.duckdb"
    with duckdb.connect(str(db)) as con:
        ledger = Ledger(con, keys.signer, "Kent")
        for action in ("collection", "disclosure", "consultation"):
            last = ledger.append(action, actor="analyst.1", purpose="op-kingfisher",  # type: ignore[arg-type]
                                 justification="test", counts={"rows": 10})
    return db, tmp_path / "keys", last.entry_hash


def test_an_intact_ledger_verifies(cli, node) -> None:  # type: ignore[no-untyped-def]
    db, keys, head = node
    result = cli("audit", "verify", db, "--public-key", keys)
    assert result.code == 0, result
    assert "ledger OK" in result.out and "4 entries" in result.out


def test_a_tampered_ledger_fails_and_names_the_entry(cli, node) -> None:  # type: ignore[no-untyped-def]
    db, keys, head = node
    with duckdb.connect(str(db)) as con:
        con.execute("UPDATE ledger SET counts = '{\"rows\":9}' WHERE seq = 3")
        entry_id = con.execute("SELECT entry_id FROM ledger WHERE seq = 3").fetchone()[0]
    result = cli("audit", "verify", db, "--public-key", keys / "public.json", "--json")
    assert result.code == 1
    report = json.loads(result.out)
    assert report["ok"] is False
    assert [(p["kind"], p["seq"], p["entry_id"]) for p in report["problems"]] == \
        [("changed", 3, entry_id)]


def test_a_ledger_cut_short_at_the_end_is_caught_with_the_earlier_head(cli, node) -> None:  # type: ignore[no-untyped-def]
    db, keys, head = node
    with duckdb.connect(str(db)) as con:
        con.execute("DELETE FROM ledger WHERE seq = 4")
    assert cli("audit", "verify", db, "-k", keys).code == 0  # the chain alone looks fine
    result = cli("audit", "verify", db, "-k", keys, "--expect-head", head)
    assert result.code == 1 and "removed" in result.out


def test_bad_arguments_get_one_clear_line(cli, node, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db, keys, head = node
    result = cli("audit", "verify", tmp_path / "missing.duckdb", "-k", keys)
    assert result.code == 2 and "no such DuckDB file" in result.err
    result = cli("audit", "verify", db, "-k", "not-a-key")
    assert result.code == 2 and "not 64 hex digits and no such file" in result.err


def test_disclosures_are_matched_with_the_coordinators_receipts(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    kent = NodeKeys.create(tmp_path / "kent-keys", "Kent")
    coord = NodeKeys.create(tmp_path / "coord-keys", "coordinator")
    node_db, coord_db = tmp_path / "kent.duckdb", tmp_path / "coord.duckdb"
    with duckdb.connect(str(node_db)) as con:
        ledger = Ledger(con, kent.signer, "Kent")
        for h in ("aa" * 32, "bb" * 32):
            ledger.append("disclosure", actor="gateway", purpose="op", justification="round 1",
                          counts={"tokens": 5}, recipients=["coordinator"], payload_hash=h)
    with duckdb.connect(str(coord_db)) as con:
        Ledger(con, coord.signer, "coordinator").append(
            "collection", actor="server", purpose="op", justification="receipt",
            counts={"tokens": 5}, payload_hash="aa" * 32, force="Kent")
    result = cli("audit", "verify", node_db, "-k", tmp_path / "kent-keys", "--receipts",
                 coord_db, "--coordinator-key", tmp_path / "coord-keys", "--json")
    assert result.code == 1
    problems = json.loads(result.out)["problems"]
    assert [(p["kind"], p["seq"]) for p in problems] == [("unmatched", 3)]
    assert "bbbbbbbbbbbbbbbb" in problems[0]["detail"]


def test_hits_the_coordinator_disclosed_must_be_collected_by_the_node(  # type: ignore[no-untyped-def]
        cli, tmp_path: Path) -> None:
    kent = NodeKeys.create(tmp_path / "kent-keys", "Kent")
    coord = NodeKeys.create(tmp_path / "coord-keys", "coordinator")
    node_db, coord_db = tmp_path / "kent.duckdb", tmp_path / "coord.duckdb"
    with duckdb.connect(str(node_db)) as con:
        ledger = Ledger(con, kent.signer, "Kent")
        ledger.append("disclosure", actor="gateway", purpose="op", justification="round 1",
                      counts={"tokens": 5}, recipients=["coordinator"], payload_hash="aa" * 32)
        ledger.append("collection", actor="gateway", purpose="op", justification="hits",
                      counts={"hits": 2}, payload_hash="cc" * 32)
    with duckdb.connect(str(coord_db)) as con:
        cl = Ledger(con, coord.signer, "coordinator")
        cl.append("collection", actor="server", purpose="op", justification="receipt",
                  counts={"tokens": 5}, payload_hash="aa" * 32, force="Kent")
        for h in ("cc" * 32, "dd" * 32):  # the second batch never reached Kent
            cl.append("disclosure", actor="server", purpose="op", justification="hits",
                      counts={"hits": 2}, recipients=["Kent"], payload_hash=h, force="Kent")
    result = cli("audit", "verify", node_db, "-k", tmp_path / "kent-keys", "--receipts",
                 coord_db, "--coordinator-key", tmp_path / "coord-keys", "--json")
    problems = json.loads(result.out)["problems"]
    assert result.code == 1
    assert len(problems) == 1 and "dddddddddddddddd" in problems[0]["detail"]
    assert "never collected" in problems[0]["detail"]
