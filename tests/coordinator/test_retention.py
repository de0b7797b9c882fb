"""Retention at both ends: data goes when the force's policy says, and the purge is logged.

Both canary forces run the default policy (cse-national: ``[retention] days = 730``), which
each submission declares in its signed header; the coordinator keeps every payload 730
days from receipt, and each node its refs 730 days from the last time they left.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import pytest

from coordinator.retention import purge_expired
from coordinator.service import CoordinatorStoreService
from coordinator.store import open_store
from node.retention import purge_node
from tests.federation.audit_world import FORCES, copy_world, node_dir, world_template

DAYS = 730  # policies/defaults/cse-national.toml [retention]


@pytest.fixture
def world(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    return copy_world(world_template(tmp_path_factory), tmp_path / "federation")


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def counts(db: Path, sql: str) -> tuple:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchone()


def test_each_submission_carries_its_forces_retention(world: Path) -> None:
    db = world / "coordinator" / "coordinator.duckdb"
    assert counts(db, "SELECT list(DISTINCT retention_days) FROM submissions") == ([DAYS],)


def test_the_coordinator_purges_only_what_is_past_retention(world: Path) -> None:
    db = world / "coordinator" / "coordinator.duckdb"
    items = counts(db, "SELECT count(*) FROM items")[0]
    with open_store(world / "coordinator") as store:
        early = purge_expired(store, actor="test", as_of=now() + dt.timedelta(days=DAYS - 1))
        assert early.erased == []
        late = purge_expired(store, actor="test", as_of=now() + dt.timedelta(days=DAYS + 1))
    assert [(e["force"], e["payloads"]) for e in late.erased] == [(f, 1) for f in FORCES]
    assert sum(e["items"] for e in late.erased) == items
    assert late.derived == {"entities": 0, "networks": 0}  # nothing left to link
    assert counts(db, "SELECT (SELECT count(*) FROM items), (SELECT count(*) FROM entities), "
                      "(SELECT count(*) FROM submissions WHERE superseded_by = 'retention' "
                      "AND erased_at IS NOT NULL)") == (0, 0, 2)
    # one erasure per force and purpose, counts only
    with duckdb.connect(str(db), read_only=True) as con:
        logged = con.execute("SELECT force, purpose, counts FROM ledger WHERE action = "
                             "'erasure' ORDER BY seq").fetchall()
    assert [(f, p) for f, p, _ in logged] == [(f, "TOEX-CSE") for f in FORCES]
    assert all(set(json.loads(c)) == {"items", "item_attributes", "tokens", "links",
                                      "aggregates", "payloads"} for _, _, c in logged)


def test_a_round_purges_before_it_links(world: Path) -> None:
    """Northshire's payload was received 731 days ago: the next round's link erases it
    and links Canaryshire's alone."""
    db = world / "coordinator" / "coordinator.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("UPDATE submissions SET received_at = received_at - INTERVAL 731 DAY "
                    "WHERE force = ?", [FORCES[1]])
    with CoordinatorStoreService(world / "coordinator") as service:
        service.link()
    assert counts(db, "SELECT list(DISTINCT force) FROM entities") == ([FORCES[0]],)
    assert counts(db, f"SELECT count(*) FROM items WHERE force = '{FORCES[1]}'") == (0,)


def test_the_coordinator_purge_command_lists_then_erases(cli, world: Path) -> None:
    later = (now() + dt.timedelta(days=DAYS + 1)).strftime("%Y-%m-%d")
    r = cli("coordinator", "purge", "--dir", world / "coordinator", "--dry-run", "--as-of",
            later)
    assert r.code == 0 and r.out.count("would erase") == 2, r
    r = cli("coordinator", "purge", "--dir", world / "coordinator")
    assert r.code == 0 and "nothing held past retention" in r.out
    r = cli("coordinator", "purge", "--dir", world / "coordinator", "--as-of", later)
    assert r.code == 2 and "--as-of only goes with --dry-run" in r.err


def test_the_node_purges_refs_and_hits_past_retention(world: Path) -> None:
    node = node_dir(world, FORCES[0])
    db = node / "node.duckdb"
    refs, hits = counts(db, "SELECT (SELECT count(*) FROM egress_refs), "
                            "(SELECT count(*) FROM received_hits)")
    # the node's refs are exactly the items it sent
    sent = counts(world / "coordinator" / "coordinator.duckdb",
                  f"SELECT n_items FROM submissions WHERE force = '{FORCES[0]}'")[0]
    assert refs == sent and hits > 0
    early = purge_node(node, as_of=now() + dt.timedelta(days=DAYS - 1))
    assert (early.egress_refs, early.received_hits) == (0, 0)
    late = purge_node(node, as_of=now() + dt.timedelta(days=DAYS + 1))
    assert (late.egress_refs, late.received_hits) == (refs, hits)
    assert counts(db, "SELECT (SELECT count(*) FROM egress_refs), (SELECT count(*) FROM "
                      "received_hits), (SELECT count(*) FROM hit_batches)") == (0, 0, 1)
    entry = counts(db, "SELECT action, counts FROM ledger ORDER BY seq DESC LIMIT 1")
    assert entry[0] == "erasure"
    assert json.loads(entry[1]) == {"egress_refs": refs, "received_hits": hits}


def test_audit_verify_names_data_held_past_retention(cli, world: Path) -> None:
    db = world / "coordinator" / "coordinator.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("UPDATE submissions SET received_at = received_at - INTERVAL 731 DAY")
    with duckdb.connect(str(node_dir(world, FORCES[0]) / "node.duckdb")) as con:
        con.execute("UPDATE egress_refs SET last_shared_at = last_shared_at - INTERVAL 731 DAY")
    r = cli("audit", "verify", "--federation", world, "--json")
    assert r.code == 1
    found = [(f["side"], f["detail"].split(",")[0]) for f in json.loads(r.out)["findings"]]
    assert sorted(s for s, _ in found) == ["Canaryshire", "coordinator", "coordinator"]
    assert all("past the 730 days" in f["detail"] for f in json.loads(r.out)["findings"])
