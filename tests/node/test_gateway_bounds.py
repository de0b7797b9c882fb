"""Issue #20 items 4 and 5 at the node gateway, over real HTTP to uvicorn on loopback with
a real node store and ledger:

- the secret is checked, and a body's size, before the body is read;
- a body streamed past its limit is cut off;
- unauthenticated calls are counted and rate-limited, not ledgered one by one;
- concurrent calls never fork the node's ledger;
- hits must be signed by the coordinator, or nothing is recorded;
- a fresh node verifies.
"""

from __future__ import annotations

import io
import json
import re
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import duckdb
import httpx
import pyarrow as pa
import pyarrow.ipc as ipc
import pytest
from egress_nodes import canary_template, copy_node

from federation.flower.gateway import running_gateway
from federation.flower.protocol import SECRET_HEADER, read_relay_secret
from federation.keys import NodeKeys
from federation.ledger import Ledger, verify_ledger
from federation.payload import SubmissionVerifier
from node.gateway import NodeGateway
from node.serve_cli import call_auditor, node_gateway, relay_secret
from node.store import open_store

FORCE = "Canaryshire"


@pytest.fixture
def coordinator(tmp_path: Path) -> NodeKeys:
    return NodeKeys.create(tmp_path / "coordinator-keys", "coordinator")


