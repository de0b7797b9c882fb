"""An in-process Grid: the real ServerApp logic and the real ClientApp, no processes.

Each fake node has its own ``Context`` (own ``node_config``, own state) and a registered
name, as node authentication would give it, so ``online_forces`` maps it to its force.
Messages are delivered on a thread pool (so a slow node is slow without blocking the
others, and a round can time it out) and, by default, pushed through Flower's own
deflate/inflate both ways, so anything that would not survive the SuperLink fails here.

Used by the tests and by ``--engine inprocess``; deployment uses the SuperLink's grid.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, cast

from flwr.app import Context, Error, Message, RecordDict
from flwr.clientapp import ClientApp
from flwr.common.constant import SUPERLINK_NODE_ID, ErrorCode
from flwr.proto.node_pb2 import NodeInfo  # pylint: disable=E0611
from flwr.serverapp import Grid, ServerApp
from flwr.supercore.inflatable.inflatable_object import get_all_nested_objects
from flwr.supercore.inflatable.inflatable_utils import inflate_object_from_contents
from flwr.supercore.run import Run
from flwr.supercore.task_identity import TaskIdentity

from federation.flower.protocol import exchange

NodeConfig = Mapping[str, bool | float | int | str]


def through_the_wire(message: Message) -> Message:
    """Deflate a message to Flower's wire objects and inflate it back (as the SuperLink
    would); raises if the content cannot be serialised."""
    message_id = message.metadata.message_id
    contents = {oid: obj.deflate() for oid, obj in get_all_nested_objects(message).items()}
    copy = cast(Message, inflate_object_from_contents(message.object_id, contents))
    copy.metadata.__dict__["_message_id"] = message_id
    return copy


class InProcessGrid(Grid):
    """``InProcessGrid({"north": {"gateway": ..., "gateway-secret-file": ...}, ...})``."""

    def __init__(self, nodes: Mapping[str, NodeConfig], client_app: ClientApp | None = None,
                 *, run_id: int = 1, run_config: NodeConfig | None = None,
                 serialise: bool = True) -> None:
        if client_app is None:
            from federation.flower.clientapp import app as client_app
        self._app = client_app
        self._serialise = serialise
        self._run = Run.create_empty(run_id)
        self._contexts: dict[int, Context] = {}
        self._names: dict[int, str] = {}
        for i, (name, config) in enumerate(nodes.items()):
            node_id = 1000 + i
            self._names[node_id] = name
            self._contexts[node_id] = Context(run_id=run_id, node_id=node_id,
                                              node_config=dict(config), state=RecordDict(),
                                              run_config=dict(run_config or {}))
        self._pool = ThreadPoolExecutor(max_workers=max(1, len(nodes)),
                                        thread_name_prefix="inprocess-node")
        self._pending: dict[str, Future[Message]] = {}
        # Message() reads the sender's identity from the task runtime; we are the ServerApp.
        TaskIdentity.run_id = run_id
        TaskIdentity.node_id = SUPERLINK_NODE_ID
        TaskIdentity.task_id = 1

    # -- Grid API
    def set_run(self, run: Run) -> None:
        self._run = run

    @property
    def run(self) -> Run:
        return self._run

    def create_message(self, content: RecordDict, message_type: str, dst_node_id: int,
                       group_id: str, ttl: float | None = None) -> Message:
        return Message(content, dst_node_id, message_type, ttl=ttl, group_id=group_id)

    def get_node_ids(self) -> Iterable[int]:
        return list(self._contexts)

    def get_nodes(self) -> Iterable[NodeInfo]:
        return [NodeInfo(node_id=n, name=name, status="online")
                for n, name in self._names.items()]

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        ids = []
        for message in messages:
            message.metadata.__dict__["_message_id"] = str(uuid.uuid4())
            if message.metadata.dst_node_id not in self._contexts:
                raise ValueError(f"no node {message.metadata.dst_node_id} in this grid")
            if self._serialise:
                message = through_the_wire(message)
            self._pending[message.metadata.message_id] = self._pool.submit(self._deliver,
                                                                           message)
            ids.append(message.metadata.message_id)
        return ids

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        done = []
        for message_id in message_ids:
            future = self._pending.get(message_id)
            if future is not None and future.done():
                done.append(self._pending.pop(message_id).result())
        return done

    def send_and_receive(self, messages: Iterable[Message], *,
                         timeout: float | None = None) -> Iterable[Message]:
        return list(exchange(self, messages, timeout if timeout is not None else 3600.0,
                             poll=0.01).values())

    def run_server_app(self, server_app: ServerApp,
                       run_config: Mapping[str, bool | float | int | str]) -> None:
        """Run a ServerApp's ``main`` against this grid, as ``flwr run`` would."""
        context = Context(run_id=self._run.run_id, node_id=SUPERLINK_NODE_ID, node_config={},
                          state=RecordDict(), run_config=dict(run_config))
        server_app(grid=self, context=context)

    # -- delivery
    def _deliver(self, message: Message) -> Message:
        context = self._contexts[message.metadata.dst_node_id]
        try:
            reply = self._app(message, context)
        except Exception as exc:  # what a SuperNode does when the ClientApp raises
            reason = f"{type(exc)}:<'{exc}'>"
            reply = Message(Error(code=ErrorCode.CLIENT_APP_RAISED_EXCEPTION, reason=reason),
                            reply_to=message)
        reply.metadata.__dict__["_message_id"] = str(uuid.uuid4())
        return through_the_wire(reply) if self._serialise else reply

    def close(self) -> None:
        """Stop delivering; a node still busy is abandoned, not waited for."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> InProcessGrid:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
