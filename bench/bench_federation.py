"""Federation transport: what Flower costs per round, and what the relay costs per byte.

1. One federation round (collect, link, notify; 2 forces, small real payloads) over the
   in-process grid vs through Flower's Deployment Engine on loopback (TLS, node
   authentication, one ClientApp process per message). Ratio: deployment / in-process.
2. A signed payload of 1 M tokens (16-byte refs + 16-byte tokens, Arrow IPC) carried
   node gateway → relay → Flower wire objects → coordinator, vs copying the same bytes
   once in memory. Ratio: relay / copy.

The stand-in node and coordinator services come from tests/flower/flower_services.py
(real signatures, tokens and DuckDB) until node egress and the coordinator land.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HELPERS = ROOT / "tests" / "flower"
sys.path[:0] = [str(ROOT), str(HELPERS)]

from flower_services import EAST_SHARED, SHARED, Forces, TokenNode  # noqa: E402

from bench.harness import peak_rss_mb, report, timed  # noqa: E402
from federation.flower.deployment import LoopbackDeployment  # noqa: E402
from federation.flower.gateway import running_gateway  # noqa: E402
from federation.flower.grid import InProcessGrid  # noqa: E402
from federation.flower.protocol import create_relay_secret  # noqa: E402
from federation.flower.serverapp import RoundSettings, run_federation  # noqa: E402

TOKENS = 1_000_000


def _nodes() -> dict[str, TokenNode]:
    return {"north": TokenNode("north", [SHARED, "+447700900100"]),
            "south": TokenNode("south", [SHARED, EAST_SHARED])}


def bench_round(root: Path) -> None:
    settings = RoundSettings("bench", 1, share_timeout=60, hits_timeout=60)
    nodes = _nodes()
    forces = Forces(root / "inprocess", nodes).start()
    try:
        def one_round() -> float:
            coordinator = forces.coordinator(Path(tempfile.mkdtemp(dir=root)))
            with InProcessGrid(forces.node_configs) as grid:
                return run_federation(grid, coordinator, settings,
                                      progress=lambda _: None).seconds["total"]
        _, inprocess = timed(one_round, repeat=3)
    finally:
        forces.close()

    nodes = _nodes()
    coordinator_dir = root / "coordinator"
    coordinator_dir.mkdir()
    (coordinator_dir / "keys.json").write_text(json.dumps(
        {f: n.signer.public_key.hex() for f, n in nodes.items()}))
    forces = Forces(root / "deployment", nodes).start()
    t0 = time.perf_counter()
    try:
        with LoopbackDeployment(root / "flower", forces.node_configs,
                                pythonpath=[HELPERS]) as deployment:
            summary = deployment.federate({
                "purpose": "bench", "epoch": 1, "coordinator-dir": str(coordinator_dir),
                "coordinator-service": "flower_services:make_coordinator"}, timeout=300)
    finally:
        forces.close()
    end_to_end = time.perf_counter() - t0
    deployed = summary.seconds["total"]
    report("federation.round", {
        "forces": 2, "inprocess_round_s": inprocess, "deployment_round_s": deployed,
        "deployment_superlink_up_s": deployment.timings.get("superlink", 0.0),
        "deployment_wait_for_nodes_s": summary.seconds.get("wait_for_nodes", 0.0),
        "deployment_end_to_end_s": end_to_end},
        ratio=deployed / inprocess,
        ratio_meaning="deployment round time / in-process round time, same services")


class FixedPayload:
    """A node whose share set is already built (we time the transport, not egress)."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload

    def share(self, purpose: str, epoch: int) -> bytes:
        return self.payload

    def receive_hits(self, data: bytes) -> dict[str, Any]:
        return {"bytes": len(data)}


class Receiver:
    def __init__(self) -> None:
        self.got = 0

    def submit(self, payload: bytes, sender: str) -> dict[str, int]:
        self.got = len(payload)
        return {"bytes": self.got}

    def link(self) -> Mapping[str, Any]:
        return {}

    def hits_for(self, force: str) -> bytes:
        return b""


def bench_relay(root: Path) -> None:
    phones = [f"+4477009{i:05d}" for i in range(TOKENS)]
    payload = TokenNode("north", phones).share("bench", 1)
    secret_file = root / "relay-secret"
    secret = create_relay_secret(secret_file)
    receiver = Receiver()
    settings = RoundSettings("bench", 1, share_timeout=300, hits_timeout=60)
    with running_gateway(FixedPayload(payload), secret) as gateway:
        config = {"north": {"gateway": gateway.url, "gateway-secret-file": str(secret_file)}}

        def relay() -> float:
            with InProcessGrid(config) as grid:
                return run_federation(grid, receiver, settings,
                                      progress=lambda _: None).seconds["collect"]
        _, relayed = timed(relay, repeat=2)
    assert receiver.got == len(payload)
    copy, _ = timed(lambda: bytearray(payload), repeat=5)
    report("federation.relay_1M_tokens", {
        "tokens": TOKENS, "payload_mb": len(payload) / 1e6, "relay_s": relayed,
        "copy_s": copy, "relay_mb_per_s": len(payload) / 1e6 / relayed,
        "peak_rss_mb": peak_rss_mb()},
        ratio=relayed / copy,
        ratio_meaning="gateway→relay→Flower wire→coordinator time / one in-memory copy")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="crossforce-bench-federation-") as tmp:
        bench_relay(Path(tmp))
        bench_round(Path(tmp))


if __name__ == "__main__":
    main()
