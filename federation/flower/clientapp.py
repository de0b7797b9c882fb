"""The ClientApp: a thin relay from the SuperNode to the force's node gateway.

Flower ships this code from the coordinator to every SuperNode, so it is trusted with
nothing: it holds no key, no policy and no store. ``crossforce node join`` runs it as an
unprivileged relay user that cannot read the node, and only if the force approved the
bundle's hash (``federation.flower.containment``). It reads two settings from the
SuperNode's ``--node-config`` (set by the force) — ``gateway`` (``http://127.0.0.1:PORT``
or ``unix:/path/gateway.sock``) and ``gateway-secret-file`` — passes the coordinator's
question to the gateway, and passes back the gateway's answer as opaque bytes.

The secure sum (``train``, Flower's legacy SecAgg+ path): ``secaggplus_mod`` runs the
protocol; only in its masking stage does it call ``aggregates`` here, which asks the
gateway for the force's gated counts on the national layout and hands them to the mod as a
legacy fit result. The mod masks them before anything leaves; a refusal raises, so the
node drops out of the sum (which SecAgg+ tolerates above its threshold). Before the sum,
``query.aggregates`` asks whether the force would contribute at all (its gateway checks
purpose and dimensions, releases nothing), so the sum is run only among those that will.

Light by design (issue #12): the relay talks to the gateway with the standard library's
``http.client`` (no HTTP client library, no TLS context built per message: the gateway is
on loopback or a Unix socket) and imports nothing of the node — no DuckDB, Arrow or pandas.
In deployment each message's task is forked from the force's relay executor, which has
imported this module and Flower once (``containment.preload_relay``).
"""

from __future__ import annotations

import http.client
import json
import socket
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from flwr.app import ConfigRecord, Context, Message, RecordDict
from flwr.client.mod import secaggplus_mod
from flwr.clientapp import ClientApp
from flwr.common import Code, FitRes, Status, ndarrays_to_parameters
from flwr.compat.common import recorddict_compat as compat

from federation.flower.protocol import (
    HITS_RECORD,
    QUERY_RECORD,
    SECRET_HEADER,
    Query,
    read_relay_secret,
    receipt_reply,
    record_bytes,
    refusal_reply,
    share_reply,
)

GATEWAY_KEY = "gateway"
SECRET_FILE_KEY = "gateway-secret-file"
TIMEOUT_KEY = "gateway-timeout"
DEFAULT_TIMEOUT = 600.0
#: ``query.aggregates``: will the node contribute to a secure sum? (``SumQuery`` config)
AGGREGATES_CHECK = "query.aggregates"
CHECK_RECORD = "check"

app = ClientApp()


class GatewayUnavailable(Exception):
    """The relay could not reach the gateway or the gateway failed (sent as an error reply)."""


class SecureSumRefused(Exception):
    """The force's gateway refused its aggregates: the node drops out of the secure sum.
    The message is the gateway's refusal reason (names a rule, never data)."""


@dataclass(frozen=True)
class SumQuery:
    """What a secure-sum round asks each node for: purpose, key epoch and the national
    layout's parameters (``policies.national_tables.NationalLayout``), plus the number of
    cells and the largest count the sum can carry, so the relay can check the gateway's
    answer without loading any policy code. Travels as the legacy FitIns config."""

    purpose: str
    epoch: int
    tables: tuple[str, ...]
    years: tuple[int, int]
    cells: int
    max_count: int

    def config(self) -> dict[str, bool | bytes | float | int | str]:
        return {"purpose": self.purpose, "epoch": self.epoch, "tables": ",".join(self.tables),
                "year_from": self.years[0], "year_to": self.years[1], "cells": self.cells,
                "max_count": self.max_count}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SumQuery:
        return cls(purpose=str(config["purpose"]), epoch=int(config["epoch"]),
                   tables=tuple(t for t in str(config["tables"]).split(",") if t),
                   years=(int(config["year_from"]), int(config["year_to"])),
                   cells=int(config["cells"]), max_count=int(config["max_count"]))


@dataclass(frozen=True)
class GatewayAnswer:
    """The gateway's HTTP answer: status and body."""

    status_code: int
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)


