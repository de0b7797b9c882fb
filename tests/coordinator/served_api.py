"""`crossforce coordinator serve` as a real process on a loopback port, and a real HTTP
client for it (httpx) — what the service tests and the bench talk to."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.spawned import start, stop_all

LISTENING = re.compile(r"listening on (\S+)")


def add_user(directory: Path, name: str, role: str) -> str:
    """A user's API key, made with the real command (`coordinator users add --json`)."""
    done = subprocess.run([sys.executable, "-m", "federation.cli", "coordinator", "users",
                           "add", name, "--role", role, "--dir", str(directory), "--json"],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)["key"]


@contextmanager
def serving(directory: Path, *args: object, timeout: float = 60.0) -> Iterator[str]:
    """Run `coordinator serve --dir DIRECTORY --port 0 ARGS...`; yields its URL."""
    process = start([sys.executable, "-m", "federation.cli"], "coordinator", "serve",
                    "--dir", directory, "--port", 0, *args)
    try:
        deadline, seen = time.monotonic() + timeout, ""
        while True:
            line = process.stdout.readline() if process.stdout else ""
            seen += line
            found = LISTENING.search(line)
            if found:
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"coordinator serve did not start:\n{seen}")
        yield found.group(1)
    finally:
        stop_all([process])


class Api:
    """One user's session: their key and the purpose and justification they ask under."""

    def __init__(self, url: str, key: str | None, purpose: str | None = "op-test",
                 justification: str | None = "checking the service answers as specified"
                 ) -> None:
        headers = {}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        if purpose:
            headers["X-Purpose"] = purpose
        if justification:
            headers["X-Justification"] = justification
        self.client = httpx.Client(base_url=url, headers=headers, timeout=30.0)

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.client.get(path, params=params)

    def post(self, path: str, body: Any) -> httpx.Response:
        return self.client.post(path, json=body)

    def delete(self, path: str) -> httpx.Response:
        return self.client.delete(path)
