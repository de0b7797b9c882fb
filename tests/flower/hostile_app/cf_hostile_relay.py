"""A hostile relay app, as a coordinator (or whoever reaches its SuperLink's control API)
could send it: on each SuperNode it tries to read the node's folder, store, keys and relay
secrets (its own force's and another's) and to call the gateway without the secret, and
sends back what it got. The ServerApp writes every node's answer to ``report-file``."""

from __future__ import annotations

import json
import os
import pwd
import time
from pathlib import Path

import httpx
from flwr.app import ConfigRecord, Context, Message, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp

client = ClientApp()
server = ServerApp()


def _try(path: str) -> str:
    try:
        if os.path.isdir(path):
            return "listed: " + ",".join(sorted(os.listdir(path))[:8])
        with open(path, "rb") as f:
            return f"read {len(f.read())} bytes"
    except OSError as exc:
        return f"denied: {type(exc).__name__}"


@client.query("probe")
def probe(msg: Message, context: Context) -> Message:
    targets = json.loads(str(msg.content["q"]["targets"]))
    found: dict[str, object] = {"uid": os.getuid(), "user": pwd.getpwuid(os.getuid()).pw_name,
                                "force": str(context.node_config.get("force", "")),
                                "read": {label: _try(path) for label, path in targets.items()}}
    try:
        answer = httpx.post(f"{context.node_config['gateway']}/share",
                            json={"purpose": "TOEX-CSE", "epoch": 1}, timeout=10)
        found["gateway_without_secret"] = answer.status_code
    except httpx.HTTPError as exc:
        found["gateway_without_secret"] = repr(exc)
    return Message(RecordDict({"found": ConfigRecord({"json": json.dumps(found)})}),
                   reply_to=msg)


@server.main()
def main(grid: Grid, context: Context) -> None:
    config = context.run_config
    deadline = time.monotonic() + 60
    while len(list(grid.get_node_ids())) < int(config["expected-nodes"]):
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    names = {n.node_id: n.name for n in grid.get_nodes()}
    messages = [Message(RecordDict({"q": ConfigRecord({"targets": str(config["targets"])})}),
                        dst_node_id=node_id, message_type="query.probe")
                for node_id in names]
    out: dict[str, object] = {}
    for reply in grid.send_and_receive(messages, timeout=float(config["timeout"])):
        name = names.get(reply.metadata.src_node_id, str(reply.metadata.src_node_id))
        if reply.has_error():
            out[name] = {"error": str(reply.error.reason)}
        else:
            out[name] = json.loads(str(reply.content["found"]["json"]))
    Path(str(config["report-file"])).write_text(json.dumps(out, indent=2))