class _UnixConnection(http.client.HTTPConnection):
    """HTTP over the gateway's Unix socket."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("gateway", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class GatewayClient:
    """One connection to the node gateway, the relay secret on every call."""

    def __init__(self, gateway: str, secret: str, timeout: float) -> None:
        self.gateway = gateway
        self.headers = {SECRET_HEADER: secret}
        if gateway.startswith("unix:"):
            self.connection: http.client.HTTPConnection = _UnixConnection(
                gateway[len("unix:"):], timeout)
            return
        url = urlsplit(gateway)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise GatewayUnavailable(f"{GATEWAY_KEY}={gateway!r}: give http://HOST:PORT or "
                                     "unix:/path/gateway.sock")
        kind = (http.client.HTTPSConnection if url.scheme == "https"
                else http.client.HTTPConnection)
        self.connection = kind(url.hostname, url.port, timeout=timeout)

    def post(self, path: str, *, json_body: Any = None, content: bytes | None = None
             ) -> GatewayAnswer:
        headers = dict(self.headers)
        if json_body is not None:
            content = json.dumps(json_body).encode()
            headers["content-type"] = "application/json"
        else:
            headers["content-type"] = "application/octet-stream"
        try:
            self.connection.request("POST", path, body=content or b"", headers=headers)
            response = self.connection.getresponse()
            return GatewayAnswer(response.status, response.read())
        except (OSError, http.client.HTTPException) as exc:
            raise GatewayUnavailable(f"could not reach the node gateway at {self.gateway}: "
                                     f"{type(exc).__name__}: {exc}") from None

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.connection.close()


def _client(context: Context) -> GatewayClient:
    config = context.node_config
    if GATEWAY_KEY not in config or SECRET_FILE_KEY not in config:
        raise GatewayUnavailable(
            f"SuperNode --node-config must set {GATEWAY_KEY}=... and {SECRET_FILE_KEY}=...")
    secret = read_relay_secret(Path(str(config[SECRET_FILE_KEY])))
    timeout = float(config.get(TIMEOUT_KEY, DEFAULT_TIMEOUT))
    return GatewayClient(str(config[GATEWAY_KEY]), secret, timeout)


def _refusal_or_raise(response: GatewayAnswer) -> str:
    """A 403 is a refusal the coordinator may read; anything else is a gateway failure."""
    if response.status_code == 403:
        return str(response.json().get("refusal", "refused"))
    raise GatewayUnavailable(f"node gateway answered HTTP {response.status_code}")


def relay_share(query: Query, context: Context) -> bytes | str:
    """The gateway's signed payload (bytes) or its refusal reason (str)."""
    with _client(context) as client:
        response = client.post("/share", json_body={"purpose": query.purpose,
                                                     "epoch": query.epoch})
    if response.status_code == 200:
        return response.content
    return _refusal_or_raise(response)


def relay_hits(data: bytes, context: Context) -> dict[str, object] | str:
    """The gateway's receipt for the hits, or its refusal reason."""
    with _client(context) as client:
        response = client.post("/hits", content=data)
    if response.status_code == 200:
        return dict(response.json())
    return _refusal_or_raise(response)


@app.query("share")
def share(msg: Message, context: Context) -> Message:
    answer = relay_share(Query.from_content(msg.content), context)
    content = refusal_reply(answer) if isinstance(answer, str) else share_reply(answer)
    return Message(content, reply_to=msg)


@app.query("hits")
def hits(msg: Message, context: Context) -> Message:
    data = record_bytes(msg.content.array_records[HITS_RECORD])
    answer = relay_hits(data, context)
    content = refusal_reply(answer) if isinstance(answer, str) else receipt_reply(answer)
    return Message(content, reply_to=msg)


def _post_aggregates(query: SumQuery, context: Context, *, check: bool) -> GatewayAnswer:
    with _client(context) as client:
        return client.post("/aggregates", json_body={
            "purpose": query.purpose, "epoch": query.epoch, "tables": list(query.tables),
            "years": list(query.years), "check": check})


def relay_aggregates_check(query: SumQuery, context: Context) -> str | None:
    """None if the gateway would give its aggregates on the layout, else its refusal."""
    response = _post_aggregates(query, context, check=True)
    if response.status_code != 200:
        return _refusal_or_raise(response)
    if response.json().get("cells") != query.cells:
        raise GatewayUnavailable("node gateway computed another national layout")
    return None


def relay_aggregates(query: SumQuery, context: Context) -> tuple[list[int], int] | str:
    """The gateway's (counts, outside_layout) on the layout, or its refusal reason."""
    response = _post_aggregates(query, context, check=False)
    if response.status_code != 200:
        return _refusal_or_raise(response)
    body = response.json()
    counts, outside = body["counts"], body["outside_layout"]
    # a vector of the wrong shape or range would corrupt everyone's sum: fail instead
    if len(counts) != query.cells or not all(
            isinstance(n, int) and 0 <= n <= query.max_count for n in (*counts, outside)):
        raise GatewayUnavailable(f"node gateway sent aggregates that do not fit the layout "
                                 f"({query.cells} counts in 0..{query.max_count})")
    return counts, outside


@app.query("aggregates")
def aggregates_check(msg: Message, context: Context) -> Message:
    """Before a secure sum: will this force contribute? (Nothing is released.)"""
    query = SumQuery.from_config(dict(msg.content.config_records[QUERY_RECORD]))
    reason = relay_aggregates_check(query, context)
    content = (refusal_reply(reason) if reason is not None else
               RecordDict({CHECK_RECORD: ConfigRecord({"cells": query.cells})}))
    return Message(content, reply_to=msg)


@app.train(mods=[secaggplus_mod])
def aggregates(msg: Message, context: Context) -> Message:
    """Called by ``secaggplus_mod`` in its masking stage only; what it returns is masked
    there. The last entry is the number of the force's cells outside the layout."""
    fitins = compat.recorddict_to_fitins(msg.content, keep_input=True)
    answer = relay_aggregates(SumQuery.from_config(dict(fitins.config)), context)
    if isinstance(answer, str):
        raise SecureSumRefused(answer)
    counts, outside = answer
    vector = np.asarray([*counts, outside], dtype=np.float64)
    # num_examples 1 with max_weight 1: every node weighs the same, the sum stays integral
    fitres = FitRes(status=Status(Code.OK, "ok"), num_examples=1, metrics={},
                    parameters=ndarrays_to_parameters([vector]))
    return Message(compat.fitres_to_recorddict(fitres, keep_input=False), reply_to=msg)
