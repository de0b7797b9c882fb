"""The national secure sum: real nodes, real gateways, the real relay, Flower's SecAgg+.

Three forces of a generated scenario are built with the real CLI and a policy that
releases aggregates only through the secure sum. Each is served by the real gateway over
its real ``NodeGateway``; the secure sum runs over the in-process grid. The coordinator
must get exactly the sum of what each force's policy gate released — and never one
force's vector.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import duckdb
import httpx
import numpy as np
import pytest
import real_nodes
from flwr.app import Context, Message, RecordDict
from flwr.common import bytes_to_ndarray

from federation.flower.clientapp import SumQuery
from federation.flower.gateway import running_gateway
from federation.flower.grid import InProcessGrid
from federation.flower.protocol import SECRET_HEADER
from federation.flower.secure_sum import SecureSum, SecureSumFailed, secure_sum
from node.gateway import NodeGateway
from policies.national_tables import MAX_CELL_COUNT, NATIONAL_TABLES, NationalLayout

FORCES, PERSONS, SEED = 3, 200, 11
PURPOSE = "TEST-SECURE-SUM"
LAYOUT = NationalLayout(tables=NATIONAL_TABLES, years=(2010, 2025))

POLICY = f"""
[purpose]
code = "{PURPOSE}"
lawful_basis = "Test only: national counts through a secure sum."

[share]
roles = ["suspect", "offender", "facilitator", "associate", "witness"]

[aggregates]
dimensions = ["offence_category", "year", "role", "ethnicity", "outcome_code", "age_band"]
release = "secure-sum"
release_interval_days = 0   # these tests sum the same forces again and again

[disclosure]
threshold = 3
rounding = 5
"""
#: the same policy, but without age bands: this force cannot give the whole layout
NO_AGE_BANDS = POLICY.replace(', "age_band"]', "]")


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("secure-sum")
    scenario, forces = real_nodes.scenario(root, forces=FORCES, persons=PERSONS, seed=SEED)
    built = {}
    for force in forces:
        node = root / "nodes" / force
        real_nodes.crossforce("node", "init", "--force", force, "--dir", node)
        real_nodes.crossforce("node", "ingest", "--dir", node, scenario / force)
        (node / "policy.toml").write_text(POLICY)
        built[force] = node
    (root / "nodes" / "no-age-bands.toml").write_text(NO_AGE_BANDS)
    return built


class RecordingGrid(InProcessGrid):
    """The in-process grid, keeping every reply the coordinator side pulled."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.replies: list[Message] = []

    def pull_messages(self, message_ids):  # noqa: ANN001, ANN201
        pulled = list(super().pull_messages(message_ids))
        self.replies += pulled
        return pulled


@dataclass
class Federation:
    grid: RecordingGrid
    node_ids: dict[str, int]


@pytest.fixture
def federation(nodes: dict[str, Path]) -> Iterator[callable]:
    """federation({force: NodeGateway}) → the forces' gateways on loopback and a grid."""
    with ExitStack() as stack:
        def start(services: dict[str, NodeGateway]) -> Federation:
            grid = stack.enter_context(RecordingGrid(real_nodes.serve(stack, services, nodes)))
            return Federation(grid, {n.name: n.node_id for n in grid.get_nodes()})
        yield start


def server_context() -> Context:
    return Context(run_id=1, node_id=0, node_config={}, state=RecordDict(), run_config={})


def gated_vector(node: Path, policy: str | None = None) -> np.ndarray:
    """What the force's gate releases on the layout, asked directly (no Flower)."""
    answer = NodeGateway(node, policy=policy).aggregates(PURPOSE, 0, LAYOUT)
    return np.asarray([*answer["counts"], answer["outside_layout"]], dtype=np.int64)


def total(result: SecureSum) -> np.ndarray:
    return np.asarray([*result.counts, result.outside_layout], dtype=np.int64)


# --------------------------------------------------------------------------- the sum


def test_the_secure_sum_is_the_sum_of_what_each_gate_released(federation, nodes) -> None:  # noqa: ANN001
    fed = federation({force: NodeGateway(node) for force, node in nodes.items()})
    result = secure_sum(fed.grid, server_context(), fed.node_ids.values(), LAYOUT, 60,
                        purpose=PURPOSE)
    direct = {force: gated_vector(node) for force, node in nodes.items()}
    assert result.contributors == FORCES and result.dropped == {}
    assert result.counts.shape == (LAYOUT.size,)
    np.testing.assert_array_equal(total(result), sum(direct.values()))
    assert result.counts.sum() > 200  # a real national picture, not zeros
    # released counts were rounded to 5 by every gate, so the sum is too
    assert (result.counts % 5 == 0).all()
    assert len(result.cells()) == LAYOUT.size
    assert json.loads(result.cells()[0][1]) == {"offence_category": "cse", "year": "2010"}


