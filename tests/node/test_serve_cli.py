"""`crossforce node serve` (the gateway a force runs) and `crossforce node join` (its
SuperNode), run as real processes the way a force would run them."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import httpx
import pytest
from egress_nodes import canary_template, copy_node

from federation.flower.deployment import free_port, make_loopback_tls
from federation.flower.protocol import SECRET_HEADER
from federation.keys import NodeKeys
from federation.ledger import verify_ledger

CROSSFORCE = Path(sys.executable).parent / "crossforce"


@pytest.fixture
def node(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    return copy_node(canary_template(tmp_path_factory), tmp_path / "canary-node")


def _start(*args: object) -> subprocess.Popen[str]:
    return subprocess.Popen([str(CROSSFORCE), *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _stop(process: subprocess.Popen[str]) -> tuple[str, str]:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture
def served(node: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    gateway = _start("node", "serve", "--dir", node, "--port", 0)
    try:
        line = gateway.stdout.readline()  # type: ignore[union-attr]
        found = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
        assert found, line + (gateway.stderr.read() if gateway.poll() is not None else "")
        yield gateway, found.group(1)
    finally:
        _stop(gateway)


def _ledger_actions(node: Path) -> tuple[bool, dict[str, int]]:
    con = duckdb.connect(str(node / "node.duckdb"), read_only=True)
    try:
        report = verify_ledger(con, NodeKeys.load(node / "keys").signer.public_key)
    finally:
        con.close()
    return report.ok, report.actions


def test_serve_answers_the_relay_and_logs_every_call(node: Path, served) -> None:  # noqa: ANN001
    gateway, url = served
    secret_file = node / "federation" / "relay-secret"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    secret = secret_file.read_text().strip()
    ask = {"purpose": "TOEX-CSE", "epoch": 1}

    assert httpx.post(f"{url}/share", json=ask).status_code == 401
    shared = httpx.post(f"{url}/share", json=ask, headers={SECRET_HEADER: secret}, timeout=60)
    assert shared.status_code == 200 and len(shared.content) > 100
    refused = httpx.post(f"{url}/share", json={"purpose": "TOEX-COUNTY-LINES", "epoch": 1},
                         headers={SECRET_HEADER: secret}, timeout=60)
    assert refused.status_code == 403
    assert "not in this force's sharing policy" in refused.json()["refusal"]
    out, _ = _stop(gateway)
    assert gateway.returncode == 0 and "stopped" in out

    calls = [json.loads(line) for line in
             (node / "federation" / "gateway-calls.jsonl").read_text().splitlines()]
    assert [c["outcome"].split(":")[0] for c in calls] == ["unauthorised", "shared", "refused"]
    ok, actions = _ledger_actions(node)
    assert ok
    assert actions["disclosure"] == 1     # the share set, ledgered by egress
    assert actions["consultation"] == 2   # the bad secret and the refusal


def test_serve_listens_on_loopback_only(cli, node: Path) -> None:  # noqa: ANN001
    result = cli("node", "serve", "--dir", node, "--host", "0.0.0.0", "--port", 0)
    assert result.code == 2
    assert "loopback only" in result.err


def test_serve_refuses_a_relay_secret_others_can_read(cli, node: Path,  # noqa: ANN001
                                                      tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("x" * 64)
    secret.chmod(0o644)
    result = cli("node", "serve", "--dir", node, "--port", 0, "--secret-file", secret)
    assert result.code == 2
    assert "readable by other users" in result.err


@pytest.mark.parametrize("gateway, message", [
    ("http://10.0.0.7:8765", "loopback or a Unix socket"),
    ("https://gateway.example.org", "loopback or a Unix socket"),
    ("http://localhost.example.org:8765", "loopback or a Unix socket"),
])
def test_join_wants_a_gateway_on_loopback(cli, node: Path, tmp_path: Path,  # noqa: ANN001
                                          gateway: str, message: str) -> None:
    ca = make_loopback_tls(tmp_path / "tls").ca_certfile
    result = cli("node", "join", "--dir", node, "--superlink", "127.0.0.1:9092",
                 "--root-certificates", ca, "--gateway", gateway)
    assert result.code == 2
    assert message in result.err


def test_join_wants_the_superlink_ca(cli, node: Path, tmp_path: Path) -> None:  # noqa: ANN001
    result = cli("node", "join", "--dir", node, "--superlink", "127.0.0.1:9092",
                 "--root-certificates", tmp_path / "missing.pem",
                 "--gateway", "http://127.0.0.1:8765")
    assert result.code == 2
    assert "missing.pem" in result.err


def test_join_runs_its_supernode_until_stopped_and_leaves_nothing(node: Path,
                                                                  tmp_path: Path) -> None:
    """No SuperLink listens, so the SuperNode retries forever (Flower #6250): stopping
    `node join` must still stop it and everything it started."""
    ca = make_loopback_tls(tmp_path / "tls").ca_certfile
    # --insecure-dev: this is about supervision (relay containment: tests/flower)
    join = _start("node", "join", "--dir", node, "--superlink", f"127.0.0.1:{free_port()}",
                  "--root-certificates", ca, "--gateway", "http://127.0.0.1:8765",
                  "--port", free_port(), "--insecure-dev")
    try:
        first = join.stdout.readline()  # type: ignore[union-attr]
        rest: list[str] = []
        while len(rest) < 3 and not any("connecting to" in line for line in rest):
            rest.append(join.stdout.readline())  # type: ignore[union-attr]
        key = node / "federation" / "supernode" / "Canaryshire.key"
        assert "Canaryshire.key.pub" in first and "--name Canaryshire" in first
        assert any("connecting to 127.0.0.1:" in line for line in rest), rest
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        log = node / "federation" / "supernode" / "supernode-Canaryshire.log"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not log.read_text().strip():
            time.sleep(0.2)
        assert log.read_text().strip(), "the SuperNode never started"
    finally:
        out, _ = _stop(join)
    assert "stopped" in out
    time.sleep(0.5)
    leftover = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if "flower-supernode" in cmdline and str(node) in cmdline:
                leftover.append(cmdline)
    assert leftover == []
