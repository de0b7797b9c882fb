"""Crossforce commands started as real processes (each its own process group), and their
orderly stop, for tests that run `node serve`, `node join` and `coordinator run` side by side."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Sequence


def start(command: Sequence[str | os.PathLike[str]], *args: object) -> subprocess.Popen[str]:
    """`command ARGS...` with its output line-buffered into one pipe, telemetry off."""
    return subprocess.Popen([*map(str, command), *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1",
                                 "FLWR_TELEMETRY_ENABLED": "0"})


def stop_all(started: list[subprocess.Popen[str]]) -> None:
    """SIGTERM every process still running, then SIGKILL the group of any that lingers."""
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in started:
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
