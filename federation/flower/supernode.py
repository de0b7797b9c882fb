"""``flower-supernode`` with shorter waits, as the force's relay runs it.

Flower 1.41/1.42's SuperNode loop (``flwr.supernode.start_client_internal``) sleeps a
fixed 3 s whenever the SuperLink had no message for it, and 0.5 s between checks for a
finished reply: every round step then waits up to 3.5 s per node before anything moves
(the deployed round was 4× the in-process one with the relay itself at 0.15 CPU-s a
message). Neither wait has a setting, so this entry point shortens them in that module
only. The idle poll of the SuperLink: ``CROSSFORCE_SUPERNODE_POLL`` seconds (default 0.5:
one small HTTPS request per node twice a second) while the node is idle, and
``CROSSFORCE_SUPERNODE_BUSY_POLL`` (default 0.25) for ``BUSY_WINDOW`` seconds after it
last got a message — a round's next step (hits after shares, SecAgg+'s next stage)
comes seconds after the last, so it is picked up sooner, and an idle node still asks
only twice a second. Not faster by default: every poll is a request the one SuperLink
serves (~5 ms of its CPU through Flower's SQL state), 50 a second for 5 nodes at 0.1 s,
and a demo round was no faster with them (its hits push took 2.6-2.7 s either way).
Local waits (a reply from the relay): 0.05 s. The pulls of a question's objects retry
after 0.02 s, not 1 s (``federation.flower.pulls``). Once a message and its task are
stored, the relay executor is woken through a pipe (``federation.flower.wake``) instead
of finding the task by polling.
Everything else is Flower's own ``flower-supernode``, with the same arguments.

Run as ``python -m federation.flower.supernode ARGS...`` (``containment`` does).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from federation.flower.wake import wake_executor

POLL_ENV = "CROSSFORCE_SUPERNODE_POLL"
DEFAULT_POLL = 0.5
BUSY_POLL_ENV = "CROSSFORCE_SUPERNODE_BUSY_POLL"
DEFAULT_BUSY_POLL = 0.25
#: seconds after a message during which the node polls at the busy interval
BUSY_WINDOW = 60.0
#: waits for something local (the reply of a task, an object in the node's store)
LOCAL_WAIT = 0.05
#: Flower's idle poll: a sleep this long or longer is the one to shorten
FLOWER_IDLE_SLEEP = 3.0


class ShortWaits:
    """Stands in for the ``time`` module inside Flower's SuperNode loop: ``sleep`` is
    capped (the idle poll at ``poll``, or ``busy_poll`` within ``BUSY_WINDOW`` seconds of
    the last message; the rest at ``LOCAL_WAIT``); all else is ``time``."""

    def __init__(self, poll: float, busy_poll: float | None = None) -> None:
        self.poll = poll
        self.busy_poll = min(poll, busy_poll if busy_poll is not None else poll)
        self.last_message = -float("inf")

    def got_message(self, now: float | None = None) -> None:
        """The node just pulled a message: poll at the busy interval for a while."""
        self.last_message = time.monotonic() if now is None else now

    def wait_for(self, seconds: float, now: float) -> float:
        """How long a ``sleep(seconds)`` asked for by Flower really sleeps at ``now``."""
        if seconds < FLOWER_IDLE_SLEEP:
            return min(seconds, LOCAL_WAIT)
        busy = now - self.last_message < BUSY_WINDOW
        return min(seconds, self.busy_poll if busy else self.poll)

    def sleep(self, seconds: float) -> None:
        time.sleep(self.wait_for(seconds, time.monotonic()))

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def poll_interval(environ: Mapping[str, str] = os.environ, name: str = POLL_ENV,
                  default: float = DEFAULT_POLL) -> float:
    """A poll interval from the environment; a clear error for a bad value."""
    from federation.flower.pulls import env_seconds

    return env_seconds(environ, name, default, 0.05, 3.0)


def noting_messages(pull: Callable[..., Any], waits: ShortWaits,
                    wake: Callable[[], object] = wake_executor) -> Callable[..., Any]:
    """Flower's ``_pull_and_store_message``, telling ``waits`` when it got a message
    (it returns the message's run id, or None when there was none) and waking the
    force's relay executor, which then takes the task at once
    (``federation.flower.wake``)."""

    def pull_and_note(*args: Any, **kwargs: Any) -> Any:
        run_id = pull(*args, **kwargs)
        if run_id is not None:
            wake()
            waits.got_message()
        return run_id

    return pull_and_note


def main() -> int:
    from flwr.supernode import start_client_internal
    from flwr.supernode.cli import flower_supernode

    from federation.flower.pulls import shorten_object_pulls

    waits = ShortWaits(poll_interval(),
                       poll_interval(name=BUSY_POLL_ENV, default=DEFAULT_BUSY_POLL))
    start_client_internal.time = waits  # type: ignore[attr-defined]
    start_client_internal._pull_and_store_message = noting_messages(  # type: ignore[attr-defined]
        start_client_internal._pull_and_store_message, waits)
    shorten_object_pulls()  # a question's objects: retry after 0.02 s, not 1 s
    sys.argv[0] = "flower-supernode"
    flower_supernode()
    return 0


if __name__ == "__main__":
    sys.exit(main())
