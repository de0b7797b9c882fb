"""The wire between the coordinator's ServerApp and a force's relay, and the two services
behind it.

One message type per round step, so a node gets ONE message per step (each message
starts a fresh ClientApp process in deployment); ``exchange`` sends a batch and collects
the replies:

- ``query.share``  coordinator → node: ``{"query": ConfigRecord(purpose, epoch)}``;
  reply ``{"share": ArrayRecord(payload)}`` or ``{"refusal": ConfigRecord(reason)}``.
- ``query.hits``   coordinator → node: ``{"query": ConfigRecord(purpose, epoch),
  "hits": ArrayRecord(payload)}``; reply ``{"receipt": ConfigRecord(json)}`` or a refusal.
- ``query.aggregates`` and ``train`` (the optional secure sum): see ``secure_sum.py`` and
  the relay in ``clientapp.py``.

Payloads are opaque bytes (a signed Submission, a hits table): the relay and the SuperLink
carry them as one raw ``uint8`` Array, which Flower moves in 5 MiB chunks without copying
through numpy. Nothing here parses a payload.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from flwr.app import Array, ArrayRecord, ConfigRecord, Message, RecordDict
from flwr.serverapp import Grid

SHARE = "query.share"
HITS = "query.hits"

QUERY_RECORD = "query"
SHARE_RECORD = "share"
HITS_RECORD = "hits"
REFUSAL_RECORD = "refusal"
RECEIPT_RECORD = "receipt"
PAYLOAD_KEY = "payload"
BYTES_STYPE = "crossforce.bytes"
SECRET_HEADER = "x-crossforce-relay-secret"


class Refusal(Exception):
    """A node declines a request (policy, budget, withdrawn consent...). The reason is
    sent back to the coordinator verbatim, so it must never contain data."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@runtime_checkable
class NodeService(Protocol):
    """What a force's node gateway exposes — implemented by the node (node egress + gate).

    ``share`` returns the signed Submission bytes for ``purpose``/``epoch`` or raises
    ``Refusal``. ``receive_hits`` takes the coordinator's hits bytes for this force and
    returns a small JSON-able receipt (counts, never content). ``aggregates`` returns
    ``{"counts": [...], "outside_layout": n}`` — the force's gated aggregate counts on the
    national layout (``policies.national_tables.NationalLayout``), one per cell, for the
    relay to mask into a SecAgg+ secure sum — or raises ``Refusal``; with ``check=True`` it
    only says whether it would (``{"cells": n}`` or ``Refusal``) and releases nothing.
    """

    def share(self, purpose: str, epoch: int) -> bytes: ...

    def receive_hits(self, data: bytes) -> dict[str, Any]: ...

    def aggregates(self, purpose: str, epoch: int, layout: Any, *,
                   check: bool = False) -> dict[str, Any]: ...


@runtime_checkable
class CoordinatorService(Protocol):
    """What the ServerApp drives — implemented by the coordinator.

    ``submit`` is the same function the offline ``coordinator submit`` uses: it verifies
    and ingests one signed payload sent by ``sender`` (the force name node authentication
    registered) and returns a receipt, or raises to reject it. ``link`` links everything
    ingested and returns a JSON-able summary. ``hits_for`` returns the hits bytes for one
    force (only its own references; an empty table is a no-hit answer); a service that
    also takes ``purpose=`` gets the round's purpose and answers for it only. An optional
    ``close()`` is called when the ServerApp is done, to release the store.
    """

    def submit(self, payload: bytes, sender: str) -> Any: ...

    def link(self) -> Mapping[str, Any]: ...

    def hits_for(self, force: str) -> bytes: ...


@runtime_checkable
class AggregatingCoordinator(Protocol):
    """A coordinator that also keeps national aggregates (round step *aggregate*).

    ``national_aggregates`` sums the gated counts the forces put in their share sets and
    returns a summary of cell counts (never values). ``record_secure_sum`` keeps the
    national vector of a SecAgg+ round — ``cells`` the layout as (table, cell JSON) pairs,
    ``counts`` the sum in that order — since the coordinator never saw the parts.
    """

    def national_aggregates(self, purpose: str) -> Mapping[str, Any]: ...

    def record_secure_sum(self, purpose: str, epoch: int, cells: Sequence[tuple[str, str]],
                          counts: Sequence[int], contributors: int) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class Query:
    """What the coordinator asks for: the purpose the share set is for, and its key epoch."""

    purpose: str
    epoch: int

    def record(self) -> ConfigRecord:
        return ConfigRecord({"purpose": self.purpose, "epoch": self.epoch})

    @classmethod
    def from_content(cls, content: RecordDict) -> Query:
        rec = content.config_records[QUERY_RECORD]
        return cls(purpose=str(rec["purpose"]), epoch=int(rec["epoch"]))  # type: ignore[arg-type]


