"""Node-side resolution speed: `node resolve` on a generated force against a bare Splink run.

Target (issue 11): a 100,000-person force resolves in under 60 s on 2 cores. Quality is
printed too: within-force pairwise precision / recall / F1 against the scenario's truth,
for both. Baseline, in
the same run on the same records: Splink's own tutorial set-up (names, date of birth and
postcode compared with standard comparisons, the same kind of training) straight on a
DuckDB table — what an analyst who knows Splink would write. Ratio = baseline s / product
s (the product also normalises names, builds nickname lists, applies decisions, clusters
and stores the result with its ledger entry).

    .venv/bin/python bench/bench_resolution.py [--persons 100000] [--repeat 1]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import load_avg, peak_rss_mb, report, runs_arg  # noqa: E402


def _cli(*args: object) -> None:
    subprocess.run([sys.executable, "-m", "federation.cli", *map(str, args)], check=True,
                   stdout=subprocess.DEVNULL)


def build_force(root: Path, persons: int) -> Path:
    _cli("scenario", "generate", "--forces", 1, "--persons-per-force", persons, "--seed", 11,
         "--out", root / "scenario")
    (force,) = [p for p in (root / "scenario").iterdir() if p.name != "truth"]
    node = root / "node"
    _cli("node", "init", "--force", force.name, "--dir", node)
    # large tables are written as Parquet: take each table in whichever form it has
    _cli("node", "ingest", "--dir", node,
         *(f for t in ("persons", "addresses", "identifiers") for f in force.glob(f"{t}.*")))
    return node


def pairwise(con: duckdb.DuckDBPyConnection, truth: Path, clusters: str
             ) -> tuple[float, float, float]:
    """Within-force pairwise precision, recall, F1 of `clusters(person_id, cluster)`
    against the scenario's truth (real_id per record)."""
    con.execute(f"CREATE OR REPLACE TEMP VIEW truth AS SELECT person_id, real_id "
                f"FROM read_csv('{truth}')")
    tp, fp, fn = con.execute(f"""
        WITH j AS (SELECT c.person_id, c.cluster, t.real_id FROM ({clusters}) c
                   JOIN truth t USING (person_id)),
        pairs AS (SELECT a.cluster = b.cluster AS found, a.real_id = b.real_id AS real
                  FROM j a JOIN j b ON a.person_id < b.person_id
                   AND (a.cluster = b.cluster OR a.real_id = b.real_id))
        SELECT count(*) FILTER (WHERE found AND real), count(*) FILTER (WHERE found AND NOT
               real), count(*) FILTER (WHERE real AND NOT found) FROM pairs""").fetchall()[0]
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def product(node: Path, truth: Path) -> tuple[float, float, int, int, tuple[float, ...]]:
    """Wall and CPU seconds of `resolve` (in this process), records, persons, quality."""
    from node.resolution import resolve
    from node.store import open_store

    with open_store(node) as (config, con):
        t0, c0 = time.perf_counter(), time.process_time()
        report_ = resolve(con, config.keys_dir, config.force)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        quality = pairwise(con, truth, "SELECT person_id, local_person AS cluster "
                                       "FROM person_resolution")
        return wall, cpu, report_.records, report_.persons, quality


def baseline(node: Path, truth: Path) -> tuple[float, float, tuple[float, ...]]:
    """Splink's tutorial set-up on the same records, read straight from the store."""
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    con = duckdb.connect()
    con.execute(f"ATTACH '{node / 'node.duckdb'}' AS store (READ_ONLY)")
    con.execute("""CREATE TABLE people AS
        SELECT p.person_id, lower(split_part(p.given_names, ' ', 1)) AS first_name,
               lower(p.family_name) AS surname, CAST(p.dob AS VARCHAR) AS dob,
               any_value(a.postcode) AS postcode
        FROM store.persons p LEFT JOIN store.addresses a USING (person_id)
        GROUP BY ALL""")
    con.execute("DETACH store")
    t0, c0 = time.perf_counter(), time.process_time()
    settings = SettingsCreator(
        link_type="dedupe_only", unique_id_column_name="person_id",
        comparisons=[cl.NameComparison("first_name").configure(term_frequency_adjustments=True),
                     cl.NameComparison("surname").configure(term_frequency_adjustments=True),
                     cl.DateOfBirthComparison("dob", input_is_string=True),
                     cl.PostcodeComparison("postcode")],
        blocking_rules_to_generate_predictions=[block_on("first_name", "dob"),
                                                block_on("surname", "dob"),
                                                block_on("first_name", "surname"),
                                                block_on("postcode", "surname")])
    linker = Linker(DuckDBAPI(con).register("people"), settings, log_level=None)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("first_name", "surname", "dob")], recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=5e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("dob"))
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("first_name", "surname"))
    pred = linker.inference.predict(threshold_match_probability=0.2)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(pred, 0.5)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    quality = pairwise(con, truth, f"SELECT person_id, cluster_id AS cluster "
                                   f"FROM {clusters.physical_name}")
    return wall, cpu, quality


def main() -> None:
    runs = runs_arg()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, default=100_000)
    args = ap.parse_args()
    ours: list[tuple[float, float]] = []
    theirs: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        node = build_force(Path(tmp), args.persons)
        truth = Path(tmp) / "scenario" / "truth" / "persons.csv"
        for _ in range(runs):  # interleaved: the same load falls on both
            wall, cpu, records, persons, (p, r, f1) = product(node, truth)
            ours.append((wall, cpu))
            base_wall, base_cpu, (bp, br, bf1) = baseline(node, truth)
            theirs.append((base_wall, base_cpu))
    wall, cpu = (statistics.median(x[i] for x in ours) for i in (0, 1))
    base_wall, base_cpu = (statistics.median(x[i] for x in theirs) for i in (0, 1))
    report("bench_resolution", {
        "records": records, "resolved_persons": persons, "runs": runs,
        "resolve_s": wall, "resolve_cpu_s": cpu, "splink_tutorial_s": base_wall,
        "splink_tutorial_cpu_s": base_cpu,
        "resolve_runs_s": "/".join(f"{w:.3g}" for w, _ in ours),
        "splink_runs_s": "/".join(f"{w:.3g}" for w, _ in theirs),
        "P": p, "R": r, "F1": f1, "splink_P": bp,
        "splink_R": br, "splink_F1": bf1, "load_avg_1m": load_avg(),
        "peak_rss_mb": peak_rss_mb()},
        base_wall / wall, "bare Splink tutorial s / node resolve s, same records, medians, "
        "interleaved", "100k persons < 60 s")


if __name__ == "__main__":
    main()
