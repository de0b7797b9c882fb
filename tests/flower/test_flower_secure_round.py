"""A whole federation round with the secure sum on: real nodes, real coordinator, SecAgg+.

Four forces are built with the real CLI. Three data owners chose `release = "secure-sum"`
in their copy of cse-national (and a lower disclosure threshold, so small test forces
release something); one keeps the shipped policy. One round over the in-process grid must
collect and link all four, then make the national secure sum of the three — the fourth's
counts are in its share set, so it says no and is left out — and store only the sum.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pytest
import real_nodes

from federation.flower.grid import InProcessGrid
from federation.flower.protocol import Refusal, load_coordinator_service
from federation.flower.serverapp import FederationReport, RoundSettings, run_federation
from node.gateway import NodeGateway
from policies.model import parse_policy, resolve_policy, secure_sum_policy_text
from policies.national_tables import NATIONAL_TABLES, NationalLayout

FORCES, PERSONS, SEED, EPOCH = 4, 300, 3, 1
LAYOUT = NationalLayout(tables=NATIONAL_TABLES[:3], years=(2010, 2026))
SECURE_POLICY = secure_sum_policy_text("cse-national").replace("threshold = 10", "threshold = 2")


@dataclass
class SecureRound:
    report: FederationReport
    coordinator: Path
    nodes: dict[str, Path]
    secure: list[str]
    plain: str


@pytest.fixture(scope="module")
def secure_round(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureRound]:
    root = tmp_path_factory.mktemp("secure-round")
    scenario, forces = real_nodes.scenario(root, forces=FORCES, persons=PERSONS, seed=SEED)
    *secure, plain = forces
    coordinator, nodes = real_nodes.build(root, scenario, forces, epoch=EPOCH,
                                          policies=dict.fromkeys(secure, SECURE_POLICY))
    purpose = resolve_policy("cse-national").purpose.code
    with ExitStack() as stack:
        configs = real_nodes.serve(stack, {f: NodeGateway(n) for f, n in nodes.items()}, nodes)
        service = load_coordinator_service("coordinator.service:open_service", coordinator)
        stack.callback(service.close)
        grid = stack.enter_context(InProcessGrid(configs))
        report = run_federation(grid, service, RoundSettings(
            purpose, EPOCH, expected_forces=tuple(forces), secure_aggregation=True,
            secure_tables=LAYOUT.tables, secure_years=LAYOUT.years, aggregate_timeout=60))
    yield SecureRound(report, coordinator, nodes, secure, plain)


def test_every_force_shared_and_three_made_the_secure_sum(secure_round: SecureRound) -> None:
    r = secure_round
    assert r.report.shared() == sorted(r.nodes)
    summed = r.report.aggregates["secure_sum"]
    assert summed["contributors"] == 3 and summed["cells"] == LAYOUT.size
    assert list(summed["dropped"]) == [r.plain]
    assert "share set" in summed["dropped"][r.plain]


def test_the_stored_national_vector_is_the_sum_of_the_three_gates(
        cli, secure_round: SecureRound) -> None:  # noqa: ANN001
    r = secure_round
    result = cli("coordinator", "aggregates", "--dir", r.coordinator, "--method",
                 "secure-sum", "--json")
    assert result.code == 0, result
    held = {(row["table"], json.dumps(row["cell"], separators=(",", ":"))): row
            for row in json.loads(result.out)}
    assert len(held) == LAYOUT.size
    # the round was each force's release for today: ask again under the same policy
    # without the interval (it changes no count)
    again = parse_policy(SECURE_POLICY.replace('release = "secure-sum"\n', 'release = '
                                               '"secure-sum"\nrelease_interval_days = 0\n'),
                         "again.toml")
    direct = sum(np.asarray(NodeGateway(r.nodes[f], policy=again).aggregates(
        r.report.purpose, EPOCH, LAYOUT)["counts"], dtype=np.int64) for f in r.secure)
    assert direct.sum() > 0, "the test forces must release something"
    cells = LAYOUT.cells.to_pylist()
    for cell_row, expected in zip(cells, direct, strict=True):
        name, cell = cell_row["name"], cell_row["cell"]
        row = held[(name, json.dumps(json.loads(cell), separators=(",", ":")))]
        assert row["count"] == expected and row["forces"] == 3


def test_a_second_sum_the_same_day_is_refused_by_every_force(
        secure_round: SecureRound) -> None:
    """Differencing two sums over different sets of forces would expose one force's
    vector, so each force releases once a day per purpose (the shipped default)."""
    r = secure_round
    for force in r.secure:
        with pytest.raises(Refusal, match="already released its aggregates"):
            NodeGateway(r.nodes[force]).aggregates(r.report.purpose, EPOCH, LAYOUT,
                                                   check=True)


def test_secure_forces_sent_no_aggregates_in_their_share_sets(
        secure_round: SecureRound) -> None:
    r = secure_round
    con = duckdb.connect(str(r.coordinator / "coordinator.duckdb"), read_only=True)
    try:
        held = dict(con.execute("SELECT force, count(*) FROM aggregates GROUP BY force")
                    .fetchall())
    finally:
        con.close()
    assert set(held) == {r.plain}  # only the force that keeps the shipped policy


def test_the_coordinator_ledger_records_the_secure_sum(cli, secure_round: SecureRound) -> None:  # noqa: ANN001
    r = secure_round
    result = cli("audit", "verify", r.coordinator / "coordinator.duckdb", "--public-key",
                 r.coordinator / "keys" / "public.json", "--json")
    assert result.code == 0, result
    con = duckdb.connect(str(r.coordinator / "coordinator.duckdb"), read_only=True)
    try:
        entries = [json.loads(c) for (c,) in con.execute(
            "SELECT counts FROM ledger WHERE action = 'combination' AND justification "
            "LIKE '%secure sum%'").fetchall()]
    finally:
        con.close()
    assert entries == [{"cells": LAYOUT.size, "contributors": 3}]
