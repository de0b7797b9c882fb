"""The demo's key custodian: a key service folder, its `crossforce keyservice serve`
process on loopback (stopped on exit, error and Ctrl-C like every demo process), and one
credential per force, each force's sized to the demo's volume."""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from federation.errors import CrossforceError

LISTENING = re.compile(r"key service listening on (\S+)")
START_TIMEOUT = 60.0
#: evaluations a demo force may ask for per day (a real quota follows declared volume)
DEMO_QUOTA = 2_000_000


class KeyServiceProcess:
    """``crossforce keyservice serve`` for the key service in ``directory``."""

    def __init__(self, directory: Path, log_dir: Path) -> None:
        self.dir = Path(directory)
        self.log_dir = Path(log_dir)
        self.process: Any = None
        self.url = ""

    def spawn(self) -> KeyServiceProcess:
        from federation.flower.deployment import BIN, Process
        from scenario.demo import crossforce

        if not (self.dir / "keyservice.json").exists():
            crossforce("keyservice", "init", "--dir", self.dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"}
        self.process = Process("keyservice", [str(BIN / "crossforce"), "keyservice", "serve",
                                              "--dir", str(self.dir), "--port", "0"],
                               env, self.log_dir)
        return self

    def wait_ready(self, timeout: float = START_TIMEOUT) -> str:
        deadline = time.monotonic() + timeout
        while not self.url:
            found = LISTENING.search(self.process.tail(20))
            if found:
                self.url = found.group(1)
            elif not self.process.alive():
                raise CrossforceError(f"the key service did not start:\n{self.process.tail()}")
            elif time.monotonic() > deadline:
                raise CrossforceError(f"the key service was not up after {timeout:g} s")
            else:
                time.sleep(0.05)
        return self.url

    def issue(self, nodes: Mapping[str, Path]) -> None:
        """A credential per force, installed in its node (`node keys import-keyservice`)."""
        from scenario.demo import crossforce

        url = self.wait_ready()
        for force, node in nodes.items():
            credential = self.dir.parent / f"{force}.keyservice.json"
            credential.unlink(missing_ok=True)
            crossforce("keyservice", "register", force, "--dir", self.dir, "--out", credential,
                       "--url", url, "--quota", DEMO_QUOTA)
            crossforce("node", "keys", "import-keyservice", "--dir", node, credential,
                       "--replace")

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None



@contextlib.contextmanager
def key_service(directory: Path, log_dir: Path) -> Iterator[KeyServiceProcess]:
    """The key service process for a ``with`` block: stopped on exit, error and Ctrl-C."""
    process = KeyServiceProcess(directory, log_dir)
    try:
        yield process.spawn()
    finally:
        process.stop()