def test_the_coordinator_never_sees_one_force_s_vector(federation, nodes) -> None:  # noqa: ANN001
    fed = federation({force: NodeGateway(node) for force, node in nodes.items()})
    secure_sum(fed.grid, server_context(), fed.node_ids.values(), LAYOUT, 60,
               purpose=PURPOSE)
    plain = [gated_vector(node) for node in nodes.values()]
    # what a careless relay might send: the counts, or the counts as SecAgg+ quantises them
    forms = [v.astype(np.float64) for v in plain] + [
        (v + MAX_CELL_COUNT).astype(np.float64) for v in plain]
    seen = carried_arrays(fed.grid.replies)
    masked = [a for a in seen if a.size == LAYOUT.size + 1]  # counts + outside, masked
    assert len(masked) == FORCES, "expected one masked vector per force"
    for array in seen:
        flat = array.astype(np.float64).ravel()
        for form in forms:
            assert not (flat.size >= form.size and _contains(flat, form)), \
                "a force's plain vector reached the coordinator"
    for reply in fed.grid.replies:  # and nothing counted in clear beside it
        for record in reply.content.metric_records.values():
            assert all(not isinstance(v, list) or len(v) < LAYOUT.size
                       for v in record.values())


@pytest.mark.parametrize("preflight", [True, False], ids=["asked-first", "mid-protocol"])
def test_a_refusing_force_drops_out_and_the_others_are_summed(federation, nodes,  # noqa: ANN001
                                                             preflight: bool) -> None:
    """Asked first, the force is left out before keys are shared; asked mid-protocol (no
    preflight), it drops out after the key exchange and SecAgg+ removes its masks with the
    other forces' shares — the sum is the same either way."""
    forces = sorted(nodes)
    refusing = forces[0]
    no_age = str(nodes[refusing].parent / "no-age-bands.toml")
    services = {f: NodeGateway(nodes[f], policy=no_age if f == refusing else None)
                for f in forces}
    fed = federation(services)
    result = secure_sum(fed.grid, None, fed.node_ids.values(), LAYOUT, 60, purpose=PURPOSE,
                        preflight=preflight)
    assert result.contributors == FORCES - 1
    assert list(result.dropped) == [fed.node_ids[refusing]]
    reason = result.dropped[fed.node_ids[refusing]]
    assert "refused: the sharing policy does not allow the dimensions of " \
           "persons_by_role_age_band" in reason
    others = sum(gated_vector(nodes[f]) for f in forces if f != refusing)
    np.testing.assert_array_equal(total(result), others)
    calls = (nodes[refusing] / "federation" / "gateway-calls.jsonl").read_text()
    assert "refused: the sharing policy does not allow" in calls


def test_too_few_forces_is_no_sum(federation, nodes) -> None:  # noqa: ANN001
    forces = sorted(nodes)
    fed = federation({forces[0]: NodeGateway(nodes[forces[0]])})
    with pytest.raises(SecureSumFailed, match="at least 2 contributing nodes, got 1 of 1"):
        secure_sum(fed.grid, server_context(), fed.node_ids.values(), LAYOUT, 60,
                   purpose=PURPOSE)
    # two forces asked for another purpose: both say no before anything is exchanged
    fed = federation({f: NodeGateway(nodes[f]) for f in forces[1:]})
    with pytest.raises(SecureSumFailed, match="got 0 of 2") as failed:
        secure_sum(fed.grid, server_context(), fed.node_ids.values(), LAYOUT, 60,
                   purpose="TOEX-CSE")
    assert set(failed.value.dropped.values()) == {
        "refused: purpose TOEX-CSE is not in this force's sharing policy"}
    # ... and found out only mid-protocol, SecAgg+ halts: nothing is unmasked
    with pytest.raises(SecureSumFailed, match="halted") as failed:
        secure_sum(fed.grid, server_context(), fed.node_ids.values(), LAYOUT, 60,
                   purpose="TOEX-CSE", preflight=False)
    assert len(failed.value.dropped) == 2


def test_asking_whether_a_force_would_contribute_releases_nothing(nodes) -> None:  # noqa: ANN001
    node = sorted(nodes.values())[0]
    before = ledger_size(node)
    assert NodeGateway(node).aggregates(PURPOSE, 0, LAYOUT, check=True) == {
        "cells": LAYOUT.size}
    assert ledger_size(node) == before


