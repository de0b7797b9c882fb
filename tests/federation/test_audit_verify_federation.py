"""`crossforce audit verify --node ... --coordinator ...`: every ledger, every flow, both ends.

The federation is real (tests/federation/audit_world.py: two forces share the same canary
people through the public commands, the coordinator links and sends each its hits, and
both sides exchange signed ledger heads). Each test tampers with ONE thing the way someone
with write access to a DuckDB file could, and expects the finding that names it.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from federation.audit.verify_all import verify_federation
from federation.keys import NodeKeys
from federation.ledger import Ledger
from tests.federation.audit_world import FORCES, copy_world, node_dir, world_template

KENT = FORCES[0]  # Canaryshire: the node ledger tampered with below


@pytest.fixture
def world(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    return copy_world(world_template(tmp_path_factory), tmp_path / "federation")


def ledger_db(world: Path, owner: str) -> Path:
    if owner == "coordinator":
        return world / "coordinator" / "coordinator.duckdb"
    return node_dir(world, owner) / "node.duckdb"


def verify(world: Path):  # noqa: ANN201 - AuditReport
    return verify_federation([node_dir(world, f) for f in FORCES], world / "coordinator")


def findings(world: Path) -> list[tuple[str, str, int | None]]:
    return [(f.side, f.kind, f.seq) for f in verify(world).findings]


def sql(db: Path, *statements: str) -> None:
    with duckdb.connect(str(db)) as con:
        for s in statements:
            con.execute(s)


def test_the_untouched_federation_verifies_from_the_command_line(cli, world: Path) -> None:
    r = cli("audit", "verify", "--node", node_dir(world, FORCES[0]), "--node",
            node_dir(world, FORCES[1]), "--coordinator", world / "coordinator", "--json")
    assert r.code == 0, r
    report = json.loads(r.out)
    assert report["ok"] and report["findings"] == []
    assert {x["owner"]: x["key_source"] for x in report["ledgers"]} == {
        "coordinator": "trusted by the nodes",
        "Canaryshire": "registered at the coordinator",
        "Northshire": "registered at the coordinator"}
    # two heads per node (its own kept by the coordinator, the coordinator's kept by it);
    # two payloads held, one per force
    assert report["checks"]["heads"] == 4 and report["checks"]["holdings"] == 2
    same = cli("audit", "verify", "--federation", world, "--json")
    assert same.code == 0 and json.loads(same.out)["checks"] == report["checks"]


@pytest.mark.parametrize("owner", [KENT, "coordinator"])
def test_changing_any_single_entry_is_named_by_side_and_seq(world: Path, owner: str) -> None:
    db = ledger_db(world, owner)
    with duckdb.connect(str(db), read_only=True) as con:
        seqs = [s for (s,) in con.execute("SELECT seq FROM ledger ORDER BY seq").fetchall()]
    assert len(seqs) >= 10
    for seq in seqs:
        sql(db, f"UPDATE ledger SET actor = actor || '~' WHERE seq = {seq}")
        assert (owner, "changed", seq) in findings(world), seq
        sql(db, f"UPDATE ledger SET actor = substr(actor, 1, length(actor) - 1) "
                f"WHERE seq = {seq}")
    assert verify(world).ok  # every change undone: clean again


@pytest.mark.parametrize("owner", [KENT, "coordinator"])
def test_removing_any_single_entry_or_cutting_the_end_is_caught(world: Path,
                                                                owner: str) -> None:
    db = ledger_db(world, owner)
    with duckdb.connect(str(db), read_only=True) as con:
        seqs = [s for (s,) in con.execute("SELECT seq FROM ledger ORDER BY seq").fetchall()]
    last = seqs[-1]
    for seq in seqs:
        sql(db, "CREATE TABLE held AS SELECT * FROM ledger WHERE seq = " + str(seq),
            f"DELETE FROM ledger WHERE seq = {seq}")
        found = findings(world)
        if seq == last:
            # the chain left is valid: only the head the other side keeps shows the cut
            assert (owner, "truncated", None) in found, found
        else:  # the entry after it no longer follows its predecessor
            assert (owner, "removed", seqs[seqs.index(seq) + 1]) in found, (seq, found)
        sql(db, "INSERT INTO ledger SELECT * FROM held", "DROP TABLE held")
    assert verify(world).ok


def test_cutting_the_last_entries_names_how_many_are_missing(world: Path) -> None:
    db = ledger_db(world, "coordinator")
    sql(db, "DELETE FROM ledger WHERE seq > (SELECT max(seq) - 3 FROM ledger)")
    cut = [f for f in verify(world).findings if f.kind == "truncated"]
    # each node holds the coordinator's head, and each says so
    assert [f.side for f in cut] == ["coordinator", "coordinator"]
    assert [f.detail.split("recorded by ")[1].split()[0] for f in cut] == list(FORCES)
    for f in cut:
        assert "it has 7 entries" in f.detail and "signed a head of 10 entries" in f.detail
        assert "at least 3 entries are missing at the end" in f.detail


def test_swapping_two_entries_is_reordering(world: Path) -> None:
    db = ledger_db(world, KENT)
    sql(db, "UPDATE ledger SET seq = CASE seq WHEN 3 THEN 4 WHEN 4 THEN 3 ELSE seq END "
            "WHERE seq IN (3, 4)")
    assert (KENT, "reordered", 3) in findings(world)


def test_an_entry_inserted_with_another_key_is_named(world: Path, tmp_path: Path) -> None:
    """A forged entry appended by someone who holds a key, but not the force's."""
    db = ledger_db(world, KENT)
    forger = NodeKeys.create(tmp_path / "forger", KENT)
    with duckdb.connect(str(db)) as con:
        Ledger(con, forger.signer, KENT).append(
            "consultation", actor="someone", purpose="TOEX-CSE", justification="forged",
            counts={"persons": 1})
    found = [f for f in verify(world).findings if f.side == KENT]
    # the signature fails, and the coordinator's head of the ledger no longer is its last
    assert [f.kind for f in found] == ["bad_signature"]
    assert "signature does not verify" in found[0].detail


