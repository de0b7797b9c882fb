"""A federation round driving the real coordinator service (``coordinator.service``) over
the in-process grid: real Submissions in, real linkage, real hits out to each force."""

from __future__ import annotations

from pathlib import Path

from flower_services import EAST_SHARED, NORTH_ONLY, SHARED, Forces, SubmissionNode

from federation.flower.grid import InProcessGrid
from federation.flower.protocol import load_coordinator_service
from federation.flower.serverapp import RoundSettings, run_federation


def _coordinator(directory: Path, nodes: dict[str, SubmissionNode]) -> None:
    from coordinator.registry import register_force
    from coordinator.store import init_store

    store = init_store(directory)
    try:
        for force, node in nodes.items():
            register_force(store.con, store.ledger, force, node.signer.public_key, [1])
            node.coordinator_key = store.keys.signer.public_key  # it trusts the hits' signer
    finally:
        store.close()


def test_a_round_through_the_real_coordinator(tmp_path: Path) -> None:
    nodes = {"north": SubmissionNode("north", [SHARED, NORTH_ONLY]),
             "south": SubmissionNode("south", [SHARED, EAST_SHARED]),
             "east": SubmissionNode("east", [EAST_SHARED])}
    nodes["east"].refuse = "not in our sharing policy"
    _coordinator(tmp_path / "coordinator", nodes)
    forces = Forces(tmp_path / "nodes", dict(nodes)).start()
    service = load_coordinator_service("coordinator.service:open_service",
                                       tmp_path / "coordinator")
    try:
        with InProcessGrid(forces.node_configs) as grid:
            report = run_federation(grid, service, RoundSettings("op-nightjar", 1))
    finally:
        service.close()
        forces.close()

    assert report.shared() == ["north", "south"]
    assert report.forces["east"].share == "refused"
    assert report.forces["north"].receipt["force"] == "north"
    assert report.forces["north"].hits == "delivered"
    # north's hits are north's own ref for the shared number, naming south — nothing else
    (hits,) = nodes["north"].received
    assert hits.column("ref").to_pylist() == [nodes["north"].ref_of(SHARED)]
    assert hits.column("other_forces").to_pylist() == [["south"]]
