"""The node's NodeService: what the Flower relay may ask a node for, and what it refuses."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.ipc as ipc
import pytest
from egress_nodes import canary_template, copy_node

from coordinator.hits import sign_hits
from federation.flower.gateway import create_relay_secret, running_gateway
from federation.flower.protocol import SECRET_HEADER, NodeService, Refusal
from federation.keys import NodeKeys
from federation.payload import SubmissionVerifier
from node.gateway import NodeGateway
from node.store import install_coordinator_key


@pytest.fixture
def node(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    return copy_node(canary_template(tmp_path_factory), tmp_path / "canary-node")


def test_share_returns_a_payload_the_coordinator_verifies(node: Path) -> None:
    gateway = NodeGateway(node)
    assert isinstance(gateway, NodeService)
    payload = gateway.share("TOEX-CSE", 1)
    keys = NodeKeys.load(node / "keys")
    verified = SubmissionVerifier({"Canaryshire": keys.signer.public_key}, [1]).verify(payload)
    assert verified.header.purpose == "TOEX-CSE"
    assert verified.share_set.counts()["items"] > 0
    assert gateway.share("TOEX-CSE", 0)  # 0 = the node's current epoch


@pytest.mark.parametrize("purpose, epoch, reason", [
    ("TOEX-COUNTY-LINES", 1, "not in this force's sharing policy"),
    ("TOEX-CSE", 2, "asked for key epoch 2, but this node holds the linkage secret at "
                    "epoch 1"),
])
def test_share_refuses_what_the_policy_or_keys_do_not_allow(node: Path, purpose: str,
                                                            epoch: int, reason: str) -> None:
    with pytest.raises(Refusal, match=reason):
        NodeGateway(node).share(purpose, epoch)


def test_share_refuses_without_a_linkage_secret(node: Path) -> None:
    (node / "keys" / "linkage_secret.json").unlink()
    with pytest.raises(Refusal, match=r"no key service credential \(and no legacy "
                                      r"linkage secret\)"):
        NodeGateway(node).share("TOEX-CSE", 1)


def _stream(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def test_receive_hits_answers_with_counts_only(node: Path, tmp_path: Path) -> None:
    coordinator = NodeKeys.create(tmp_path / "coordinator-keys", "coordinator")
    install_coordinator_key(node, coordinator.keys_dir)
    gateway = NodeGateway(node)
    payload = gateway.share("TOEX-CSE", 1)
    keys = NodeKeys.load(node / "keys")
    share = SubmissionVerifier({"Canaryshire": keys.signer.public_key}, [1]).verify(
        payload).share_set
    refs = share.items.column("ref").slice(0, 2)
    hits = pa.table({"ref": refs, "entity_id": pa.array([1, 2], pa.int64()),
                     "other_forces": pa.array([["Northshire"], []], pa.list_(pa.string()))})
    with pytest.raises(Refusal, match="not signed by the coordinator"):
        gateway.receive_hits(_stream(hits))
    receipt = gateway.receive_hits(sign_hits(_stream(hits), "Canaryshire", coordinator.signer))
    assert receipt == {"batch": receipt["batch"], "status": "recorded", "hits": 2,
                       "resolved": 2, "unknown_refs": 0}
    with pytest.raises(Refusal, match="not a hits file"):
        gateway.receive_hits(sign_hits(b"garbage", "Canaryshire", coordinator.signer))


def test_through_the_real_gateway_over_http(node: Path, tmp_path: Path) -> None:
    secret = create_relay_secret(tmp_path / "relay-secret")
    with running_gateway(NodeGateway(node), secret) as server:
        ok = httpx.post(f"{server.url}/share", json={"purpose": "TOEX-CSE", "epoch": 1},
                        headers={SECRET_HEADER: secret}, timeout=30)
        refused = httpx.post(f"{server.url}/share",
                             json={"purpose": "MATCH-ONLY", "epoch": 1},
                             headers={SECRET_HEADER: secret}, timeout=30)
    assert ok.status_code == 200 and ok.content[:6] == b"CFSUB1"
    assert refused.status_code == 403
    assert "not in this force's sharing policy" in refused.json()["refusal"]
