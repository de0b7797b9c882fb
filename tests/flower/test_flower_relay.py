"""The relay carries opaque bytes: it never parses, changes or adds to a payload."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from federation.flower.gateway import running_gateway
from federation.flower.grid import InProcessGrid
from federation.flower.protocol import SHARE, Query, create_relay_secret, share_request
from federation.flower.serverapp import RoundSettings, exchange, run_federation

BIG = 6 * 1024 * 1024 + 7  # more than one of Flower's 5 MiB array chunks


class BlobNode:
    """A node whose 'payload' is random bytes no parser would accept."""

    def __init__(self) -> None:
        self.payload = os.urandom(BIG)
        self.hits: list[bytes] = []

    def share(self, purpose: str, epoch: int) -> bytes:
        return self.payload

    def receive_hits(self, data: bytes) -> dict[str, Any]:
        self.hits.append(data)
        return {"bytes": len(data)}


class Recorder:
    """A coordinator that keeps what it is given and answers with random hits."""

    def __init__(self) -> None:
        self.submitted: list[tuple[bytes, str]] = []
        self.hits = os.urandom(BIG + 1)

    def submit(self, payload: bytes, sender: str) -> dict[str, int]:
        self.submitted.append((payload, sender))
        return {"bytes": len(payload)}

    def link(self) -> Mapping[str, Any]:
        return {}

    def hits_for(self, force: str) -> bytes:
        return self.hits


def test_payloads_cross_byte_for_byte_both_ways(tmp_path: Path) -> None:
    node, coordinator = BlobNode(), Recorder()
    secret_file = tmp_path / "secret"
    secret = create_relay_secret(secret_file)
    with running_gateway(node, secret) as gateway, InProcessGrid(
            {"north": {"gateway": gateway.url, "gateway-secret-file": str(secret_file)}}) as grid:
        report = run_federation(grid, coordinator, RoundSettings("op-x", 1))
    assert coordinator.submitted == [(node.payload, "north")]
    assert node.hits == [coordinator.hits]
    assert report.forces["north"].payload_bytes == BIG
    assert report.forces["north"].hits_receipt == {"bytes": BIG + 1}


def test_a_share_reply_holds_the_payload_and_nothing_else(tmp_path: Path) -> None:
    node = BlobNode()
    secret_file = tmp_path / "secret"
    secret = create_relay_secret(secret_file)
    with running_gateway(node, secret) as gateway, InProcessGrid(
            {"north": {"gateway": gateway.url, "gateway-secret-file": str(secret_file)}}) as grid:
        from flwr.app import Message

        (node_id,) = grid.get_node_ids()
        (reply,) = exchange(grid, [Message(share_request(Query("op-x", 1)), dst_node_id=node_id,
                                           message_type=SHARE)], timeout=30).values()
    content = reply.content
    assert list(content.keys()) == ["share"]
    assert list(content["share"].keys()) == ["payload"]
    assert content["share"]["payload"].data == node.payload


def test_payloads_cross_a_unix_socket_gateway_byte_for_byte(tmp_path: Path) -> None:
    """The relay's own HTTP client (standard library) over the gateway's Unix socket."""
    node, coordinator = BlobNode(), Recorder()
    secret_file = tmp_path / "secret"
    secret = create_relay_secret(secret_file)
    with running_gateway(node, secret, uds=tmp_path / "gateway.sock") as gateway, \
            InProcessGrid({"north": {"gateway": gateway.url,
                                     "gateway-secret-file": str(secret_file)}}) as grid:
        report = run_federation(grid, coordinator, RoundSettings("op-x", 1))
    assert gateway.url.startswith("unix:")
    assert coordinator.submitted == [(node.payload, "north")]
    assert node.hits == [coordinator.hits]
    assert report.forces["north"].hits == "delivered"


def test_a_gateway_address_that_is_not_one_is_a_clear_error(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    create_relay_secret(secret_file)
    with InProcessGrid({"north": {"gateway": "127.0.0.1:8080",
                                  "gateway-secret-file": str(secret_file)}}) as grid:
        report = run_federation(grid, Recorder(), RoundSettings("op-x", 1))
    assert report.forces["north"].share == "error"
    assert "gateway='127.0.0.1:8080': give http://HOST:PORT or unix:" in \
        report.forces["north"].detail
