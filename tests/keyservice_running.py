"""A real key service for tests: its folder, served on loopback in a background thread
(the same uvicorn server class as the node gateway), and credentials for its holders."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from federation.flower.gateway import GatewayServer
from federation.keyservice.client import Credential
from federation.keyservice.service import keyservice_app
from federation.keyservice.store import KeyServiceDir, init_service, register


@dataclass(frozen=True)
class KeyServiceRun:
    dir: Path
    url: str

    def credential(self, holder: str, *, quota: int | None = None,
                   role: str = "force") -> Path:
        """Issue a credential to ``holder`` and write its file beside the service folder."""
        secret = register(KeyServiceDir(self.dir), holder, role=role, quota=quota)
        path = self.dir.parent / f"{holder}.keyservice.json"
        Credential(self.url, holder, role, secret).save(path, overwrite=True)
        return path


@contextmanager
def running_keyservice(root: Path, *, max_batch: int = 4096,
                       default_quota: int = 1_000_000) -> Iterator[KeyServiceRun]:
    """Serve the key service in ``root/keyservice`` (created if missing) for a block."""
    directory = Path(root) / "keyservice"
    if not directory.exists():
        init_service(directory, max_batch=max_batch, default_quota=default_quota)
    with GatewayServer(keyservice_app(directory)) as server:
        yield KeyServiceRun(directory, server.url)
