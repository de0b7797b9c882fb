"""A federation round run the way real forces and a real coordinator would run it: each
force starts `crossforce node serve` and `crossforce node join`, the coordinator `crossforce
coordinator run` with the forces' SuperNode keys registered (real SuperLink, TLS, node
authentication). As root (CI) each join contains its relay as its own relay user;
otherwise it runs with --insecure-dev. Afterwards nothing is left running and nothing raw
is at the coordinator — its store, the SuperLink database, the logs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from demo_canary import leaks, raw_values
from demo_processes import processes_mentioning
from spawned import start, stop_all

from federation.flower.deployment import free_port, make_loopback_tls, write_node_key
from scenario.custodian import KeyServiceProcess
from scenario.demo import Demo, DemoSettings, crossforce_json
from tests.flower.relay_env import open_folder, relay_python, relay_user

CROSSFORCE = Path(sys.executable).parent / "crossforce"


def _crossforce(*args: object) -> subprocess.Popen[str]:
    return start([CROSSFORCE], *args)


@pytest.mark.deployment
@pytest.mark.slow
def test_a_round_with_forces_that_join_like_real_ones(tmp_path: Path) -> None:
    demo = Demo(DemoSettings(forces=2, persons_per_force=150, seed=7,
                             secure_aggregation=True), tmp_path, say=lambda line: None)
    demo.generate()
    demo.init_nodes()
    keyservice = KeyServiceProcess(demo.keyservice, tmp_path / "logs").spawn()
    try:
        demo.load_nodes(lambda force: None, keyservice)
    except BaseException:
        keyservice.stop()
        raise
    demo.set_up_coordinator()
    tls = make_loopback_tls(tmp_path / "ca")
    port = free_port()
    started: list[subprocess.Popen[str]] = []
    relay_root = open_folder("crossforce-joined-relays-")
    relay: dict[str, list[object]] = {}
    for i, force in enumerate(demo.nodes):
        if os.geteuid() != 0:
            relay[force] = ["--insecure-dev"]
            continue
        user = relay_user(f"crossforce-relay-t{i}")
        relay[force] = ["--relay-user", user.name, "--relay-dir", relay_root / force,
                        "--relay-python", relay_python(user)]
    try:
        gateways = {}
        for force, node in demo.nodes.items():
            write_node_key(node / "federation" / "supernode", force)
            started.append(_crossforce("node", "serve", "--dir", node, "--port", 0))
            line = started[-1].stdout.readline()  # type: ignore[union-attr]
            found = re.search(r"listening on (\S+)", line)
            assert found, line
            gateways[force] = found.group(1)
        registrations = [arg for force, node in demo.nodes.items() for arg in (
            "--register", f"{force}={node / 'federation' / 'supernode' / force}.key.pub")]
        run = _crossforce(
            "coordinator", "run", "--dir", demo.coordinator, "--purpose", "TOEX-CSE",
            "--forces", ",".join(demo.nodes), "--port", port, "--wait-for-nodes", 90,
            "--certfile", tls.certfile, "--keyfile", tls.keyfile,
            "--ca-certfile", tls.ca_certfile, "--secure-aggregation", *registrations)
        started.append(run)
        shown = []
        for line in run.stdout:  # type: ignore[union-attr]
            shown.append(line)
            if "registered SuperNode keys" in line or run.poll() is not None:
                break
        for force, node in demo.nodes.items():
            started.append(_crossforce(
                "node", "join", "--dir", node, "--superlink", f"127.0.0.1:{port}",
                "--root-certificates", tls.ca_certfile, "--gateway", gateways[force],
                "--port", free_port(), *relay[force]))
        out, _ = run.communicate(timeout=240)
        out = "".join(shown) + out
    finally:
        stop_all(started)
        keyservice.stop()
        shutil.rmtree(relay_root, ignore_errors=True)
    assert run.returncode == 0, out[-3000:]
    for force in demo.nodes:
        assert re.search(rf"{force}\s+│\s+submitted\s+│\s+delivered", out), out[-3000:]
    # both data owners chose the secure sum: SecAgg+ ran through the real SuperLink
    assert re.search(r"secure sum\s+\(SecAgg\+\)\s+of\s+2\s+force\(s\)", out), out[-3000:]
    held = crossforce_json("coordinator", "aggregates", "--dir", demo.coordinator,
                           "--method", "secure-sum", "--json")
    assert held and {(r["method"], r["forces"]) for r in held} == {("secure-sum", 2)}
    assert processes_mentioning(str(tmp_path)) == []
    assert processes_mentioning(str(relay_root)) == []  # the relay users' processes too

    needles = raw_values(demo.scenario_dir, list(demo.nodes))
    assert (demo.coordinator / "flower" / "superlink.db").is_file()
    assert leaks(demo.coordinator, needles) == []
    # every share's values were evaluated by the key service, blinded; it holds no value
    assert leaks(demo.keyservice, needles) == []
