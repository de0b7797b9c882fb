"""Tokens through the key service for a 100,000-person force vs the legacy HMAC path, same run.

Data: the 100,000-person force of ``bench_egress`` (cached in ``$CROSSFORCE_BENCH_DIR`` or
/tmp/crossforce-bench-egress), copied fresh. The key service runs as its own process
(``crossforce keyservice serve`` on loopback), as in production.

Measured (default policy 'cse-national', signed payload written each time):
- legacy: ``node share --tokens secret`` (HMAC under the linkage secret, in DuckDB);
- key service, first share: every value blinded, evaluated by the service in batches,
  proof-checked and finalized on every core, cached per epoch in the node;
- key service, second share: every value answered from the node's cache;
- legacy again (same refs as the second share).
Ratio: second key-service share / legacy share (refs reused in both).

Medians of ``--runs`` (default 3) runs, each on a fresh copy of the node and a fresh key
service (so every first share evaluates every value). ``--persons N``: another force size.

Targets (issue 15): first share of a 100,000-person force under 3 minutes on 2 cores; a
repeat share within 1.5x the legacy path.
Run: ``.venv/bin/python bench/bench_keyservice.py [--persons N] [--runs N]``.
"""

from __future__ import annotations

import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_egress import _run, bench_root, build_node, persons_arg  # noqa: E402
from bench.harness import load_avg, peak_rss_mb, report, runs_arg  # noqa: E402
from federation.keyservice.client import Credential  # noqa: E402
from federation.keyservice.store import KeyServiceDir, init_service, register  # noqa: E402
from node.egress import egress  # noqa: E402

PERSONS = 100_000
SERVE = "from federation.keyservice.cli import app; app()"


def _serve(directory: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen([sys.executable, "-c", SERVE, "serve", "--dir", str(directory),
                                "--port", "0"], stdout=subprocess.PIPE, text=True,
                               start_new_session=True)
    line = process.stdout.readline()  # type: ignore[union-attr]
    found = re.search(r"listening on (\S+)", line)
    if not found:
        process.kill()
        raise SystemExit(f"key service did not start: {line!r}")
    return process, found.group(1)


def one_run(template: Path, work: Path) -> dict[str, tuple[float, object]]:
    """Legacy share, key-service first and second share, legacy again, on a fresh copy of
    the node and a fresh key service; step → (seconds, result)."""
    if work.exists():
        shutil.rmtree(work)
    node_dir = work / "node"
    shutil.copytree(template, node_dir)
    out = work / "payload.cfsub"
    steps: dict[str, tuple[float, object]] = {}

    def step(name: str, tokens: str) -> None:
        t0 = time.perf_counter()
        result = egress(node_dir, out=out, tokens=tokens)
        steps[name] = (time.perf_counter() - t0, result)

    step("legacy", "secret")
    init_service(work / "keyservice", default_quota=10_000_000)
    process, url = _serve(work / "keyservice")
    try:
        credential = work / "north.keyservice.json"
        Credential(url, "bench", "force",
                   register(KeyServiceDir(work / "keyservice"), "bench")).save(credential)
        _run("node", "keys", "import-keyservice", "--dir", node_dir, credential)
        step("first", "keyservice")
        step("second", "keyservice")
    finally:
        process.terminate()
        process.wait(10)
    step("again", "secret")
    with KeyServiceDir(work / "keyservice").open() as con:
        evaluations = int(con.execute("SELECT sum(evaluations) FROM usage").fetchall()[0][0])
    steps["evaluations"] = (0.0, evaluations)
    return steps


def main() -> None:
    runs = runs_arg()
    persons = persons_arg()
    root = bench_root(persons)
    template = build_node(root, persons)
    samples = [one_run(template, root / "keyservice-run") for _ in range(runs)]
    med = {name: statistics.median(s[name][0] for s in samples)
           for name in ("legacy", "first", "second", "again")}
    legacy_s, first_s, second_s, again_s = (med[n] for n in ("legacy", "first", "second",
                                                              "again"))
    first, second, legacy = (samples[-1][n][1] for n in ("first", "second", "legacy"))
    evaluations = int(samples[-1]["evaluations"][1])  # type: ignore[call-overload]
    tokens = first.summary["tokens"]  # type: ignore[attr-defined]
    assert second.summary["tokens"] == tokens == legacy.summary["tokens"]  # type: ignore[attr-defined]
    report("bench_keyservice", {
        "persons": persons, "tokens": tokens, "evaluations": evaluations, "runs": runs,
        "first_runs_s": "/".join(f"{s['first'][0]:.3g}" for s in samples),
        "second_runs_s": "/".join(f"{s['second'][0]:.3g}" for s in samples),
        "load_avg_1m": load_avg(),
        "legacy_share_s": legacy_s, "legacy_again_s": again_s,
        "keyservice_first_s": first_s, "keyservice_second_s": second_s,
        "first_tokens_per_s": tokens / first_s, "second_tokens_per_s": tokens / second_s,
        "evaluations_per_s": evaluations / first_s,
        "first_over_legacy": first_s / legacy_s, "peak_rss_mb": peak_rss_mb(),
    }, ratio=second_s / again_s,
        ratio_meaning="repeat share through the key service (node cache) / legacy HMAC share "
                      "(refs reused in both), medians of fresh runs",
        target="first share of a 100,000-person force < 180 s; repeat share <= 1.5x legacy")


if __name__ == "__main__":
    main()
