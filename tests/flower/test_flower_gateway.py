"""The node gateway: the only door into a node, and a narrow one."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from flower_services import SHARED, TokenNode

from federation.errors import CrossforceError
from federation.flower.gateway import GatewayServer, gateway_app, running_gateway
from federation.flower.protocol import SECRET_HEADER, create_relay_secret, read_relay_secret

SECRET = "s" * 64


@pytest.fixture
def node() -> TokenNode:
    return TokenNode("north", [SHARED])


@pytest.fixture
def audit() -> list[tuple[str, str]]:
    return []


@pytest.fixture
def gateway(node: TokenNode, audit: list[tuple[str, str]]):
    with running_gateway(node, SECRET, on_call=lambda e, o: audit.append((e, o))) as server:
        yield server


def test_the_right_secret_gets_a_signed_share_set(gateway: GatewayServer, node: TokenNode,
                                                  audit: list[tuple[str, str]]) -> None:
    response = httpx.post(f"{gateway.url}/share", json={"purpose": "op-x", "epoch": 1},
                          headers={SECRET_HEADER: SECRET})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    assert len(response.content) > 64
    assert node.asked == [("op-x", 1)]
    assert audit == [("/share", "shared")]


@pytest.mark.parametrize("headers", [{}, {SECRET_HEADER: "s" * 63}, {SECRET_HEADER: "t" * 64},
                                     {"authorization": f"Bearer {SECRET}"}])
def test_a_wrong_or_missing_secret_is_refused_before_the_node_is_asked(
        gateway: GatewayServer, node: TokenNode, audit: list[tuple[str, str]],
        headers: dict[str, str]) -> None:
    response = httpx.post(f"{gateway.url}/share", json={"purpose": "op-x", "epoch": 1},
                          headers=headers)
    assert response.status_code == 401
    assert node.asked == []
    assert audit == [("/share", "unauthorised")]


def test_hits_need_the_secret_too(gateway: GatewayServer, node: TokenNode) -> None:
    response = httpx.post(f"{gateway.url}/hits", content=b"x")
    assert response.status_code == 401
    assert node.received == []


@pytest.mark.parametrize("method,path", [
    ("GET", "/share"), ("GET", "/docs"), ("GET", "/openapi.json"), ("POST", "/query"),
    ("POST", "/sql"), ("GET", "/"), ("DELETE", "/hits"), ("POST", "/share/../admin")])
def test_nothing_but_the_two_endpoints_exists(gateway: GatewayServer,
                                              audit: list[tuple[str, str]],
                                              method: str, path: str) -> None:
    response = httpx.request(method, f"{gateway.url}{path}", headers={SECRET_HEADER: SECRET})
    assert response.status_code in (404, 405)
    assert audit and audit[-1][1] == "not-found"


@pytest.mark.parametrize("body", [{"purpose": "op-x"}, {"purpose": "op-x", "epoch": -1},
                                  {"purpose": "'; DROP TABLE person; --", "epoch": 1},
                                  {"purpose": "op-x", "epoch": 1, "sql": "select 1"}])
def test_a_share_request_can_name_only_a_purpose_and_an_epoch(
        gateway: GatewayServer, node: TokenNode, body: dict[str, object]) -> None:
    response = httpx.post(f"{gateway.url}/share", json=body, headers={SECRET_HEADER: SECRET})
    assert response.status_code == 422
    assert node.asked == []


def test_a_refusal_says_why(gateway: GatewayServer, node: TokenNode,
                            audit: list[tuple[str, str]]) -> None:
    node.refuse = "privacy budget for op-x is spent"
    response = httpx.post(f"{gateway.url}/share", json={"purpose": "op-x", "epoch": 1},
                          headers={SECRET_HEADER: SECRET})
    assert response.status_code == 403
    assert response.json() == {"refusal": "privacy budget for op-x is spent"}
    assert audit == [("/share", "refused: privacy budget for op-x is spent")]


def test_a_node_failure_is_reported_without_its_detail(node: TokenNode) -> None:
    def broken(purpose: str, epoch: int) -> bytes:
        raise RuntimeError("SELECT name FROM person WHERE ... (secret detail)")

    node.share = broken  # type: ignore[method-assign]
    audit: list[tuple[str, str]] = []
    with running_gateway(node, SECRET, on_call=lambda e, o: audit.append((e, o))) as gateway:
        response = httpx.post(f"{gateway.url}/share", json={"purpose": "op-x", "epoch": 1},
                              headers={SECRET_HEADER: SECRET})
    assert response.status_code == 500
    assert "secret detail" not in response.text
    assert audit == [("/share", "error")]


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::", "example.org"])
def test_the_gateway_refuses_to_listen_beyond_loopback(node: TokenNode, host: str) -> None:
    with pytest.raises(CrossforceError, match="loopback only"):
        GatewayServer(gateway_app(node, SECRET), host=host)


def test_the_gateway_is_bound_to_loopback(gateway: GatewayServer) -> None:
    assert gateway.url.startswith("http://127.0.0.1:")
    port = int(gateway.url.rsplit(":", 1)[1])
    outward = _outward_address()
    if outward is None:
        pytest.skip("this machine has no non-loopback address")
    with socket.socket() as s:
        s.settimeout(2)
        assert s.connect_ex((outward, port)) != 0


def _outward_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # no packet is sent for UDP connect
            address = s.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_a_unix_socket_gateway_is_private_to_its_user(node: TokenNode, tmp_path: Path) -> None:
    path = tmp_path / "gateway.sock"
    with running_gateway(node, SECRET, uds=path) as gateway:
        assert gateway.url == f"unix:{path}"
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        transport = httpx.HTTPTransport(uds=str(path))
        with httpx.Client(transport=transport, base_url="http://gateway") as client:
            response = client.post("/share", json={"purpose": "op-x", "epoch": 2},
                                   headers={SECRET_HEADER: SECRET})
    assert response.status_code == 200
    assert node.asked == [("op-x", 2)]


def test_the_relay_secret_file_is_private_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "relay-secret"
    secret = create_relay_secret(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_relay_secret(path) == secret
    with pytest.raises(CrossforceError, match="refusing to overwrite"):
        create_relay_secret(path)
    path.chmod(0o644)
    with pytest.raises(CrossforceError, match="readable by other users"):
        read_relay_secret(path)


def test_the_relay_code_loads_no_store_policy_or_token_code() -> None:
    """What the coordinator ships runs with none of the node's machinery loaded."""
    code = ("import sys, federation.flower.clientapp\n"
            "print('\\n'.join(sorted(sys.modules)))")
    loaded = set(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                text=True).stdout.split())
    forbidden = {"duckdb", "node", "coordinator", "policies", "federation.tokens",
                 "federation.ledger", "federation.payload", "federation.matchkeys",
                 "federation.flower.gateway", "fastapi"}
    assert not loaded & forbidden


def test_a_call_that_cannot_be_logged_is_not_answered(node: TokenNode) -> None:
    def ledger_down(endpoint: str, outcome: str) -> None:
        raise OSError("ledger disk full")

    with running_gateway(node, SECRET, on_call=ledger_down) as gateway:
        response = httpx.post(f"{gateway.url}/share", json={"purpose": "op-x", "epoch": 1},
                              headers={SECRET_HEADER: SECRET})
    assert response.status_code == 500
    assert response.content[:1] == b"{"  # an error message, not the payload
