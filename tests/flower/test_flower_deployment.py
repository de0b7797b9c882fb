"""One real federation through Flower's Deployment Engine on loopback: a SuperLink with
TLS and node authentication, two SuperNodes, the real relay, node gateways, and the
ServerApp in its own process driving a coordinator service it loads from run-config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flower_services import EAST_SHARED, SHARED, Forces, TokenNode

from federation.flower.deployment import LoopbackDeployment, group_alive

HERE = Path(__file__).parent




@pytest.mark.deployment
def test_a_federation_runs_through_a_real_superlink(tmp_path: Path) -> None:
    nodes = {"north": TokenNode("north", [SHARED]),
             "south": TokenNode("south", [SHARED, EAST_SHARED])}
    coordinator_dir = tmp_path / "coordinator"
    coordinator_dir.mkdir()
    (coordinator_dir / "keys.json").write_text(json.dumps(
        {f: n.signer.public_key.hex() for f, n in nodes.items()}))
    forces = Forces(tmp_path, nodes).start()
    lines: list[str] = []
    deployment = LoopbackDeployment(tmp_path / "flower", forces.node_configs,
                                    pythonpath=[HERE], progress=lines.append,
                                    start_timeout=60)
    try:
        with deployment:
            report = deployment.federate({
                "purpose": "op-nightjar", "epoch": 2, "share-timeout": 40.0,
                "hits-timeout": 40.0, "wait-for-nodes": 60.0,
                "coordinator-service": "flower_services:make_coordinator",
                "coordinator-dir": str(coordinator_dir)}, timeout=120)
    finally:
        forces.close()
        groups = {p.name: p.popen.pid for p in deployment.processes}

    assert [n for n, g in groups.items() if group_alive(g)] == [], "outlived the test"
    assert set(groups) == {"superlink", "flwr-run", "supernode-north", "supernode-south",
                           "relay-north", "relay-south"}
    assert report.shared() == ["north", "south"], report
    assert report.link == {"shared_tokens": 1}
    assert {f: o.hits for f, o in report.forces.items()} == {"north": "delivered",
                                                             "south": "delivered"}
    assert nodes["north"].received[0].column("other_forces").to_pylist() == [["south"]]
    assert forces.calls["south"] == [("/share", "shared"), ("/hits", "received")]
    assert any("notify: north: delivered" in line for line in lines)  # progress streamed
    # each relay task was forked from its force's preloaded executor, which its SuperNode
    # woke for each message, and was reaped
    assert len(deployment.relay_task_cpu()) == 4  # share + hits, two forces
    for force in ("north", "south"):
        log = (tmp_path / "flower" / "logs" / f"relay-{force}.log").read_text()
        assert "relay executor (fork per task, woken by its SuperNode)" in log
        assert log.count("done: exit 0,") == 2, log
    # with its own SuperNodes the SuperLink kept its state in memory: nothing on disk
    assert deployment.superlink_database is None
    assert not list((tmp_path / "flower").glob("*.db"))
