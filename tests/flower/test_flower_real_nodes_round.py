"""One federation round with REAL nodes and the REAL coordinator over the in-process grid.

Four forces of a generated scenario are built with the real CLI (`node init`, `node
ingest`, `node keys import-keyservice`, `coordinator init` / `register`); a real key
service evaluates every token; each node is served by the real gateway over its real
``NodeGateway`` with the real audit hook, and one round runs with the real ClientApp relay
and ``coordinator.service``. Two forces share; one refuses for a real reason (its node
holds no key service credential); one is too slow and is timed out. The round must go on
with the two, and nothing raw — and no PRF output — may reach the coordinator or the key
service.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import duckdb
import httpx
import pytest
import real_nodes
from keyservice_running import running_keyservice

from federation.flower.grid import InProcessGrid
from federation.flower.protocol import Refusal, load_coordinator_service
from federation.flower.serverapp import FederationReport, RoundSettings, run_federation
from node.gateway import NodeGateway
from policies.model import resolve_policy
from tests.demo.demo_canary import leaks, raw_values

FORCES, PERSONS, SEED, EPOCH = 4, 300, 5, 1
#: a real share of 300 persons takes ~0.5 s on an idle machine but several seconds on two
#: cores shared with other test workers; the slow force never answers, so the round always
#: waits this long — long enough that the sharing forces answer in time under load
SHARE_TIMEOUT = 30.0
#: how long the slow node would hold the call if nobody let it go
SLOW_NODE_CAP = 60.0


class SlowNode(NodeGateway):
    """A real node that does not answer in time: it holds the share call until the round
    is over (``released``), then says so instead of sharing late."""

    def __init__(self, node_dir: Path, released: threading.Event) -> None:
        super().__init__(node_dir)
        self.released = released

    def share(self, purpose: str, epoch: int) -> bytes:
        if self.released.wait(SLOW_NODE_CAP):
            raise Refusal("the round is over")
        return super().share(purpose, epoch)


@dataclass
class Round:
    """The outcome of the round and where everything lives."""

    report: FederationReport
    scenario: Path
    coordinator: Path
    nodes: dict[str, Path]
    sharing: list[str]
    refusing: str
    slow: str
    gateways: list[str]
    keyservice: Path


def planted_cse_pair(scenario: Path) -> list[str]:
    """Two forces of the first cross-force CSE network the scenario planted (the default
    policy shares CSE cases)."""
    ((forces,),) = duckdb.sql(
        f"SELECT forces FROM read_csv('{scenario / 'truth' / 'networks.csv'}') "
        "WHERE kind = 'cse' AND forces LIKE '%|%' ORDER BY network_id LIMIT 1").fetchall()
    return sorted(forces.split("|"))[:2]


@pytest.fixture(scope="module")
def federation_round(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Round]:
    root = tmp_path_factory.mktemp("real-nodes-round")
    scenario, forces = real_nodes.scenario(root, forces=FORCES, persons=PERSONS, seed=SEED)
    assert len(forces) == FORCES
    sharing = planted_cse_pair(scenario)  # so the two who share have something in common
    refusing, slow = (f for f in forces if f not in sharing)
    # the refusing force was never given a key service credential
    keyservice = running_keyservice(root)
    ks = keyservice.__enter__()
    try:
        coordinator, nodes = real_nodes.build(root, scenario, forces, epoch=EPOCH,
                                              without_secret=(refusing,), keyservice=ks)
        released = threading.Event()
        services = {force: SlowNode(node, released) if force == slow else NodeGateway(node)
                    for force, node in nodes.items()}
        purpose = resolve_policy("cse-national").purpose.code
        with ExitStack() as stack:
            # last in, first out: let the slow node go before its gateway is stopped
            configs = real_nodes.serve(stack, services, nodes)
            stack.callback(released.set)
            coordinator_service = load_coordinator_service(
                "coordinator.service:open_service", coordinator)
            stack.callback(coordinator_service.close)
            grid = stack.enter_context(InProcessGrid(configs))
            report = run_federation(grid, coordinator_service, RoundSettings(
                purpose, EPOCH, share_timeout=SHARE_TIMEOUT, hits_timeout=60.0,
                expected_forces=tuple(forces)))
    finally:
        keyservice.__exit__(None, None, None)
    yield Round(report, scenario, coordinator, nodes, sharing, refusing, slow,
                [config["gateway"] for config in configs.values()], ks.dir)


# --------------------------------------------------------------------------- the round


def test_the_report_says_what_each_force_did(federation_round: Round) -> None:
    report, r = federation_round.report, federation_round
    assert report.shared() == r.sharing
    outcomes = {force: outcome.share for force, outcome in report.forces.items()}
    assert outcomes == {**dict.fromkeys(r.sharing, "submitted"), r.refusing: "refused",
                        r.slow: "timeout"}
    assert report.forces[r.refusing].detail == ("this node holds no key service credential "
                                                "(and no legacy linkage secret), so it "
                                                "cannot make tokens")
    assert report.forces[r.slow].detail == f"no answer in {SHARE_TIMEOUT:g} s"
    for force in r.sharing:
        assert report.forces[force].receipt["force"] == force
        assert report.forces[force].hits == "delivered"
    assert report.forces[r.refusing].hits == report.forces[r.slow].hits == ""


def test_the_round_linked_what_the_two_forces_shared(federation_round: Round) -> None:
    assert federation_round.report.link, "the round did not link"
    con = duckdb.connect(str(federation_round.coordinator / "coordinator.duckdb"),
                         read_only=True)
    try:
        held = con.execute("SELECT force, via, purpose, epoch FROM submissions "
                           "ORDER BY force").fetchall()
    finally:
        con.close()
    purpose = federation_round.report.purpose
    assert held == [(force, "flower", purpose, EPOCH) for force in federation_round.sharing]


def test_only_the_sharing_forces_got_hits(cli, federation_round: Round) -> None:  # noqa: ANN001
    r = federation_round
    for force in r.sharing:
        result = cli("node", "hits", "--dir", r.nodes[force], "--json")
        assert result.code == 0, result
        hits = json.loads(result.out)
        assert hits["hits"] > 0 and hits["resolved"] == hits["hits"]
        assert hits["other_forces"] == [f for f in r.sharing if f != force]
    for force in (r.refusing, r.slow):
        result = cli("node", "hits", "--dir", r.nodes[force], "--json")
        assert result.code == 2
        assert "no hits received yet" in result.err


def test_every_ledger_verifies(cli, federation_round: Round) -> None:  # noqa: ANN001
    r = federation_round
    coordinator_db = r.coordinator / "coordinator.duckdb"
    coordinator_key = r.coordinator / "keys" / "public.json"
    assert cli("audit", "verify", coordinator_db, "--public-key", coordinator_key).code == 0
    for force, node in r.nodes.items():
        key = node / "keys" / "public.json"
        result = cli("audit", "verify", node / "node.duckdb", "--public-key", key)
        assert result.code == 0, (force, result)
    for force in r.sharing:  # each share set sent matches what the coordinator took
        node = r.nodes[force]
        result = cli("audit", "verify", node / "node.duckdb", "--public-key",
                     node / "keys" / "public.json", "--receipts", coordinator_db,
                     "--coordinator-key", coordinator_key)
        assert result.code == 0, (force, result)


def test_the_refusal_is_in_the_refusing_node_s_own_log(federation_round: Round) -> None:
    calls = (federation_round.nodes[federation_round.refusing] / "federation" /
             "gateway-calls.jsonl").read_text()
    assert "refused: this node holds no key service credential" in calls


def test_no_raw_value_reaches_the_coordinator(federation_round: Round) -> None:
    r = federation_round
    needles = raw_values(r.scenario, sorted(r.nodes))
    assert len(needles) > 1000  # the canary is real: thousands of values looked for
    assert leaks(r.coordinator, needles) == []


def test_no_raw_value_or_prf_output_reaches_the_key_service(federation_round: Round) -> None:
    """The key service saw blinded points only; its store holds counts, never a value, and
    none of the PRF outputs the nodes cached (nor a token made from one)."""
    r = federation_round
    assert leaks(r.keyservice, raw_values(r.scenario, sorted(r.nodes))) == []
    outputs: set[bytes] = set()
    for force in r.sharing:
        con = duckdb.connect(str(r.nodes[force] / "node.duckdb"), read_only=True)
        try:
            outputs |= {bytes(y) for (y,) in con.execute("SELECT y FROM prf_outputs")
                        .fetchall()}
        finally:
            con.close()
    assert len(outputs) > 100
    held = b"".join(p.read_bytes() for p in r.keyservice.rglob("*") if p.is_file())
    held += b"".join(p.read_bytes() for p in r.coordinator.rglob("*") if p.is_file())
    assert not [y for y in outputs if y[:16] in held]
    usage = duckdb.connect(str(r.keyservice / "keyservice.duckdb"), read_only=True)
    try:
        asked = dict(usage.execute("SELECT holder, sum(evaluations) FROM usage "
                                   "GROUP BY holder").fetchall())
    finally:
        usage.close()
    assert r.refusing not in asked  # it had no credential: it asked for nothing
    for force in r.sharing:  # the service counted exactly what each node had evaluated
        assert asked[force] == _cached(r.nodes[force]), force


def _cached(node: Path) -> int:
    con = duckdb.connect(str(node / "node.duckdb"), read_only=True)
    try:
        return int(con.execute("SELECT count(*) FROM prf_outputs").fetchone()[0])
    finally:
        con.close()


def test_no_gateway_is_left_running(federation_round: Round) -> None:
    assert len(federation_round.gateways) == FORCES
    for url in federation_round.gateways:
        with pytest.raises(httpx.ConnectError):
            httpx.post(f"{url}/share", json={"purpose": "x", "epoch": 1}, timeout=5)


def test_the_round_sums_the_gated_aggregates_of_the_forces_that_shared(
        cli, federation_round: Round) -> None:  # noqa: ANN001
    """Step (d): the national count of each cell is the sum of what each sharing force's
    own gate released (a dry run of its egress, which the gate makes identical)."""
    from node.egress import egress

    r = federation_round
    expected: dict[tuple[str, tuple], list[int | None]] = {}
    for force in r.sharing:
        released = egress(r.nodes[force], purpose=r.report.purpose, dry_run=True)
        for row in released.share_set.aggregates.to_pylist():
            cell = tuple(sorted(json.loads(row["cell"]).items()))
            expected.setdefault((row["name"], cell), []).append(row["count"])
    assert expected, "the default policy releases aggregates: the test needs some"
    result = cli("coordinator", "aggregates", "--dir", r.coordinator, "--json")
    assert result.code == 0, result
    national = {(row["table"], tuple(sorted(row["cell"].items()))): row
                for row in json.loads(result.out)}
    assert set(national) == set(expected)
    for key, counts in expected.items():
        released = [c for c in counts if c is not None]
        row = national[key]
        assert row["count"] == (sum(released) if released else None), key
        assert (row["forces"], row["forces_suppressed"]) == (
            len(released), len(counts) - len(released)), key
        assert row["method"] == "share-sets" and row["purpose"] == r.report.purpose
    summary = r.report.aggregates
    assert summary["cells"] == len(expected) and summary["forces"] == len(r.sharing)
    assert summary["cells_with_suppression"] == sum(
        1 for counts in expected.values() if None in counts)
