"""Where a running `crossforce coordinator serve` says it is: ``DIR/service/serve.json``
(its process id and URL) and ``DIR/service/internal-secret`` (0600), which a federation
round on the same machine shows its internal API. Small and import-light: the store and
the CLI read it to tell a user which process holds the store.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

SERVICE_DIR = "service"
STATE_FILE = "serve.json"
SECRET_FILE = "internal-secret"
INTERNAL_HEADER = "x-crossforce-internal"


def service_dir(directory: Path) -> Path:
    return Path(directory) / SERVICE_DIR


def internal_secret(directory: Path) -> str:
    """The secret a round on this machine shows the internal API (made once, 0600)."""
    import secrets

    from federation.keys import check_private_file, write_private_file

    path = service_dir(directory) / SECRET_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_private_file(path, secrets.token_hex(32).encode())
    return check_private_file(path).decode().strip()


def write_state(directory: Path, url: str, cafile: Path | None) -> Path:
    path = service_dir(directory) / STATE_FILE
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_text(json.dumps({"pid": os.getpid(), "url": url,
                                "cafile": str(cafile) if cafile else None}))
    return path


def clear_state(directory: Path) -> None:
    path = service_dir(directory) / STATE_FILE
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def running_service(directory: Path) -> dict[str, Any] | None:
    """The serving process's state (pid, url), or None if no service runs on this store."""
    path = service_dir(directory) / STATE_FILE
    try:
        state = json.loads(path.read_text())
        os.kill(int(state["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return state


def serving_note(directory: Path) -> str:
    """What to tell a CLI user who finds the store held by the service."""
    state = running_service(directory)
    if state is None:
        return ""
    return (f"`crossforce coordinator serve` (process {state['pid']}) holds this store and "
            f"answers at {state['url']}; ask it (its /v1 API), or stop it first")