def ledger_size(node: Path) -> int:
    con = duckdb.connect(str(node / "node.duckdb"), read_only=True)
    try:
        return con.execute("SELECT count(*) FROM ledger").fetchone()[0]
    finally:
        con.close()


def test_each_release_is_a_disclosure_in_the_node_ledger(nodes) -> None:  # noqa: ANN001
    node = sorted(nodes.values())[0]
    gated_vector(node)
    con = duckdb.connect(str(node / "node.duckdb"), read_only=True)
    try:
        action, recipients, counts, payload = con.execute(
            "SELECT action, recipients, counts, payload_hash FROM ledger "
            "ORDER BY seq DESC LIMIT 1").fetchone()
    finally:
        con.close()
    assert action == "disclosure" and "secure sum" in str(recipients)
    assert payload is None  # nobody receives this vector alone, so there is no receipt
    counts = json.loads(counts) if isinstance(counts, str) else dict(counts)
    assert counts["aggregate_cells"] == LAYOUT.size
    assert counts["aggregate_cells_nonzero"] > 0
    assert set(counts) == {"aggregate_cells", "aggregate_cells_nonzero",
                           "aggregate_cells_suppressed", "aggregate_cells_outside_layout"}


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("body, message", [
    ({"tables": ["persons_by_role_nationality"], "years": [2010, 2025]},
     "tables: table 'persons_by_role_nationality' has no national layout: nationality"),
    ({"tables": ["crimes_by_weather"], "years": [2010, 2025]},
     "unknown table 'crimes_by_weather'; national tables are crimes_by_category_year"),
    ({"tables": ["persons_by_role_year"], "years": [2025, 2010]},
     "years must be [first, last] with 1900 <= first <= last <= 2100, got [2025, 2010]"),
    ({"tables": ["persons_by_role_year", "persons_by_role_year"], "years": [2010, 2025]},
     "a table is named twice"),
])
def test_a_bad_layout_is_a_422_that_says_what_is_wrong(nodes, tmp_path: Path,  # noqa: ANN001
                                                       body: dict, message: str) -> None:
    node = sorted(nodes.values())[0]
    secret = "s" * 40
    with running_gateway(NodeGateway(node), secret) as server:
        response = httpx.post(f"{server.url}/aggregates", headers={SECRET_HEADER: secret},
                              json={"purpose": PURPOSE, "epoch": 0, **body}, timeout=30)
    assert response.status_code == 422
    assert "bad national layout" in response.json()["detail"]
    assert message in response.json()["detail"]


def test_a_malformed_request_is_a_422_naming_the_field(nodes) -> None:  # noqa: ANN001
    node = sorted(nodes.values())[0]
    secret = "s" * 40
    with running_gateway(NodeGateway(node), secret) as server:
        response = httpx.post(f"{server.url}/aggregates", headers={SECRET_HEADER: secret},
                              json={"purpose": PURPOSE, "epoch": 0, "years": [2010]},
                              timeout=30)
    assert response.status_code == 422
    fields = {e["loc"][1] for e in response.json()["detail"]}
    assert fields == {"tables", "years"}


# --------------------------------------------------------------------------- helpers


def carried_arrays(replies: list[Message]) -> list[np.ndarray]:
    """Every numeric array in the replies: array records and ndarray bytes in configs."""
    found: list[np.ndarray] = []
    for reply in replies:
        if reply.has_error():
            continue
        for record in reply.content.array_records.values():
            found += [array.numpy() for array in record.values()]
        for record in reply.content.config_records.values():
            for value in record.values():
                for item in value if isinstance(value, list) else [value]:
                    if isinstance(item, bytes):
                        try:
                            found.append(bytes_to_ndarray(item))
                        except Exception:  # noqa: BLE001 - keys and shares, not arrays
                            continue
    return found


def _contains(haystack: np.ndarray, needle: np.ndarray) -> bool:
    windows = np.lib.stride_tricks.sliding_window_view(haystack, needle.size)
    return bool((windows == needle).all(axis=1).any())


def test_the_query_travels_as_flat_config_and_back() -> None:
    query = SumQuery(PURPOSE, 1, LAYOUT.tables, LAYOUT.years, LAYOUT.size, MAX_CELL_COUNT)
    config = query.config()
    assert all(isinstance(v, str | int) for v in config.values())  # legacy FitIns scalars
    assert SumQuery.from_config(json.loads(json.dumps(config))) == query
    assert NationalLayout(tables=query.tables, years=query.years) == LAYOUT
