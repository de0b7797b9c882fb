"""A force withdraws: nothing of it stays in any coordinator table, checked table by table
from DuckDB's own catalog — a table added later is checked too, or this test fails until
it is handled (erased on withdrawal, or declared in ``coordinator.withdrawal.KEPT``).

The federation is real (tests/federation/audit_world.py): Canaryshire and Northshire share
the same canary people, so before the withdrawal they link into cross-force entities.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from coordinator.withdrawal import KEPT
from federation.keys import NodeKeys
from tests.federation.audit_world import FORCES, copy_world, node_dir, world_template

GONE, STAYS = FORCES  # Canaryshire withdraws; Northshire stays


@pytest.fixture
def world(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    return copy_world(world_template(tmp_path_factory), tmp_path / "federation")


def catalog(db: Path) -> dict[str, dict[str, str]]:
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c "
            "JOIN information_schema.tables t USING (table_schema, table_name) "
            "WHERE t.table_type = 'BASE TABLE'").fetchall()
    tables: dict[str, dict[str, str]] = {}
    for table, column, dtype in rows:
        tables.setdefault(table, {})[column] = dtype
    return tables


def rows_naming(db: Path, force: str) -> dict[str, int]:
    """Rows of every coordinator table not in KEPT that belong to ``force``, found by what
    the table's columns say; a table with no way to tell is a test failure."""
    found: dict[str, int] = {}
    with duckdb.connect(str(db), read_only=True) as con:
        for table, cols in sorted(catalog(db).items()):
            if table in KEPT:
                continue
            tests = [f"{c} = $f" for c in ("force", "force_a", "force_b") if c in cols]
            tests += [f"list_contains({c}, $f)" for c in cols if cols[c] == "VARCHAR[]"]
            entity_cols = [c for c in ("entity_id", "entity_a", "entity_b") if c in cols]
            if tests:
                where = " OR ".join(tests)
            elif entity_cols:  # derived from entities: every id must be a live entity
                where = " OR ".join(f"{c} NOT IN (SELECT entity_id FROM entities)"
                                    for c in entity_cols)
            elif "network_id" in cols:  # derived from networks: every id must be live
                where = "network_id NOT IN (SELECT network_id FROM networks)"
            else:
                pytest.fail(f"coordinator table {table} has no force or entity column: "
                            "erase it on withdrawal and teach this test, or declare it in "
                            "coordinator.withdrawal.KEPT with the reason")
            found[table] = con.execute(f"SELECT count(*) FROM {table} WHERE {where}",
                                       {"f": force} if tests else {}).fetchone()[0]
    return found


def withdraw(cli, world: Path, *extra: object) -> tuple[Path, Path]:  # noqa: ANN001
    request, ack = world / "out" / "withdrawal.json", world / "out" / "withdrawal.ack.json"
    r = cli("node", "withdraw", "--dir", node_dir(world, GONE), "--out", request, *extra)
    assert r.code == 0, r
    r = cli("coordinator", "withdraw", "--dir", world / "coordinator", request, "--json")
    assert r.code == 0, r
    assert json.loads(r.out)["acknowledgement"] == str(ack)
    r = cli("node", "withdraw", "--dir", node_dir(world, GONE), "--ack", ack)
    assert r.code == 0 and "recorded" in r.out, r
    return request, ack


def test_after_withdrawal_no_coordinator_table_holds_a_row_of_the_force(cli, world: Path
                                                                         ) -> None:
    db = world / "coordinator" / "coordinator.duckdb"
    before = rows_naming(db, GONE)
    # it held rows in every content table and, linked with Northshire, in the derived ones
    assert all(before[t] > 0 for t in ("items", "tokens", "links", "entities", "networks"))
    with duckdb.connect(str(db), read_only=True) as con:
        held = con.execute("SELECT n_items, n_tokens, n_links, n_aggregates FROM submissions "
                           "WHERE force = ?", [GONE]).fetchone()
        stays = con.execute("SELECT count(*) FROM items WHERE force = ?", [STAYS]).fetchone()
    withdraw(cli, world)

    assert rows_naming(db, GONE) == dict.fromkeys(before, 0)
    with duckdb.connect(str(db), read_only=True) as con:
        # what Northshire sent is untouched, and relinked on its own
        assert con.execute("SELECT count(*) FROM items WHERE force = ?",
                           [STAYS]).fetchone() == stays
        assert con.execute("SELECT DISTINCT force FROM entities").fetchall() == [(STAYS,)]
        erasure = json.loads(con.execute(
            "SELECT counts FROM ledger WHERE action = 'erasure' AND force = ?",
            [GONE]).fetchone()[0])
    # erased exactly what the submission said it carried, and the one payload
    assert (erasure["items"], erasure["tokens"], erasure["links"],
            erasure["aggregates"]) == held
    assert erasure["payloads"] == 1 and erasure["entities"] == before["entities"]
    r = cli("coordinator", "hits", "--dir", world / "coordinator", "--force", STAYS, "--json")
    assert GONE not in r.out  # Northshire's hits no longer name the force that left