def bytes_record(data: bytes) -> ArrayRecord:
    """Opaque bytes as a one-Array record (raw uint8, chunked by Flower, no numpy copy)."""
    array = Array(dtype="uint8", shape=(len(data),), stype=BYTES_STYPE, data=bytes(data))
    return ArrayRecord({PAYLOAD_KEY: array})


def record_bytes(record: ArrayRecord) -> bytes:
    """The bytes put in by ``bytes_record``; anything else is a protocol error."""
    array = record[PAYLOAD_KEY]
    if array.stype != BYTES_STYPE or array.dtype != "uint8":
        raise ValueError(f"expected an opaque byte payload, got {array.stype}/{array.dtype}")
    return bytes(array.data)


def share_request(query: Query) -> RecordDict:
    return RecordDict({QUERY_RECORD: query.record()})


def hits_request(query: Query, hits: bytes) -> RecordDict:
    return RecordDict({QUERY_RECORD: query.record(), HITS_RECORD: bytes_record(hits)})


def share_reply(payload: bytes) -> RecordDict:
    return RecordDict({SHARE_RECORD: bytes_record(payload)})


def refusal_reply(reason: str) -> RecordDict:
    return RecordDict({REFUSAL_RECORD: ConfigRecord({"reason": reason})})


def receipt_reply(receipt: Mapping[str, Any]) -> RecordDict:
    return RecordDict({RECEIPT_RECORD: ConfigRecord({"json": json.dumps(receipt)})})


def refusal_of(content: RecordDict) -> str | None:
    """The refusal reason in a reply, or None if the reply is not a refusal."""
    if REFUSAL_RECORD in content.config_records:
        return str(content.config_records[REFUSAL_RECORD]["reason"])
    return None


def receipt_of(content: RecordDict) -> dict[str, Any]:
    return json.loads(str(content.config_records[RECEIPT_RECORD]["json"]))


def create_relay_secret(path: Path) -> str:
    """Write a fresh relay secret (0600, never overwritten) and return it. The force gives
    the file to both its gateway and its SuperNode (``gateway-secret-file``)."""
    import secrets

    from federation.keys import write_private_file

    secret = secrets.token_hex(32)
    write_private_file(Path(path), secret.encode())
    return secret


def read_relay_secret(path: Path) -> str:
    """Read a relay secret file, refusing one other users can read."""
    from federation.errors import CrossforceError
    from federation.keys import check_private_file

    secret = check_private_file(Path(path)).decode().strip()
    if len(secret) < 32:
        raise CrossforceError(f"relay secret in {path} is too short (need ≥ 32 characters)")
    return secret


def load_factory(spec: str) -> Any:
    """Resolve ``"package.module:attribute"`` (how run-config names the coordinator
    service factory, so ``federation`` never imports ``coordinator``)."""
    import importlib

    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ValueError(f"service factory {spec!r} must look like 'package.module:factory'")
    return getattr(importlib.import_module(module_name), attr)


def load_coordinator_service(spec: str, coordinator_dir: str | Path) -> CoordinatorService:
    """Build the coordinator service named by ``spec`` (``module:factory``), or, if ``spec``
    is empty, by the single entry point in group ``crossforce.coordinator_service``. The
    factory is called with the coordinator folder."""
    from importlib.metadata import entry_points

    if spec:
        factory = load_factory(spec)
    else:
        found = list(entry_points(group="crossforce.coordinator_service"))
        if len(found) != 1:
            raise LookupError(
                "no coordinator service: set run-config coordinator-service='module:factory' "
                f"or install one entry point in group crossforce.coordinator_service "
                f"(found {len(found)})")
        factory = found[0].load()
    service = factory(Path(coordinator_dir))
    if not isinstance(service, CoordinatorService):
        raise TypeError(f"{spec or 'entry point'} did not return a CoordinatorService "
                        "(needs submit, link, hits_for)")
    return service


def exchange(grid: Grid, messages: Iterable[Message], timeout: float,
             poll: float = 0.1,
             on_reply: Callable[[Message], None] | None = None,
             after_push: Callable[[], None] | None = None) -> dict[int, Message]:
    """Push all messages, pull replies until all arrived or ``timeout``; node id → reply.

    push + pull with a short sleep instead of ``send_and_receive`` (which polls ~3 s).
    ``on_reply`` handles each reply as it arrives, while later ones are still on their
    way (nodes answer seconds apart through a SuperLink); its time does not count
    toward ``timeout``. ``after_push`` runs once the messages are out, while the nodes
    work on them (loading what handling their replies needs); nor does its time."""
    ids = set(grid.push_messages(list(messages)))
    if after_push is not None:
        after_push()
    replies: dict[int, Message] = {}
    deadline = time.monotonic() + timeout
    while ids:
        for reply in grid.pull_messages(sorted(ids)):
            ids.discard(reply.metadata.reply_to_message_id)
            replies[reply.metadata.src_node_id] = reply
            if on_reply is not None:
                started = time.monotonic()
                on_reply(reply)
                deadline += time.monotonic() - started
        if not ids or time.monotonic() >= deadline:
            break
        time.sleep(poll)
    return replies
