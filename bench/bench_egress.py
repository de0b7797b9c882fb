"""Egress of one 100,000-person force vs bare tokenisation of as many values, same run.

Data: one force from ``scenario.generate`` (100,000 persons, seed 1), loaded
with ``node init`` + ``node ingest`` (cached in ``$CROSSFORCE_BENCH_DIR`` or
/tmp/crossforce-bench-egress, so a re-run skips generation and ingest).

Measured: ``node.egress.egress`` writing a signed payload (scope, refs, DuckDB tokens,
match keys, links, aggregates, gate, seal, ledger — one transaction), first under the
default policy 'cse-national' on a fresh copy of the node (every ref is new), again (refs
reused), and under a permissive policy that puts every non-victim role and every crime in scope.
Baseline: ``Tokeniser.tokens`` over as many distinct values as the permissive payload
holds tokens, in the same run.

Medians of ``--runs`` (default 3) runs, each on a fresh copy of the node, interleaved with
the baseline. ``--persons N`` benches another size (its own cached force).

Target (issue 5): egress of the 100,000-person force under 10 s.
Run: ``.venv/bin/python bench/bench_egress.py [--persons N] [--runs N]`` (≈ 2–4 min the
first time, mostly generation).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import interleaved, load_avg, peak_rss_mb, report, runs_arg  # noqa: E402
from federation.cli import main as crossforce  # noqa: E402
from federation.keys import LinkageSecret  # noqa: E402
from federation.tokens import Tokeniser  # noqa: E402
from node.egress import egress  # noqa: E402
from policies.model import parse_policy  # noqa: E402

PERSONS = 100_000
PERMISSIVE = """
[purpose]
code = "BENCH-ALL"
lawful_basis = "Benchmark only: every role but victims, every crime."

[share]
roles = ["suspect", "offender", "facilitator", "witness", "reporting_person", "associate"]
attributes = ["offence_category", "crime_year", "sex", "age_band"]

[links]
kinds = ["person_identifier", "co_suspect", "communication", "shared_address",
         "shared_vehicle"]

[aggregates]
dimensions = ["offence_category", "year", "role", "ethnicity", "nationality", "outcome_code"]
"""


def _run(*args: object) -> None:
    code = crossforce([str(a) for a in args])
    if code:
        raise SystemExit(f"crossforce {' '.join(map(str, args))} exited {code}")


def bench_root(persons: int) -> Path:
    """The cache folder for a force of ``persons`` (``$CROSSFORCE_BENCH_DIR``, else under
    the system temp folder; a size other than the default gets its own folder)."""
    base = Path(os.environ.get("CROSSFORCE_BENCH_DIR", "/tmp/crossforce-bench-egress"))
    root = base if persons == PERSONS else base.with_name(f"{base.name}-{persons}")
    root.mkdir(parents=True, exist_ok=True)
    return root


def persons_arg() -> int:
    """``--persons N`` (default 100,000) from the command line."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=PERSONS)
    return parser.parse_args().persons


def build_node(root: Path, persons: int = PERSONS) -> Path:
    import node.cli
    from node.egress_cli import register

    register(node.cli.app)
    node_dir = root / "node"
    if (node_dir / "node.toml").exists():
        return node_dir
    from scenario.generate import generate

    scenario = root / "scenario"
    if not scenario.exists():
        generate(scenario, forces=1, persons_per_force=persons, seed=1)
    force = next(p for p in sorted(scenario.iterdir()) if p.name != "truth")
    _run("node", "init", "--force", force.name, "--dir", node_dir)
    _run("node", "ingest", "--dir", node_dir, force)
    secret = root / "linkage_secret.json"
    if not secret.exists():
        LinkageSecret.generate().save(secret)
    _run("node", "keys", "import-secret", "--dir", node_dir, secret)
    return node_dir


def main() -> None:
    runs = runs_arg()
    persons = persons_arg()
    root = bench_root(persons)
    template = build_node(root, persons)
    node_dir = root / "run"  # a fresh copy each run: the first egress makes every ref
    out = root / "payload.cfsub"

    def fresh_copy() -> None:
        if node_dir.exists():
            shutil.rmtree(node_dir)
        shutil.copytree(template, node_dir)

    permissive = parse_policy(PERMISSIVE)
    fresh_copy()  # the permissive payload's token count sizes the baseline
    n_tokens = egress(node_dir, policy=permissive, dry_run=True).summary["tokens"]
    values = [f"+4477{i:08d}" for i in range(n_tokens)]
    tokeniser = Tokeniser(bytes(range(32)))
    m = interleaved({
        "copy": fresh_copy,
        "first": lambda: egress(node_dir, out=out),
        "again": lambda: egress(node_dir, out=out),
        "wide": lambda: egress(node_dir, policy=permissive, out=out),
        "dry": lambda: egress(node_dir, policy=permissive, dry_run=True),
        "bare": lambda: tokeniser.tokens("phone", values)}, runs)
    first, wide = m["first"].result, m["wide"].result
    first_s, again_s, wide_s = m["first"].wall, m["again"].wall, m["wide"].wall
    dry_s, bare_s = m["dry"].wall, m["bare"].wall
    assert wide.summary["tokens"] == n_tokens

    report("bench_egress", {
        "persons": persons, "runs": runs,
        "default_items": first.summary["items"], "default_tokens": first.summary["tokens"],
        "default_links": first.summary["links"],
        "default_first_s": first_s, "default_again_s": again_s,
        "wide_items": wide.summary["items"], "wide_tokens": n_tokens,
        "wide_links": wide.summary["links"], "wide_payload_mb": len(wide.payload) / 1e6,
        "wide_s": wide_s, "wide_dry_run_s": dry_s,
        "bare_tokens_s": bare_s, "wide_runs_s": m["wide"].runs_text(),
        "bare_runs_s": m["bare"].runs_text(), "default_first_runs_s": m["first"].runs_text(),
        "peak_rss_mb": peak_rss_mb(), "load_avg_1m": load_avg(),
    }, ratio=wide_s / bare_s,
        ratio_meaning="permissive-policy egress (build, tokens, match keys, links, gate, seal, "
                      "ledger) / bare Tokeniser over as many values, medians, interleaved",
        target="egress of a 100,000-person force < 10 s")


if __name__ == "__main__":
    main()
