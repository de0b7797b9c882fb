"""The ClientApp: a thin relay from the SuperNode to the force's node gateway.

Flower ships this code from the coordinator to every SuperNode, so it is trusted with
nothing: it holds no key, no policy and no store. It reads two settings from the
SuperNode's ``--node-config`` (set by the force) — ``gateway`` (``http://127.0.0.1:PORT``
or ``unix:/path/gateway.sock``) and ``gateway-secret-file`` — passes the coordinator's
question to the gateway, and passes back the gateway's answer as opaque bytes.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from flwr.app import Context, Message
from flwr.clientapp import ClientApp

from federation.flower.protocol import (
    HITS_RECORD,
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

app = ClientApp()


class GatewayUnavailable(Exception):
    """The relay could not reach the gateway or the gateway failed (sent as an error reply)."""


def _client(context: Context) -> httpx.Client:
    config = context.node_config
    if GATEWAY_KEY not in config or SECRET_FILE_KEY not in config:
        raise GatewayUnavailable(
            f"SuperNode --node-config must set {GATEWAY_KEY}=... and {SECRET_FILE_KEY}=...")
    gateway = str(config[GATEWAY_KEY])
    secret = read_relay_secret(Path(str(config[SECRET_FILE_KEY])))
    timeout = float(config.get(TIMEOUT_KEY, DEFAULT_TIMEOUT))
    headers = {SECRET_HEADER: secret}
    if gateway.startswith("unix:"):
        return httpx.Client(transport=httpx.HTTPTransport(uds=gateway[len("unix:"):]),
                            base_url="http://gateway", headers=headers, timeout=timeout)
    return httpx.Client(base_url=gateway, headers=headers, timeout=timeout)


def _refusal_or_raise(response: httpx.Response) -> str:
    """A 403 is a refusal the coordinator may read; anything else is a gateway failure."""
    if response.status_code == 403:
        return str(response.json().get("refusal", "refused"))
    raise GatewayUnavailable(f"node gateway answered HTTP {response.status_code}")


def relay_share(query: Query, context: Context) -> bytes | str:
    """The gateway's signed payload (bytes) or its refusal reason (str)."""
    with _client(context) as client:
        response = client.post("/share", json={"purpose": query.purpose, "epoch": query.epoch})
    if response.status_code == 200:
        return response.content
    return _refusal_or_raise(response)


def relay_hits(data: bytes, context: Context) -> dict[str, object] | str:
    """The gateway's receipt for the hits, or its refusal reason."""
    with _client(context) as client:
        response = client.post("/hits", content=data,
                               headers={"content-type": "application/octet-stream"})
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
