"""What a node runs against the key service: its credential file, the HTTP calls, and
batched evaluation on every core (blind → ask → check the proof → finalize).

A node learns PRF outputs only by asking, batch by batch; it checks every batch proof
against the epoch's published public key, so a service cannot quietly use another key for
one force. Blinding and finalizing cost ~0.5 ms a value on one core (KEYSERVICE.md), so a
large first share runs them in worker processes, one per core, and the caller caches each
answered batch as it arrives (a failure half-way keeps what was already paid for).
"""

from __future__ import annotations

import json
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from federation.errors import CrossforceError
from federation.keys import check_private_file, write_private_file

CREDENTIAL_FORMAT = "crossforce-keyservice-credential/1"
#: below this many values one process does it all (spawning workers costs ~1 s)
PARALLEL_FROM = 8192
TIMEOUT_S = 120.0


class KeyServiceRefused(CrossforceError):
    """The key service refused a call; the message is its reason."""


@dataclass(frozen=True, repr=False)
class Credential:
    """A force's (or the coordinator's) key service credential file, mode 0600."""

    url: str
    holder: str
    role: str
    credential: str
    ca_file: str | None = None

    def save(self, path: Path, *, overwrite: bool = False) -> None:
        data = {"format": CREDENTIAL_FORMAT, **asdict(self)}
        write_private_file(Path(path), (json.dumps(data, indent=2) + "\n").encode(),
                           overwrite=overwrite)

    @classmethod
    def load(cls, path: Path) -> Credential:
        raw = check_private_file(Path(path))
        try:
            data = json.loads(raw)
            if data.pop("format", None) != CREDENTIAL_FORMAT:
                raise ValueError(f"not {CREDENTIAL_FORMAT}")
            return cls(**data)
        except (ValueError, TypeError) as exc:
            raise CrossforceError(f"{path}: not a key service credential file "
                                  f"({exc})") from None

    def __repr__(self) -> str:  # never print the credential
        return f"Credential({self.holder} at {self.url})"


class KeyServiceClient:
    """HTTP calls to one key service with one credential."""

    def __init__(self, credential: Credential, timeout: float = TIMEOUT_S) -> None:
        self.credential = credential
        self._http = httpx.Client(
            base_url=credential.url.rstrip("/"), timeout=timeout,
            verify=credential.ca_file or True,
            headers={"Authorization": f"Bearer {credential.credential}"})

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> KeyServiceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise CrossforceError(f"the key service at {self.credential.url} cannot be "
                                  f"reached ({type(exc).__name__}: {exc}); is it running? "
                                  "(`crossforce keyservice serve`)") from None
        if response.status_code != 200:
            try:
                reason = response.json()["error"]
            except (ValueError, KeyError, TypeError):
                reason = response.text[:200] or f"HTTP {response.status_code}"
            raise KeyServiceRefused(f"the key service refused: {reason}")
        return response

    def epochs(self) -> dict[str, Any]:
        """Current epoch, its public key (hex), every epoch, batch limit, quota left."""
        return self._call("GET", "/v1/epochs").json()

    def evaluate(self, purpose: str, epoch: int, blinded: bytes) -> bytes:
        """``proof || evaluated points`` for one batch of blinded points."""
        return self._call("POST", "/v1/evaluate", params={"purpose": purpose, "epoch": epoch},
                          content=blinded,
                          headers={"Content-Type": "application/octet-stream"}).content


def evaluate_chunk(credential: Credential, purpose: str, epoch: int, public_key: bytes,
                   inputs: Sequence[bytes]) -> list[bytes]:
    """Blind, ask, check the proof, finalize: the 64-byte PRF outputs of ``inputs``
    (one batch; runs in a worker process for large jobs)."""
    from federation.keyservice.suite import blind, finalize

    states, blinded = blind(inputs)
    with KeyServiceClient(credential) as client:
        answer = client.evaluate(purpose, epoch, blinded)
    return finalize(states, answer, public_key)


def prf_outputs(credential: Credential, purpose: str, epoch: int, public_key: bytes,
                inputs: Sequence[bytes], *, batch: int,
                on_batch: Callable[[int, list[bytes]], None],
                workers: int | None = None) -> None:
    """Evaluate every input in batches of ``batch``; ``on_batch(start, outputs)`` gets
    each answered batch (``start`` = index of its first input) as soon as it is checked.
    The first refusal or bad proof stops the rest and is raised after the batches already
    answered were handed over."""
    chunks = [(i, inputs[i:i + batch]) for i in range(0, len(inputs), batch)]
    workers = workers or os.cpu_count() or 1
    if len(inputs) < PARALLEL_FROM or workers < 2:
        for start, chunk in chunks:
            on_batch(start, evaluate_chunk(credential, purpose, epoch, public_key, chunk))
        return
    context = multiprocessing.get_context("spawn")  # never fork a process running DuckDB
    with ProcessPoolExecutor(max_workers=min(workers, len(chunks)),
                             mp_context=context) as pool:
        pending = {pool.submit(evaluate_chunk, credential, purpose, epoch, public_key,
                               list(chunk)): start for start, chunk in chunks}
        error: BaseException | None = None
        while pending and error is None:
            done, _ = wait(pending, return_when=FIRST_EXCEPTION)
            for future in done:
                start = pending.pop(future)
                if future.exception() is not None:
                    error = error or future.exception()
                else:
                    on_batch(start, future.result())
        for future in pending:
            future.cancel()
        for future in list(pending):  # those already running still count: keep them
            if not future.cancelled() and future.exception() is None:
                on_batch(pending[future], future.result())
    if error is not None:
        raise error
