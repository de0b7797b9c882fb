"""``flower-supernode`` with shorter waits, as the force's relay runs it.

Flower 1.41/1.42's SuperNode loop (``flwr.supernode.start_client_internal``) sleeps a
fixed 3 s whenever the SuperLink had no message for it, and 0.5 s between checks for a
finished reply: every round step then waits up to 3.5 s per node before anything moves
(the deployed round was 4× the in-process one with the relay itself at 0.15 CPU-s a
message). Neither wait has a setting, so this entry point shortens them in that module
only: the idle poll of the SuperLink to ``CROSSFORCE_SUPERNODE_POLL`` seconds (default
0.5: one small HTTPS request per node twice a second) and the local waits to 0.05 s.
Everything else is Flower's own ``flower-supernode``, with the same arguments.

Run as ``python -m federation.flower.supernode ARGS...`` (``containment`` does).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

POLL_ENV = "CROSSFORCE_SUPERNODE_POLL"
DEFAULT_POLL = 0.5
#: waits for something local (the reply of a task, an object in the node's store)
LOCAL_WAIT = 0.05
#: Flower's idle poll: a sleep this long or longer is the one to shorten
FLOWER_IDLE_SLEEP = 3.0


class ShortWaits:
    """Stands in for the ``time`` module inside Flower's SuperNode loop: ``sleep`` is
    capped (the idle poll at ``poll``, the rest at ``LOCAL_WAIT``); all else is ``time``."""

    def __init__(self, poll: float) -> None:
        self.poll = poll

    def sleep(self, seconds: float) -> None:
        cap = self.poll if seconds >= FLOWER_IDLE_SLEEP else LOCAL_WAIT
        time.sleep(min(seconds, cap))

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def poll_interval(environ: dict[str, str] | os._Environ[str] = os.environ) -> float:
    """The idle poll from the environment; a clear error for a bad value."""
    text = environ.get(POLL_ENV, "")
    try:
        value = float(text) if text else DEFAULT_POLL
    except ValueError:
        raise SystemExit(f"{POLL_ENV}={text!r}: give seconds, e.g. 0.5") from None
    if not 0.05 <= value <= 3.0:
        raise SystemExit(f"{POLL_ENV}={text!r}: give between 0.05 and 3 seconds")
    return value


def main() -> int:
    from flwr.supernode import start_client_internal
    from flwr.supernode.cli import flower_supernode

    start_client_internal.time = ShortWaits(poll_interval())  # type: ignore[attr-defined]
    sys.argv[0] = "flower-supernode"
    flower_supernode()
    return 0


if __name__ == "__main__":
    sys.exit(main())