def test_a_ledger_re_signed_with_a_replaced_key_is_caught_by_the_pinned_key(
        world: Path, tmp_path: Path) -> None:
    """Whoever rewrites a node's ledger and the public key beside it still fails: the
    ledger is checked with the key the coordinator registered for the force."""
    node = node_dir(world, KENT)
    forger = NodeKeys.create(tmp_path / "forger", KENT)
    (node / "keys" / "public.json").write_text(
        (tmp_path / "forger" / "public.json").read_text())
    sql(node / "node.duckdb", "DROP TABLE ledger")
    with duckdb.connect(str(node / "node.duckdb")) as con:
        Ledger(con, forger.signer, KENT)  # a fresh genesis entry under the forger's key
    kinds = {(f.side, f.kind) for f in verify(world).findings}
    assert (KENT, "key") in kinds and (KENT, "bad_signature") in kinds
    assert (KENT, "truncated") in kinds  # the coordinator's head of 13 entries is gone
    assert (f"{KENT} ↔ coordinator", "unmatched") in kinds  # its share is no longer there


def test_a_payload_held_without_its_ledger_entry_is_untraced(world: Path) -> None:
    coord = ledger_db(world, "coordinator")
    with duckdb.connect(str(coord)) as con:
        pid = con.execute("SELECT payload_id FROM submissions WHERE force = ?",
                          [KENT]).fetchone()[0]
        con.execute("UPDATE submissions SET content_hash = repeat('ab', 32) "
                    "WHERE payload_id = ?", [pid])
    found = [f for f in verify(world).findings if f.kind == "untraced"]
    assert any(pid in f.detail and "no collection entry" in f.detail for f in found)
    assert any("its submission row was deleted" in f.detail for f in found)


def test_content_rows_left_behind_by_an_erased_payload_are_held(world: Path) -> None:
    coord = ledger_db(world, "coordinator")
    sql(coord, f"UPDATE submissions SET superseded_by = 'retention' WHERE force = '{KENT}'")
    held = [f.detail for f in verify(world).findings if f.kind == "held"]
    assert held and all("erased (retention)" in d for d in held)
    assert {d.split()[1] for d in held} >= {"items", "tokens", "links"}


def test_bad_input_gets_one_line(cli, tmp_path: Path) -> None:
    r = cli("audit", "verify", "--federation", tmp_path)
    assert r.code == 2 and "no node or coordinator folder" in r.err
    r = cli("audit", "verify", "--node", tmp_path / "missing")
    assert r.code == 2 and "no such folder" in r.err
    r = cli("audit", "verify")
    assert r.code == 2 and "nothing to verify" in r.err
