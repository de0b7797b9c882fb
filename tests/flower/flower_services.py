"""Small real services for the transport tests: a node that shares keyed phone tokens in a
signed Arrow payload, and a coordinator that verifies, stores them in DuckDB, links tokens
seen by two or more forces and answers each force with its own references.

They stand in for node egress and the coordinator until those land; they are real (real
Ed25519 signatures, real HMAC tokens, real DuckDB), so the tests exercise real bytes.
Also imported by the ServerApp process in the deployment test (``make_coordinator``).
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.ipc as ipc

from federation.flower.gateway import create_relay_secret, running_gateway
from federation.flower.protocol import Refusal
from federation.keys import Signer, Verifier
from federation.tokens import Tokeniser, tokens_to_arrow

# 07700 900xxx is Ofcom's drama range: numbers that are never assigned.
SHARED = "+447700900001"      # seen by north and south
NORTH_ONLY = "+447700900002"
SOUTH_ONLY = "+447700900003"
EAST_SHARED = "+447700900004"  # seen by south and east

SIGNATURE_BYTES = 64
TOKEN_KEY = bytes(range(32))


def _ipc(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def _table(data: bytes) -> pa.Table:
    return ipc.open_stream(data).read_all()


class TokenNode:
    """A NodeService over a list of phone numbers (already normalised)."""

    def __init__(self, force: str, phones: Sequence[str], signer: Signer | None = None,
                 refuse: str | None = None, block: threading.Event | None = None) -> None:
        self.force = force
        self.phones = list(phones)
        self.signer = signer or Signer.generate()
        self.refuse = refuse
        self.block = block
        self.received: list[pa.Table] = []
        # opaque references, random-looking and private to this node
        self._refs = Tokeniser(hashlib.sha256(f"refs/{force}".encode()).digest())
        self.asked: list[tuple[str, int]] = []

    def share(self, purpose: str, epoch: int) -> bytes:
        self.asked.append((purpose, epoch))
        if self.block is not None:
            self.block.wait(30)
        if self.refuse:
            raise Refusal(self.refuse)
        tokens = Tokeniser(TOKEN_KEY).tokens("phone", self.phones)
        refs = self._refs.tokens("ref", self.phones)
        table = pa.table({"ref": tokens_to_arrow(refs), "token": tokens_to_arrow(tokens)})
        table = table.replace_schema_metadata({"force": self.force, "purpose": purpose,
                                               "epoch": str(epoch)})
        body = _ipc(table)
        return self.signer.sign(body) + body

    def receive_hits(self, data: bytes) -> dict[str, Any]:
        table = _table(data)
        self.received.append(table)
        return {"hits": table.num_rows}

    def ref_of(self, phone: str) -> bytes:
        return self._refs.token("ref", phone)


class TokenCoordinator:
    """A CoordinatorService: verify, ingest, link shared tokens, answer hits per force."""

    def __init__(self, directory: Path, public_keys: dict[str, bytes]) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.con = duckdb.connect(str(directory / "coordinator.duckdb"))
        self.con.execute("CREATE TABLE IF NOT EXISTS tokens (force VARCHAR, ref BLOB, "
                         "token BLOB)").fetchall()
        self.verifiers = {f: Verifier(k) for f, k in public_keys.items()}

    def submit(self, payload: bytes, sender: str) -> dict[str, Any]:
        if sender not in self.verifiers:
            raise PermissionError(f"unknown sender {sender!r}")
        signature, body = payload[:SIGNATURE_BYTES], payload[SIGNATURE_BYTES:]
        self.verifiers[sender].verify(body, signature)
        table = _table(body)
        if table.schema.metadata[b"force"].decode() != sender:
            raise PermissionError("payload force does not match its sender")
        self.con.register("incoming", table)
        self.con.execute("INSERT INTO tokens SELECT ?, ref, token FROM incoming",
                         [sender]).fetchall()
        self.con.unregister("incoming")
        return {"force": sender, "rows": table.num_rows,
                "sha256": hashlib.sha256(payload).hexdigest()}

    def link(self) -> dict[str, Any]:
        self.con.execute("""
            CREATE OR REPLACE TABLE hits AS
            SELECT t.force, t.ref, list_sort(list_distinct(list(o.force))) AS other_forces
            FROM tokens t JOIN tokens o ON t.token = o.token AND t.force <> o.force
            GROUP BY t.force, t.ref""").fetchall()
        shared = self.con.execute("SELECT count(DISTINCT token) FROM tokens WHERE token IN "
                                  "(SELECT token FROM tokens GROUP BY token "
                                  "HAVING count(DISTINCT force) > 1)").fetchall()
        return {"shared_tokens": int(shared[0][0])}

    def hits_for(self, force: str) -> bytes:
        table = self.con.sql("SELECT ref, other_forces FROM hits WHERE force = $force "
                             "ORDER BY ref", params={"force": force}).to_arrow_table()
        return _ipc(table)


def make_coordinator(directory: Path) -> TokenCoordinator:
    """Factory named in run-config: public keys come from ``directory/keys.json``."""
    keys = json.loads((directory / "keys.json").read_text())
    return TokenCoordinator(directory, {f: bytes.fromhex(k) for f, k in keys.items()})


class Forces:
    """Node services, their gateways and the node config each SuperNode would get."""

    def __init__(self, root: Path, nodes: dict[str, TokenNode]) -> None:
        self.root = root
        self.nodes = nodes
        self.calls: dict[str, list[tuple[str, str]]] = {f: [] for f in nodes}
        self.node_configs: dict[str, dict[str, str]] = {}
        self._stack = ExitStack()

    def start(self) -> Forces:
        self.root.mkdir(parents=True, exist_ok=True)
        for force, node in self.nodes.items():
            secret_file = self.root / f"{force}.relay-secret"
            secret = create_relay_secret(secret_file)
            calls = self.calls[force]
            server = self._stack.enter_context(running_gateway(
                node, secret, on_call=lambda e, o, calls=calls: calls.append((e, o))))
            self.node_configs[force] = {"gateway": server.url,
                                        "gateway-secret-file": str(secret_file)}
        return self

    def coordinator(self, directory: Path) -> TokenCoordinator:
        return TokenCoordinator(directory, {f: n.signer.public_key
                                            for f, n in self.nodes.items()})

    def close(self) -> None:
        self._stack.close()


class SubmissionNode(TokenNode):
    """Like TokenNode, but shares a real signed ``federation.payload.Submission`` of a
    ShareSet (phone items and their tokens), as node egress will."""

    def share(self, purpose: str, epoch: int) -> bytes:
        from federation.payload import ShareSet, Submission

        self.asked.append((purpose, epoch))
        if self.refuse:
            raise Refusal(self.refuse)
        refs = tokens_to_arrow(self._refs.tokens("ref", self.phones))
        n = len(self.phones)
        items = pa.table({"ref": refs, "kind": pa.array(["phone"] * n),
                          "role": pa.array([None] * n, pa.string())})
        tokens = pa.table({"ref": refs, "token_kind": pa.array(["phone"] * n),
                           "token": tokens_to_arrow(Tokeniser(TOKEN_KEY).tokens("phone",
                                                                                self.phones))})
        share_set = ShareSet(force=self.force, purpose=purpose, epoch=epoch,
                             policy_hash="sha256:test-policy", items=items, tokens=tokens)
        return Submission.seal(share_set, self.signer).to_bytes()

    #: the coordinator's signing key, when the test gives one: hits are checked as a real
    #: node checks them (node.hits.open_signed_hits) before they are read
    coordinator_key: bytes | None = None

    def receive_hits(self, data: bytes) -> dict[str, Any]:
        """The coordinator's hits: an Arrow IPC file of this force's own refs, signed."""
        if self.coordinator_key is not None:
            from node.hits import open_signed_hits

            data = open_signed_hits(data, self.coordinator_key, self.force)
        table = ipc.open_file(pa.py_buffer(data)).read_all()
        self.received.append(table)
        return {"hits": table.num_rows}
