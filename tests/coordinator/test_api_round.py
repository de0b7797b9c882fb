"""A federation round while the service serves: the round hands its payloads to the
service (its internal API) instead of opening the store, and the API answers throughout.

North and south both hold one number (SHARED); south and east another (EAST_SHARED);
east refuses to share. After the round the north liaison's lookup of SHARED is a hit
naming south — and nobody else — and the coordinator's ledger holds the round's
collections next to the consultations.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from federation.flower.grid import InProcessGrid
from federation.flower.protocol import load_coordinator_service
from federation.flower.serverapp import RoundSettings, run_federation
from federation.tokens import Tokeniser
from tests.coordinator.served_api import Api, add_user, serving
from tests.flower.flower_services import (
    EAST_SHARED,
    NORTH_ONLY,
    SHARED,
    TOKEN_KEY,
    Forces,
    SubmissionNode,
)

PURPOSE = "op-nightjar"


def _coordinator(directory: Path, nodes: dict[str, SubmissionNode]) -> None:
    from coordinator.registry import register_force
    from coordinator.store import init_store

    store = init_store(directory)
    try:
        for force, node in nodes.items():
            register_force(store.con, store.ledger, force, node.signer.public_key, [1])
            node.coordinator_key = store.keys.signer.public_key
    finally:
        store.close()


def _token(number: str) -> str:
    return bytes(Tokeniser(TOKEN_KEY).tokens("phone", [number])[0]).hex()


@pytest.mark.slow
def test_a_round_runs_through_the_serving_coordinator_and_the_api_answers_meanwhile(
        tmp_path: Path) -> None:
    nodes = {"north": SubmissionNode("north", [SHARED, NORTH_ONLY]),
             "south": SubmissionNode("south", [SHARED, EAST_SHARED]),
             "east": SubmissionNode("east", [EAST_SHARED])}
    nodes["east"].refuse = "not in our sharing policy"
    directory = tmp_path / "coordinator"
    _coordinator(directory, nodes)
    keys = {"liaison": add_user(directory, "nl", "liaison:north"),
            "auditor": add_user(directory, "au", "auditor")}
    forces = Forces(tmp_path / "nodes", dict(nodes)).start()
    with serving(directory) as url:
        liaison = Api(url, keys["liaison"], purpose=PURPOSE)
        auditor = Api(url, keys["auditor"], purpose="AUDIT")
        answers: list[int] = []
        stop = threading.Event()

        def keep_asking() -> None:  # an auditor reading while the round runs
            while not stop.is_set():
                answers.append(auditor.get("/v1/submissions").status_code)

        reader = threading.Thread(target=keep_asking)
        reader.start()
        service = load_coordinator_service("coordinator.service:open_service", directory)
        try:
            assert type(service).__name__ == "RemoteCoordinator"  # not the store itself
            with InProcessGrid(forces.node_configs) as grid:
                report = run_federation(grid, service, RoundSettings(PURPOSE, 1))
        finally:
            stop.set()
            reader.join()
            service.close()
            forces.close()
        assert report.shared() == ["north", "south"]
        assert report.forces["north"].hits == "delivered"
        assert answers and set(answers) == {200}

        body = {"tokens": [{"kind": "phone", "token": _token(n)}
                           for n in (SHARED, NORTH_ONLY, EAST_SHARED)]}
        shared, north_only, east_shared = liaison.post("/v1/lookups", body).json()["results"]
        assert (shared["hit"], shared["other_forces"]) == (True, ["south"])
        assert (north_only["hit"], north_only["other_forces"]) == (False, [])
        # east refused to share, so that number is known to south alone: south is named
        assert (east_shared["hit"], east_shared["other_forces"]) == (True, ["south"])

        ledger = auditor.get("/v1/ledger", limit=500).json()["items"]
        actions = [e["action"] for e in ledger if e["actor"] == "coordinator-service"]
        assert actions.count("collection") == 2 and "combination" in actions
        assert actions.count("disclosure") == 2  # hits to north and south