@pytest.fixture
def node(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    return copy_node(canary_template(tmp_path_factory), tmp_path / "canary-node")


@pytest.fixture
def trusting(node: Path, coordinator: NodeKeys) -> Path:
    """The node, holding the coordinator's public keys (its signing key checks hits)."""
    from node.store import install_coordinator_key

    install_coordinator_key(node, coordinator.keys_dir / "public.json")
    return node


@pytest.fixture
def served(node: Path) -> Iterator[tuple[str, str]]:
    """The node's real gateway (as `crossforce node serve` runs it): (url, secret)."""
    with node_gateway(node) as (url, secret_file):
        yield url, read_relay_secret(secret_file)


def _ledger(node: Path) -> list[tuple[str, str, str]]:
    with duckdb.connect(str(node / "node.duckdb"), read_only=True) as con:
        return con.execute("SELECT action, purpose, justification FROM ledger "
                           "ORDER BY seq").fetchall()


def _verify(node: Path) -> None:
    with duckdb.connect(str(node / "node.duckdb"), read_only=True) as con:
        report = verify_ledger(con, NodeKeys.load(node / "keys").signer.public_key)
    assert report.ok, report.problems


def _raw(url: str, head: str, body: Iterable[bytes] = (), timeout: float = 10.0) -> str:
    """Send a request by hand (headers as given, body streamed as given) and return the
    status line; a server that answers early and closes is fine."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        sock.sendall(head.encode())
        try:
            for chunk in body:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        data = b""
        while b"\r\n" not in data:
            got = sock.recv(4096)
            if not got:
                break
            data += got
    return data.split(b"\r\n", 1)[0].decode()


# --------------------------------------------------------------------------- bodies


def test_the_secret_is_checked_before_a_huge_body_is_read(served: tuple[str, str],
                                                          node: Path) -> None:
    """1.5 GB announced, not one byte sent: the answer comes at once, from the headers."""
    url, _secret = served
    before = len(_ledger(node))
    started = time.monotonic()
    status = _raw(url, "POST /share HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       "Content-Length: 1500000000\r\n\r\n", timeout=5)
    assert status.startswith("HTTP/1.1 401"), status
    assert time.monotonic() - started < 5
    assert len(_ledger(node)) <= before + 1


def test_a_declared_body_over_the_limit_is_refused_before_it_is_read(
        served: tuple[str, str]) -> None:
    url, secret = served
    for path in ("/share", "/aggregates"):
        status = _raw(url, f"POST {path} HTTP/1.1\r\nHost: x\r\n{SECRET_HEADER}: {secret}\r\n"
                           "Content-Type: application/json\r\n"
                           "Content-Length: 1500000000\r\n\r\n", timeout=5)
        assert status.startswith("HTTP/1.1 413"), (path, status)


def test_a_hits_body_over_the_limit_is_refused_declared_or_streamed(node: Path) -> None:
    secret = read_relay_secret(relay_secret(node, None))
    calls: list[tuple[str, str]] = []
    with running_gateway(NodeGateway(node), secret, on_call=lambda e, o: calls.append((e, o)),
                         max_hits_bytes=1 << 20) as server:
        declared = _raw(server.url, f"POST /hits HTTP/1.1\r\nHost: x\r\n{SECRET_HEADER}: "
                                    f"{secret}\r\nContent-Length: {2 << 20}\r\n\r\n", timeout=5)
        chunk = b"x" * (64 << 10)
        streamed = _raw(server.url,
                        f"POST /hits HTTP/1.1\r\nHost: x\r\n{SECRET_HEADER}: {secret}\r\n"
                        "Transfer-Encoding: chunked\r\n\r\n",
                        (f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" for _ in range(64)))
    assert declared.startswith("HTTP/1.1 413"), declared
    assert streamed.startswith("HTTP/1.1 413"), streamed
    assert calls == [("/hits", "too-large"), ("/hits", "too-large")]
    with open_store(node) as (_config, con):
        assert con.execute("SELECT count(*) FROM hit_batches").fetchone() == (0,)


# --------------------------------------------------------------------------- unauthorised


def test_a_thousand_unauthenticated_calls_are_counted_not_signed_one_by_one(
        node: Path) -> None:
    before = _ledger(node)
    with node_gateway(node) as (url, _secret_file), httpx.Client(base_url=url) as client:
        statuses = [client.post("/share", json={"purpose": "TOEX-CSE", "epoch": 1},
                                headers={SECRET_HEADER: "w" * 64}).status_code
                    for _ in range(1000)]
        during = _ledger(node)
    after = _ledger(node)
    # one entry when the first came, one summary when the gateway stopped
    assert len(during) - len(before) == 1
    # the first minute's allowance gets 401, the rest 429
    assert statuses[:60] == [401] * 60 and set(statuses[60:]) == {429}
    new = after[len(before):]
    assert len(new) == 2 and all(a == "consultation" for a, _p, _j in new)
    assert "unauthorised: 999 calls" in new[-1][2] and "940 of them refused 429" in new[-1][2]
    log = (node / "federation" / "gateway-calls.jsonl").read_text().splitlines()
    assert len(log) == 2
    _verify(node)


# --------------------------------------------------------------------------- forks


def test_concurrent_gateway_calls_do_not_fork_the_ledger(served: tuple[str, str],
                                                         node: Path) -> None:
    """Shares (ledgered by egress) and refusals (ledgered by the call log) at once."""
    url, secret = served
    before = len(_ledger(node))

    def call(i: int) -> int:
        purpose = "TOEX-CSE" if i % 4 == 0 else "MATCH-ONLY"
        return httpx.post(f"{url}/share", json={"purpose": purpose, "epoch": 1},
                          headers={SECRET_HEADER: secret}, timeout=60).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(call, range(16)))
    assert set(statuses) <= {200, 403} and 403 in statuses
    # one entry per call (a first share also records the node's person resolution),
    # all in the one chain
    new = [e for e in _ledger(node)[before:] if e[1] != "resolution"]
    assert len(new) == 16, new
    _verify(node)


def test_two_threads_writing_one_node_store_take_turns(node: Path) -> None:
    """A holds the store mid-transaction; B must wait for it, not append after the same
    head."""
    keys = NodeKeys.load(node / "keys")
    a_inside, b_started = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def a() -> None:
        try:
            with open_store(node) as (config, con):
                con.begin()
                Ledger(con, keys.signer, config.force).append(
                    "consultation", actor="a", purpose="test", justification="a",
                    counts={})
                a_inside.set()
                b_started.wait(10)
                time.sleep(0.5)  # B, if not held back, appends now
                con.commit()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def b() -> None:
        try:
            a_inside.wait(10)
            b_started.set()
            with open_store(node) as (config, con):
                Ledger(con, keys.signer, config.force).append(
                    "consultation", actor="b", purpose="test", justification="b",
                    counts={})
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    assert [j for _a, _p, j in _ledger(node)[-2:]] == ["a", "b"]
    _verify(node)


# --------------------------------------------------------------------------- hits


def _hits_stream(node: Path, secret: str, url: str) -> bytes:
    """Hits for two of the refs the node really shared (an Arrow IPC stream)."""
    payload = httpx.post(f"{url}/share", json={"purpose": "TOEX-CSE", "epoch": 1},
                         headers={SECRET_HEADER: secret}, timeout=60).content
    keys = NodeKeys.load(node / "keys")
    share = SubmissionVerifier({FORCE: keys.signer.public_key}, [1]).verify(payload).share_set
    table = pa.table({"ref": share.items.column("ref").slice(0, 2),
                      "entity_id": pa.array([1, 2], pa.int64()),
                      "other_forces": pa.array([["Northshire"], ["Northshire"]],
                                               pa.list_(pa.string()))})
    sink = io.BytesIO()
    with ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def test_unsigned_or_forged_hits_are_refused_and_nothing_is_recorded(
        trusting: Path, served: tuple[str, str], node: Path, coordinator: NodeKeys) -> None:
    from coordinator.hits import sign_hits

    url, secret = served
    body = _hits_stream(node, secret, url)
    forger = NodeKeys.create(node.parent / "forger-keys", "coordinator")
    signed = sign_hits(body, FORCE, coordinator.signer)
    tampered = signed[:-40] + bytes(40)
    cases = [
        (body, "not signed by the coordinator"),
        (sign_hits(body, FORCE, forger.signer), "does not verify under the coordinator key"),
        (sign_hits(body, "Northshire", coordinator.signer), "signed for 'Northshire'"),
        (tampered, "does not match its signed hash"),
    ]
    for data, reason in cases:
        r = httpx.post(f"{url}/hits", content=data, headers={SECRET_HEADER: secret})
        assert r.status_code == 403 and reason in r.json()["refusal"], (reason, r.text)
    with open_store(node) as (_config, con):
        assert con.execute("SELECT count(*) FROM hit_batches").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM received_hits").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM ledger WHERE action = 'collection' "
                           "AND purpose = 'hits'").fetchone() == (0,)
    ok = httpx.post(f"{url}/hits", content=signed, headers={SECRET_HEADER: secret})
    assert ok.status_code == 200 and ok.json()["status"] == "recorded"
    assert ok.json()["resolved"] == 2
    _verify(node)


def test_a_node_without_the_coordinators_key_refuses_all_hits(
        served: tuple[str, str], node: Path, coordinator: NodeKeys) -> None:
    from coordinator.hits import sign_hits

    url, secret = served
    signed = sign_hits(_hits_stream(node, secret, url), FORCE, coordinator.signer)
    r = httpx.post(f"{url}/hits", content=signed, headers={SECRET_HEADER: secret})
    assert r.status_code == 403
    assert "holds no coordinator signing key" in r.json()["refusal"]


# --------------------------------------------------------------------------- fresh node


def test_a_fresh_node_verifies(cli, tmp_path: Path) -> None:
    node = tmp_path / "fresh"
    assert cli("node", "init", "--force", "Kent", "--dir", node).code == 0
    result = cli("audit", "verify", node / "node.duckdb", "-k", node / "keys", "--json")
    assert result.code == 0, result
    report = json.loads(result.out)
    assert report["ok"] and report["entries"] == 1 and report["actions"] == {"genesis": 1}
    with duckdb.connect(str(node / "node.duckdb")) as con:
        con.execute("DELETE FROM ledger")
    assert cli("audit", "verify", node / "node.duckdb", "-k", node / "keys").code == 1


def test_the_call_auditor_is_what_the_gateway_reports_to(node: Path) -> None:
    """(Guard for the tests above: node_gateway wires the real ledgering hook.)"""
    assert callable(call_auditor(node))


def test_only_the_coordinators_public_keys_are_trusted_for_hits(node: Path) -> None:
    from federation.errors import CrossforceError
    from node.store import install_coordinator_key

    with pytest.raises(CrossforceError, match="not of the coordinator"):
        install_coordinator_key(node, node / "keys" / "public.json")  # the force's own
    assert not (node / "keys" / "coordinator.json").exists()


def test_unauthenticated_calls_are_reported_when_the_interval_ends(node: Path) -> None:
    """The count goes to the hook once per interval even if no further call comes: the
    first call at once, the rest summed per interval (how many intervals the twelve calls
    span depends on the machine's load, so the counts are summed)."""
    secret = read_relay_secret(relay_secret(node, None))
    calls: list[tuple[str, str]] = []
    summed = re.compile(r"unauthorised: (\d+) calls since \S+(?:, (\d+) of them refused 429 "
                        r"\(over 5 a minute\))?$")

    def totals(reports: list[tuple[str, str]]) -> tuple[int, int]:
        found = [summed.match(o) for _, o in reports[1:]]
        assert all(found), reports
        return (sum(int(m.group(1)) for m in found if m),
                sum(int(m.group(2) or 0) for m in found if m))

    with running_gateway(NodeGateway(node), secret, on_call=lambda e, o: calls.append((e, o)),
                         unauthorised_per_minute=5, unauthorised_flush_s=0.5) as server:
        statuses = [httpx.post(f"{server.url}/hits", content=b"x" * 100,
                               headers={SECRET_HEADER: "nope"}).status_code
                    for _ in range(12)]
        deadline = time.monotonic() + 10
        while totals(list(calls))[0] < 11 and time.monotonic() < deadline:
            time.sleep(0.05)
        reported = list(calls)
    assert statuses == [401] * 5 + [429] * 7
    assert reported[0] == ("/hits", "unauthorised")
    assert totals(reported) == (11, 7)
    assert calls == reported  # nothing left to report at shutdown
