"""Real nodes and a real coordinator, built with the real CLI, for the round tests.

`scenario` generates the forces' files; `build` initialises, loads and registers one node
per force (a key service credential to every force but those named — or, without a
running key service, the legacy linkage secret — and a policy file where one is given);
`serve` starts each node's real gateway with its real audit hook and returns the SuperNode
configs the relay reads.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from contextlib import ExitStack
from pathlib import Path

from keyservice_running import KeyServiceRun

from federation.cli import main
from federation.flower.gateway import running_gateway
from federation.flower.protocol import NodeService, read_relay_secret
from node.serve_cli import call_auditor, relay_secret


def crossforce(*args: object) -> None:
    code = main([str(a) for a in args])
    assert code == 0, f"crossforce {' '.join(map(str, args))} exited {code}"


def scenario(root: Path, *, forces: int, persons: int, seed: int) -> tuple[Path, list[str]]:
    """The scenario folder and its force names, sorted."""
    out = root / "scenario"
    crossforce("scenario", "generate", "--forces", forces, "--persons-per-force", persons,
               "--seed", seed, "--out", out)
    return out, sorted(p.name for p in out.iterdir() if p.name != "truth")


def build(root: Path, scenario_dir: Path, forces: Collection[str], *, epoch: int,
          without_secret: Collection[str] = (),
          policies: Mapping[str, str] | None = None,
          keyservice: KeyServiceRun | None = None) -> tuple[Path, dict[str, Path]]:
    """The coordinator folder and force → node folder, every force registered."""
    coordinator = root / "coordinator"
    secret = root / "linkage-secret.json"  # the key custodian's file
    crossforce("node", "keys", "generate-secret", secret)
    crossforce("coordinator", "init", "--dir", coordinator)
    nodes = {force: root / "nodes" / force for force in forces}
    for force, node in nodes.items():
        crossforce("node", "init", "--force", force, "--dir", node)
        crossforce("node", "keys", "import-coordinator", "--dir", node,
                   coordinator / "keys" / "public.json")
        if policies and force in policies:
            (node / "policy.toml").write_text(policies[force])
        crossforce("node", "ingest", "--dir", node, scenario_dir / force)
        if force in without_secret:
            pass  # this node can make no token
        elif keyservice is not None:
            crossforce("node", "keys", "import-keyservice", "--dir", node,
                       keyservice.credential(force))
        else:
            crossforce("node", "keys", "import-secret", "--dir", node, secret)
        crossforce("coordinator", "register", "--dir", coordinator, "--force", force,
                   "--public-key", node / "keys" / "public.json", "--epoch", epoch)
    return coordinator, nodes


def serve(stack: ExitStack, services: Mapping[str, NodeService],
          nodes: Mapping[str, Path]) -> dict[str, dict[str, str]]:
    """Each force's gateway on loopback for the life of ``stack``; force → node config."""
    configs: dict[str, dict[str, str]] = {}
    for force, service in services.items():
        secret_file = relay_secret(nodes[force], None)
        server = stack.enter_context(running_gateway(
            service, read_relay_secret(secret_file), on_call=call_auditor(nodes[force])))
        configs[force] = {"gateway": server.url, "gateway-secret-file": str(secret_file)}
    return configs
