"""`crossforce node hits`: the coordinator's answer resolved to the force's own records."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from egress_nodes import canary_template, copy_node, register_commands

from coordinator.hits import HIT_SCHEMA, hits_arrow_bytes, hits_as_json, sign_hits
from federation.keys import NodeKeys
from node.egress import egress
from node.store import install_coordinator_key


@pytest.fixture
def coordinator(tmp_path: Path) -> NodeKeys:
    """The coordinator's keys: it signs the hits it sends."""
    return NodeKeys.create(tmp_path / "coordinator-keys", "coordinator")


@pytest.fixture
def node(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path,
         coordinator: NodeKeys) -> Path:
    register_commands()
    node = copy_node(canary_template(tmp_path_factory), tmp_path / "canary-node")
    install_coordinator_key(node, coordinator.keys_dir / "public.json")
    return node


@pytest.fixture
def _write_arrow(coordinator: NodeKeys):  # noqa: ANN202
    """Write a hits file as the coordinator sends it: signed."""
    def write(path: Path, force: str, table: pa.Table) -> None:
        path.write_bytes(hits_arrow_bytes(force, table, coordinator.signer))
    return write


def _ledger(node: Path) -> list[tuple[str, str, str]]:
    con = duckdb.connect(str(node / "node.duckdb"), read_only=True)
    try:
        return con.execute("SELECT action, purpose, counts FROM ledger ORDER BY seq").fetchall()
    finally:
        con.close()


def _hits(node: Path) -> pa.Table:
    """What a coordinator would answer: S1's phone and two persons are cross-force hits."""
    share = egress(node, out=node.parent / "p.cfsub").share_set
    items = share.items
    people = items.filter(pc.equal(items.column("kind"), "person")).slice(0, 2)
    phones = items.filter(pc.equal(items.column("kind"), "phone")).slice(0, 1)
    refs = pa.concat_tables([people.select(["ref", "kind"]), phones.select(["ref", "kind"])])
    n = refs.num_rows
    return pa.table({
        "ref": refs.column("ref"), "kind": refs.column("kind"),
        "entity_id": pa.array([7, 8, 9], pa.int64())[:n],
        "network_id": pa.array([3, 3, None], pa.int64())[:n],
        "other_forces": pa.array([["Northshire"], ["Northshire", "Southshire"], ["Eastshire"]],
                                 pa.list_(pa.string()))[:n],
        "strength": pa.array([0.99, 0.97, 1.0])[:n],
        "reason": pa.array(["entity+network", "network", "entity"])[:n],
    }, schema=HIT_SCHEMA)


def test_hits_resolve_to_own_records_and_are_recorded_once(cli, node: Path, tmp_path: Path,
                                                           _write_arrow) -> None:
    path = tmp_path / "hits-canaryshire.arrow"
    _write_arrow(path, "Canaryshire", _hits(node))
    r = cli("node", "hits", "--dir", node, path, "--json")
    assert r.code == 0, r
    got = json.loads(r.out)
    assert got["status"] == "recorded" and got["hits"] == 3 and got["resolved"] == 3
    assert got["persons"] == 2 and got["identifiers"] == 1 and got["networks"] == 1
    assert got["other_forces"] == ["Eastshire", "Northshire", "Southshire"]
    people = {row["local_id"] for row in got["rows"] if row["kind"] == "person"}
    assert people <= {"S1", "S2", "F1", "V1"} and len(people) == 2
    phone = next(row for row in got["rows"] if row["kind"] == "phone")
    assert phone["local_id"].startswith("+4477009004") and phone["person_ids"]
    ledger = _ledger(node)
    assert ledger[-1][:2] == ("collection", "hits") and '"resolved":3' in ledger[-1][2]
    again = json.loads(cli("node", "hits", "--dir", node, path, "--json").out)
    assert len(_ledger(node)) == len(ledger)  # the same batch again is not recorded again
    assert again["status"] == "unchanged"
    table = cli("node", "hits", "--dir", node, path)
    assert "3 hits (unchanged)" in table.out and "Northshire" in table.out


def test_json_hits_are_read_too(cli, node: Path, tmp_path: Path,
                                coordinator: NodeKeys) -> None:
    path = tmp_path / "hits.json"
    path.write_bytes(sign_hits(json.dumps(hits_as_json("Canaryshire", _hits(node))).encode(),
                               "Canaryshire", coordinator.signer))
    got = json.loads(cli("node", "hits", "--dir", node, path, "--json").out)
    assert got["resolved"] == 3


def test_refs_this_node_never_sent_are_counted_not_resolved(cli, node: Path, tmp_path: Path,
                                                           _write_arrow) -> None:
    hits = _hits(node)
    foreign = pa.array([bytes(range(16)), bytes(range(1, 17)), bytes(range(2, 18))],
                       pa.binary(16))
    hits = hits.set_column(0, "ref", foreign)
    path = tmp_path / "hits.arrow"
    _write_arrow(path, "Canaryshire", hits)
    got = json.loads(cli("node", "hits", "--dir", node, path, "--json").out)
    assert got["unknown_refs"] == 3 and got["resolved"] == 0 and got["rows"] == []


@pytest.mark.parametrize("content, message", [
    (b"not a hits file", "not a hits file"),
    (b'{"schema": "something/else", "hits": []}', "not a crossforce.hits/1"),
    (b'{"schema": "crossforce.hits/1", "force": "Canaryshire", "hits": [{"ref": "zz"}]}',
     "hit 1: field 'ref' is not hex"),
    (b'{"schema": "crossforce.hits/1", "force": "Canaryshire",'
     b' "hits": [{"ref": "0011", "entity_id": 1}]}', "not 16 bytes"),
])
def test_bad_hits_files_are_refused_and_change_nothing(cli, node: Path, tmp_path: Path,
                                                       coordinator: NodeKeys,
                                                       content: bytes, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(sign_hits(content, "Canaryshire", coordinator.signer))
    r = cli("node", "hits", "--dir", node, path)
    assert r.code == 2 and message in r.err and str(path) in r.err, r


def test_hits_for_another_force_are_refused(cli, node: Path, tmp_path: Path,
                                            _write_arrow) -> None:
    path = tmp_path / "hits-other.arrow"
    _write_arrow(path, "Otherforce", _hits(node))
    r = cli("node", "hits", "--dir", node, path)
    assert r.code == 2 and "signed for 'Otherforce'" in r.err


def test_the_analyst_sees_the_latest_hits_received_without_the_file(cli, node: Path,
                                                                    tmp_path: Path,
                                                                    _write_arrow) -> None:
    none_yet = cli("node", "hits", "--dir", node)
    assert none_yet.code == 2 and "no hits received yet" in none_yet.err
    path = tmp_path / "hits-canaryshire.arrow"
    _write_arrow(path, "Canaryshire", _hits(node))
    received = json.loads(cli("node", "hits", "--dir", node, path, "--json").out)
    before = _ledger(node)
    r = cli("node", "hits", "--dir", node, "--json")
    assert r.code == 0, r
    seen = json.loads(r.out)
    assert seen["status"] == "received" and seen["batch"] == received["batch"]
    assert seen["rows"] == received["rows"]
    after = _ledger(node)
    assert len(after) == len(before) + 1 and after[-1][0] == "consultation"
