"""A small federation in files, built with the public commands only, for the governance
tests: two forces (Canaryshire, Northshire) holding the same hand-written canary people
(tests/node/egress_nodes.py), each shares once, the coordinator links and writes each
force its signed hits, each node records them, and both sides exchange ledger heads.

Built once per session (``world_template``) and copied per test (``copy_world``), so a
test may tamper with any ledger. Layout::

    ROOT/coordinator/                 the coordinator folder
    ROOT/nodes/Canaryshire/node/      a node folder (node.toml, node.duckdb, keys/)
    ROOT/nodes/Northshire/node/
    ROOT/out/                         payloads, hits and heads as they travelled
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
if str(TESTS / "node") not in sys.path:  # the node tests' helpers (canary data, make_node)
    sys.path.insert(0, str(TESTS / "node"))

from egress_nodes import CANARY_FILES, make_node, register_commands, run  # noqa: E402

FORCES = ("Canaryshire", "Northshire")
_BUILT: dict[str, Path] = {}


def node_dir(root: Path, force: str) -> Path:
    return root / "nodes" / force / "node"


def build(root: Path) -> Path:
    register_commands()
    coord, out = root / "coordinator", root / "out"
    out.mkdir(parents=True)
    run("coordinator", "init", "--dir", coord)
    for force in FORCES:
        inputs = root / "in" / force
        inputs.mkdir(parents=True)
        for name, text in CANARY_FILES.items():
            (inputs / name).write_text(text)
        (root / "nodes" / force).mkdir(parents=True)
        node = make_node(root / "nodes" / force, force, inputs)
        run("node", "keys", "import-coordinator", "--dir", node, coord / "keys" / "public.json")
        run("coordinator", "register", "--dir", coord, "--force", force, "--public-key",
            node / "keys" / "public.json")
        run("node", "share", "--dir", node, "--out", out / f"{force}.cfsub")
    run("coordinator", "submit", "--dir", coord, *(out / f"{f}.cfsub" for f in FORCES))
    run("coordinator", "link", "--dir", coord)
    for force in FORCES:
        hits = out / f"hits-{force}.arrow"
        run("coordinator", "hits", "--dir", coord, "--force", force, "--out", hits)
        run("node", "hits", "--dir", node_dir(root, force), hits)
    exchange_heads(root)
    return root


def exchange_heads(root: Path) -> None:
    """Each node signs its head, the coordinator keeps them and signs its own, each node
    keeps that: after this, cutting any ledger's last entry is caught."""
    coord, out = root / "coordinator", root / "out"
    for force in FORCES:
        run("node", "checkpoint", "--dir", node_dir(root, force), "--out",
            out / f"head-{force}.json")
    run("coordinator", "checkpoint", "--dir", coord, "--out", out / "head-coordinator.json",
        *(a for f in FORCES for a in ("--record", out / f"head-{f}.json")))
    for force in FORCES:
        run("node", "checkpoint", "--dir", node_dir(root, force), "--record",
            out / "head-coordinator.json")


def world_template(factory) -> Path:  # noqa: ANN001 - pytest.TempPathFactory
    if "world" not in _BUILT:
        _BUILT["world"] = build(factory.mktemp("audit-world") / "federation")
    return _BUILT["world"]


def copy_world(template: Path, dest: Path) -> Path:
    shutil.copytree(template, dest)
    return dest
