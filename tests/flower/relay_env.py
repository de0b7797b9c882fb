"""What a contained relay needs on a test machine: unprivileged relay users (root only) and
an interpreter they can execute.

The relay user must run Python with crossforce and Flower importable. When this venv's
interpreter lives where other users cannot reach it (e.g. a pyenv build under a 0700
/root), ``relay_python`` makes an *overlay*: a venv of the system's Python of the same
minor version whose site adds this venv's site-packages — same packages, an interpreter
the relay user can run (what a force gets by installing crossforce system-wide).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import site
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from federation.flower.containment import RelayUser, ensure_relay_user


def need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("relay containment starts processes as another user: needs root "
                    "(as in CI)")


def relay_user(name: str) -> RelayUser:
    """The relay user ``name``, created if missing (retried: parallel workers may race
    for /etc/passwd's lock)."""
    need_root()
    for attempt in range(5):
        try:
            return ensure_relay_user(name)
        except Exception:
            if attempt == 4:
                raise
            time.sleep(0.5 + attempt)
    raise AssertionError("unreachable")


def _runs_as(python: str, user: RelayUser) -> bool:
    try:
        result = subprocess.run([python, "-c", "import flwr, federation.flower.clientapp"],
                                capture_output=True, cwd="/", check=False, env={
                                    "PATH": "/usr/bin:/bin",
                                    "PYTHONPATH": os.environ.get("PYTHONPATH", "")},
                                **user.popen_kwargs())
    except OSError:  # the interpreter is out of the user's reach
        return False
    return result.returncode == 0


def relay_python(user: RelayUser) -> str:
    """An interpreter ``user`` can run with this venv's packages."""
    if _runs_as(sys.executable, user):
        return sys.executable
    minor = f"python{sys.version_info.major}.{sys.version_info.minor}"
    system = next((p for p in (f"/usr/bin/{minor}", f"/usr/local/bin/{minor}")
                   if os.access(p, os.X_OK)), None)
    if system is None:
        pytest.skip(f"{sys.executable} is not executable by {user.name} and there is no "
                    f"system {minor} to overlay")
    packages = [p for p in site.getsitepackages() if Path(p).is_dir()]
    tag = hashlib.sha256(f"{system}|{packages}".encode()).hexdigest()[:12]
    overlay = Path(tempfile.gettempdir()) / f"crossforce-relay-python-{tag}"
    python = overlay / "bin" / "python"
    if not python.exists():
        staging = Path(tempfile.mkdtemp(prefix="crossforce-relay-python-"))
        subprocess.run([system, "-m", "venv", "--without-pip", str(staging)], check=True)
        (site_dir,) = (staging / "lib").glob("python3*/site-packages")
        (site_dir / "crossforce-overlay.pth").write_text("".join(
            f"import site; site.addsitedir({p!r})\n" for p in packages))
        for base, dirs, files in os.walk(staging):
            for name in [*dirs, *files, "."]:
                path = os.path.join(base, name)
                if not os.path.islink(path):
                    os.chmod(path, 0o755 if os.path.isdir(path) or os.access(path, os.X_OK)
                             else 0o644)
        try:
            staging.rename(overlay)
        except OSError:  # another worker made it first
            shutil.rmtree(staging, ignore_errors=True)
    if not _runs_as(str(python), user):
        pytest.skip(f"no interpreter {user.name} can run with crossforce importable")
    return str(python)


def open_folder(prefix: str) -> Path:
    """A folder other users may enter (0755), unlike pytest's tmp_path (under a 0700
    root): so what keeps the relay out of a node folder is the node folder's own mode."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(path, 0o755)
    return path


def fab_hash(app: Path) -> str:
    """SHA-256 of the bundle ``flwr run`` builds from ``app``."""
    import warnings

    from flwr.cli.build import build_fab_from_disk

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # pathspec, inside Flower
        return hashlib.sha256(build_fab_from_disk(app)).hexdigest()
