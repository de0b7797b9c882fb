"""The relay is contained: through a real SuperLink, a hostile relay app sent by the
coordinator reads nothing of the node it runs on, and an app the force did not approve
does not run at all (its messages get error replies; the round records the refusal).

Two real nodes (built with the real CLI) run `crossforce node serve` and `crossforce node
join` as a force would — join as root, dropping to a relay user per force — in a folder
other users may enter, so only what `node join` sets up keeps the relay out. The first
force approved the hostile app's hash (as if it had been fooled, or an approved relay had
a hole): the app runs, as that force's relay user, and is denied everything of the node.
The second force approved only its own installation's relay: the hostile app is refused,
and in the crossforce round that follows the first force refuses the real relay.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import real_nodes
from relay_env import fab_hash, need_root, open_folder, relay_python, relay_user
from spawned import start, stop_all

from federation.flower.deployment import free_port, make_loopback_tls, write_node_key
from tests.demo.demo_processes import processes_mentioning

HOSTILE_APP = Path(__file__).parent / "hostile_app"
CROSSFORCE = [sys.executable, "-m", "federation.cli"]
USERS = ("crossforce-relay-t0", "crossforce-relay-t1")

pytestmark = [pytest.mark.deployment, pytest.mark.slow]


def _start(*args: object) -> subprocess.Popen[str]:
    return start(CROSSFORCE, *args)


def test_a_hostile_relay_is_contained_and_an_unapproved_one_refused() -> None:
    need_root()
    from coordinator.run_cli import CoordinatorSuperLink
    from policies.model import resolve_policy

    users = [relay_user(name) for name in USERS]
    python = relay_python(users[0])
    root = open_folder("crossforce-containment-")
    started: list[subprocess.Popen[str]] = []
    try:
        scenario, forces = real_nodes.scenario(root, forces=2, persons=300, seed=5)
        coordinator, nodes = real_nodes.build(root, scenario, forces, epoch=1)
        approving, refusing = forces
        user_of = dict(zip(forces, users, strict=True))
        for node in nodes.values():  # a careless install: every folder open to all
            for base, dirs, _ in os.walk(node):
                for name in [".", *dirs]:
                    os.chmod(os.path.join(base, name), 0o755)
            os.chmod(node / "node.duckdb", 0o644)
            write_node_key(node / "federation" / "supernode", node.name)
        tls = make_loopback_tls(root / "ca")
        link = CoordinatorSuperLink(root / "superlink", tls=tls, host="127.0.0.1",
                                    port=free_port())
        with link:
            link.start_superlink()
            link.register_keys({f: n / "federation" / "supernode" / f"{f}.key.pub"
                                for f, n in nodes.items()})
            gateways = {}
            for force, node in nodes.items():
                started.append(_start("node", "serve", "--dir", node, "--port", 0))
                line = started[-1].stdout.readline()  # type: ignore[union-attr]
                found = re.search(r"listening on (\S+)", line)
                assert found, line
                gateways[force] = found.group(1)
            hostile = fab_hash(HOSTILE_APP)
            joins = {}
            for force, node in nodes.items():
                approve = ["--approve-relay", hostile] if force == approving else []
                joins[force] = _start(
                    "node", "join", "--dir", node, "--superlink", f"127.0.0.1:{link.port}",
                    "--root-certificates", tls.ca_certfile, "--gateway", gateways[force],
                    "--port", free_port(), "--relay-user", user_of[force].name,
                    "--relay-dir", root / f"relay-{force}", "--relay-python", python,
                    *approve)
                started.append(joins[force])
            deadline = time.monotonic() + 120
            while link.online() != set(forces) and time.monotonic() < deadline:
                dead = {f: j for f, j in joins.items() if j.poll() is not None}
                assert not dead, {f: j.stdout.read() for f, j in dead.items()}  # type: ignore[union-attr]
                time.sleep(1)
            assert link.online() == set(forces)

            # what the hostile app goes for, on both forces' sides
            targets: dict[str, str] = {}
            for force, node in nodes.items():
                targets.update({
                    f"{force} node folder": str(node),
                    f"{force} node.duckdb": str(node / "node.duckdb"),
                    f"{force} keys": str(node / "keys"),
                    f"{force} relay secret": str(node / "federation" / "relay-secret"),
                    f"{force} SuperNode key": str(node / "federation" / "supernode" /
                                                  f"{force}.key"),
                    f"{force} relay copy of the secret": str(root / f"relay-{force}" /
                                                             "relay-secret")})
                targets.update({f"{force} keys/{key.name}": str(key)
                                for key in (node / "keys").iterdir()})
            report_file = root / "hostile-report.json"
            run = link.launch_run({"targets": json.dumps(targets), "expected-nodes": 2,
                                   "timeout": 120.0, "report-file": str(report_file)},
                                  app_dir=HOSTILE_APP)
            link.wait_process(run, timeout=300)
            assert report_file.exists(), run.tail(40)
            got = json.loads(report_file.read_text())

            # the round that follows: the approving force approved only the hostile app
            round_report = link.run({
                "purpose": resolve_policy("cse-national").purpose.code, "epoch": 1,
                "expected-forces": ",".join(forces), "wait-for-nodes": 60.0,
                "share-timeout": 180.0, "hits-timeout": 120.0,
                "coordinator-service": "coordinator.service:open_service",
                "coordinator-dir": str(coordinator)}, timeout=600)
    finally:
        stop_all(started)
    try:
        # 1. contained: the hostile app ran as the relay user and read nothing of a node
        seen = got[approving]
        assert seen["user"] == user_of[approving].name and seen["uid"] != 0, seen
        own_copy = f"{approving} relay copy of the secret"
        assert seen["read"][own_copy].startswith("read "), seen  # the probe does read
        leaked = {t: r for t, r in seen["read"].items()
                  if t != own_copy and not r.startswith("denied")}
        assert leaked == {}, leaked
        assert seen["gateway_without_secret"] == 401, seen
        # 2. not approved: the other force ran none of it and said why
        assert "error" in got[refusing], got[refusing]
        assert f"relay app sha256:{hostile}" in got[refusing]["error"]
        assert "refused by this force" in got[refusing]["error"]
        # 3. the crossforce round went on and recorded the first force's refusal
        outcomes = round_report.forces
        assert outcomes[refusing].share == "submitted", outcomes
        assert outcomes[approving].share == "error", outcomes
        assert "refused by this force" in outcomes[approving].detail
        # 4. join closed the careless node folders; nothing is left running
        for node in nodes.values():
            assert os.stat(node).st_mode & 0o077 == 0
        assert processes_mentioning(str(root)) == []
    finally:
        shutil.rmtree(root, ignore_errors=True)
