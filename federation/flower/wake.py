"""The SuperNode wakes its force's relay executor when a message arrives.

Flower's SuperNode (``--isolation process``) only queues a task; the relay executor
(``federation.flower.containment``) finds it by asking the SuperNode's local runtime API.
Asking every 0.1 s cost each force ~0.45 CPU-s a round in the executor and as much again
in the SuperNode serving the asks — on a 2-core machine, CPU the round itself needed.
Now the SuperNode (``federation.flower.supernode``) writes one byte into a named pipe in
the relay folder once it has stored a message and its task, and the executor, blocked on
that pipe, asks at once; it still asks every ``CROSSFORCE_RELAY_POLL`` seconds (default
1 s with the pipe, 0.1 s without) so a lost wake-up costs at most that long.

The pipe (``executor-wake``, 0600, made by the executor as the relay user) carries no
data: any byte only means "ask the SuperNode now". A SuperNode without a listening
executor, or a folder where no pipe can be made, falls back to polling alone.
"""

from __future__ import annotations

import contextlib
import os
import select
import stat
from pathlib import Path

#: environment variable naming the pipe (set by ``containment.relay_environment``)
WAKE_ENV = "CROSSFORCE_RELAY_WAKE"
#: the pipe's name inside a relay folder
WAKE_FILE = "executor-wake"


class Wake:
    """The executor's end: a named pipe it blocks on between asks."""

    def __init__(self, read_fd: int, keep_fd: int) -> None:
        self._read = read_fd
        self._keep = keep_fd  # a writer of our own: without one the pipe reads as EOF

    @classmethod
    def listen(cls, path: str | Path | None) -> Wake | None:
        """Open (making it if needed) the pipe at ``path``; None when there is no path or
        it is not a pipe this process can use (polling alone then)."""
        if not path:
            return None
        path = str(path)
        try:
            if not os.path.exists(path):
                os.mkfifo(path, 0o600)
            if not stat.S_ISFIFO(os.stat(path).st_mode):
                return None
            read_fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
            keep_fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            return None
        return cls(read_fd, keep_fd)

    def wait(self, timeout: float) -> bool:
        """Block until a wake-up or ``timeout`` seconds; True when woken."""
        ready, _, _ = select.select([self._read], [], [], max(0.0, timeout))
        if not ready:
            return False
        with contextlib.suppress(BlockingIOError):
            while os.read(self._read, 4096):
                pass
        return True

    def close(self) -> None:
        for fd in (self._read, self._keep):
            with contextlib.suppress(OSError):
                os.close(fd)


def wake_executor(path: str | Path | None = None) -> bool:
    """Tell the executor listening on ``path`` (default: ``$CROSSFORCE_RELAY_WAKE``) to
    ask for a task now; False when nobody listens (never blocks, never raises)."""
    path = path or os.environ.get(WAKE_ENV)
    if not path:
        return False
    try:
        fd = os.open(str(path), os.O_WRONLY | os.O_NONBLOCK)
    except OSError:  # no pipe, or no executor reading it (ENXIO)
        return False
    try:
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            return False
        os.write(fd, b"\0")
        return True
    except OSError:  # a full pipe already holds a wake-up
        return False
    finally:
        os.close(fd)
