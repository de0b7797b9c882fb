"""`crossforce` loads a command group only when it runs, and heavy libraries only in the
commands that use them (issue #12). Behaviour only: which modules a fresh interpreter has
imported after a command, never how long it took."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: never needed to list commands or explain a group
HEAVY = ("flwr", "scipy", "igraph", "splink", "pandas", "networkx", "fastapi", "uvicorn",
         "opendp", "sklearn", "pydantic", "httpx", "duckdb", "pyarrow", "numpy",
         "rich.progress", "cryptography", "Crypto")
#: the code of the groups themselves, and the demo
OWN = ("node.egress", "node.ingest", "node.store", "node.resolution", "coordinator.consult",
       "coordinator.store", "coordinator.service", "policies.model", "scenario.demo",
       "federation.keys", "federation.ledger", "federation.flower")


def _imported_after(*argv: str) -> set[str]:
    """Module names a fresh interpreter holds after `crossforce ARGV...` ran in it."""
    code = (
        "import json, sys\n"
        "from federation.cli import main\n"
        f"code = main({list(argv)!r})\n"
        "sys.stdout.flush()\n"
        "print('\\n@@' + json.dumps({'code': code, 'modules': sorted(sys.modules)}))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.rsplit("\n@@", 1)[1])
    assert result["code"] == 0, done.stdout + done.stderr
    return set(result["modules"])


def _loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if n in modules
                  or any(m.startswith(n + ".") for m in modules))


def test_top_level_help_imports_no_group_and_no_heavy_library() -> None:
    modules = _imported_after("--help")
    assert _loaded(modules, HEAVY) == []
    assert _loaded(modules, OWN) == []
    # not even the groups' command modules: names come from the entry points and help
    # from the modules' source (finding it imports only the packages' bare __init__)
    assert not [m for m in modules if m.split(".")[0] in ("node", "coordinator", "policies")
                and "." in m]
    assert _loaded(modules, ("scenario.cli", "federation.audit_cli")) == []


@pytest.mark.parametrize("group", ["scenario", "node", "coordinator", "policy", "audit"])
def test_group_help_imports_only_that_group(group: str) -> None:
    modules = _imported_after(group, "--help")
    assert _loaded(modules, HEAVY) == []
    assert _loaded(modules, OWN) == []
    others = {"node": "node.cli", "coordinator": "coordinator.cli",
              "policy": "policies.cli", "audit": "federation.audit_cli",
              "scenario": "scenario.cli"}
    assert others.pop(group) in modules
    assert _loaded(modules, tuple(others.values())) == []


def test_node_status_imports_no_coordinator_flower_or_linkage(tmp_path: Path) -> None:
    node = tmp_path / "node"
    assert _imported_after("node", "init", "--force", "lancashire", "--dir", str(node))
    modules = _imported_after("node", "status", "--dir", str(node))
    assert "node.status" in modules and "duckdb" in modules
    assert _loaded(modules, ("flwr", "scipy", "igraph", "splink", "pandas", "networkx",
                             "fastapi", "uvicorn", "opendp", "httpx", "rich.progress",
                             "coordinator", "scenario.demo", "federation.flower",
                             "node.egress", "node.resolution", "policies.model")) == []


def test_top_level_help_matches_each_group_s_own_help() -> None:
    """The one-line help read without importing a group is the group's real help."""
    import typer

    from federation.cli import _lazy_commands, _load, _static_help

    for name, spec in _lazy_commands().items():
        found = _static_help(spec)
        assert found is not None, spec
        command = _load(name, spec)
        assert found[0] == command.help
        assert found[1] == isinstance(command, typer.core.TyperGroup)
    assert list(_lazy_commands())[:6] == ["demo", "scenario", "node", "coordinator",
                                          "policy", "audit"]


def test_coordinator_superlink_class_is_still_importable() -> None:
    from coordinator.run_cli import CoordinatorSuperLink
    from federation.flower.deployment import LoopbackDeployment

    assert issubclass(CoordinatorSuperLink, LoopbackDeployment)