def test_audit_verify_confirms_the_withdrawal_at_both_ends(cli, world: Path) -> None:
    withdraw(cli, world)
    r = cli("audit", "verify", "--federation", world, "--json")
    assert r.code == 0, r
    report = json.loads(r.out)
    assert report["checks"]["withdrawals"] == 2  # the request (node) and the erasure
    assert report["checks"]["withdrawn"] == 1
    # a row slipped back in is named
    db = world / "coordinator" / "coordinator.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("INSERT INTO tokens SELECT ?, ref, token_kind, token, payload_id FROM "
                    "tokens WHERE force = ? LIMIT 1", [GONE, STAYS])
    held = [f for f in json.loads(cli("audit", "verify", "--federation", world,
                                      "--json").out)["findings"] if f["kind"] == "held"]
    assert any("tokens still holds 1 row(s) naming Canaryshire" in f["detail"] for f in held)


def test_an_unacknowledged_withdrawal_is_a_finding(cli, world: Path) -> None:
    request = world / "out" / "w.json"
    assert cli("node", "withdraw", "--dir", node_dir(world, GONE), "--out", request).code == 0
    r = cli("audit", "verify", "--federation", world, "--json")
    assert r.code == 1
    [f] = json.loads(r.out)["findings"]
    assert f["kind"] == "unmatched" and "has no erasure for it" in f["detail"]


def test_applying_a_withdrawal_twice_changes_nothing(cli, world: Path) -> None:
    request, ack = withdraw(cli, world)
    db = world / "coordinator" / "coordinator.duckdb"
    with duckdb.connect(str(db), read_only=True) as con:
        entries = con.execute("SELECT count(*) FROM ledger").fetchone()
    again = world / "out" / "again.ack.json"
    r = cli("coordinator", "withdraw", "--dir", world / "coordinator", request, "--ack", again)
    assert r.code == 0, r
    assert again.read_bytes() == ack.read_bytes()
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM ledger").fetchone() == entries
    r = cli("node", "withdraw", "--dir", node_dir(world, GONE), "--ack", again)
    assert r.code == 0 and "unchanged" in r.out


def test_a_withdrawal_not_signed_by_the_force_erases_nothing(cli, world: Path,
                                                              tmp_path: Path) -> None:
    request = world / "out" / "w.json"
    assert cli("node", "withdraw", "--dir", node_dir(world, GONE), "--out", request).code == 0
    doc = json.loads(request.read_text())
    impostor = NodeKeys.create(tmp_path / "impostor", GONE)
    from federation.ledger import canonical_json

    unsigned = {k: v for k, v in doc.items() if k != "signature"}
    doc["signature"] = impostor.signer.sign(canonical_json(unsigned)).hex()
    request.write_bytes(canonical_json(doc))
    r = cli("coordinator", "withdraw", "--dir", world / "coordinator", request)
    assert r.code == 2 and "not signed by Canaryshire's registered key" in r.err
    assert rows_naming(world / "coordinator" / "coordinator.duckdb", GONE)["items"] > 0


def test_withdrawing_a_purpose_never_shared_is_refused(cli, world: Path) -> None:
    r = cli("node", "withdraw", "--dir", node_dir(world, GONE), "--purpose", "OP-NONE",
            "--out", world / "out" / "w.json")
    assert r.code == 2
    assert "never shared anything for it (shared: TOEX-CSE)" in r.err
    assert not (world / "out" / "w.json").exists()
