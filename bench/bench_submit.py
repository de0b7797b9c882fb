"""Coordinator ingest: one force's payload verified and stored, against a bare insert.

A synthetic share set — N persons with 15 match-key tokens each, one phone per person,
person→phone and co-suspect links — is sealed (node side, not timed), then
`coordinator.submit.submit_payload` takes the bytes: size and format checks, Ed25519
signature, SHA-256 content hash, Arrow decode, consistency checks, the inserts and the
ledger entry, in one transaction, to a DuckDB file on disk.
Baseline, same run: a bare DuckDB INSERT of the same four Arrow tables into a fresh file.

Run: .venv/bin/python bench/bench_submit.py [--persons N]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.harness import interleaved, load_avg, peak_rss_mb, report, runs_arg  # noqa: E402
from coordinator.registry import register_force  # noqa: E402
from coordinator.store import init_store, open_existing  # noqa: E402
from coordinator.submit import submit_payload  # noqa: E402
from federation.keys import Signer  # noqa: E402
from federation.matchkeys import DEFAULT_KEYS, MATCH_KEY_PREFIX  # noqa: E402
from federation.payload import (  # noqa: E402
    AGGREGATES_SCHEMA,
    LINKS_SCHEMA,
    TOKENS_SCHEMA,
    ShareSet,
    Submission,
)
from policies.national_tables import cell_json  # noqa: E402

KEYS_PER_PERSON = 15
REF = pa.binary(16)


def _binary(rng: np.random.Generator, n: int) -> pa.Array:
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    return pa.FixedSizeBinaryArray.from_buffers(REF, n, [None, pa.py_buffer(raw.tobytes())])


def share_set(persons: int, seed: int = 7) -> ShareSet:
    rng = np.random.default_rng(seed)
    person_refs, phone_refs = _binary(rng, persons), _binary(rng, persons)
    items = pa.table({
        "ref": pa.concat_arrays([person_refs, phone_refs]),
        "kind": pa.array(["person"] * persons + ["phone"] * persons),
        "role": pa.array(["suspect"] * (2 * persons)),
        "offence_category": pa.array(["cse"] * (2 * persons)),
    })
    idx = np.repeat(np.arange(persons), KEYS_PER_PERSON)
    names = [f"{MATCH_KEY_PREFIX}{k.name}" for k in DEFAULT_KEYS[:KEYS_PER_PERSON]]
    kinds = np.tile(np.array(names), persons)
    tokens = pa.concat_tables([
        pa.table({"ref": person_refs.take(pa.array(idx)), "token_kind": pa.array(kinds),
                  "token": _binary(rng, len(idx))}, schema=TOKENS_SCHEMA),
        pa.table({"ref": phone_refs, "token_kind": pa.array(["phone"] * persons),
                  "token": _binary(rng, persons)}, schema=TOKENS_SCHEMA)])
    partners = pa.array(rng.permutation(persons))
    links = pa.concat_tables([
        pa.table({"ref_a": person_refs, "ref_b": phone_refs,
                  "kind": pa.array(["person_identifier"] * persons),
                  "weight": pa.array(np.ones(persons, dtype=np.int32))}, schema=LINKS_SCHEMA),
        pa.table({"ref_a": person_refs, "ref_b": person_refs.take(partners),
                  "kind": pa.array(["co_suspect"] * persons),
                  "weight": pa.array(np.ones(persons, dtype=np.int32))}, schema=LINKS_SCHEMA)])
    aggregates = pa.table({"name": ["persons_by_role_year"],
                           "cell": [cell_json(("role", "year"), ("suspect", "2025"))],
                           "count": pa.array([25], pa.int64())}, schema=AGGREGATES_SCHEMA)
    return ShareSet("Benchshire", "bench", 1, "policy-bench", items, tokens, links, aggregates)


def bare_insert(share: ShareSet, path: Path) -> None:
    con = duckdb.connect(str(path))
    try:
        for name in ("items", "tokens", "links", "aggregates"):
            con.register("_t", getattr(share, name))
            con.execute(f"CREATE TABLE {name} AS SELECT * FROM _t")
            con.unregister("_t")
    finally:
        con.close()


def main() -> None:
    runs = runs_arg()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=200_000)
    args = parser.parse_args()
    share = share_set(args.persons)
    signer = Signer.generate()
    data = Submission.seal(share, signer).to_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folders = iter([root / f"coordinator-{i}" for i in range(runs)])
        for folder in [root / f"coordinator-{i}" for i in range(runs)]:  # made untimed
            store = init_store(folder)
            register_force(store.con, store.ledger, share.force, signer.public_key)
            store.close()

        def ingest() -> None:  # a fresh coordinator each run (a payload is taken once)
            s = open_existing(next(folders))
            try:
                submit_payload(s, data)
            finally:
                s.close()

        bare = iter(range(10**6))
        m = interleaved({"bare": lambda: bare_insert(share, root / f"bare-{next(bare)}.duckdb"),
                         "submit": ingest}, runs)
        submit_s, baseline_s = m["submit"].wall, m["bare"].wall
    counts = share.counts()
    report("bench_submit", {
        "persons": args.persons, "tokens": counts["tokens"], "items": counts["items"],
        "links": counts["links"], "payload_mb": len(data) / 1e6, "submit_s": submit_s,
        "bare_insert_s": baseline_s, "tokens_per_s": counts["tokens"] / submit_s,
        "runs": runs, "submit_runs_s": m["submit"].runs_text(),
        "bare_runs_s": m["bare"].runs_text(), "peak_rss_mb": peak_rss_mb(),
        "load_avg_1m": load_avg()},
        submit_s / baseline_s,
        "verified transactional submit (signature, hash, decode, checks, insert, ledger) / "
        "bare DuckDB insert of the same Arrow tables, medians, interleaved", target="≤ 3×")


if __name__ == "__main__":
    main()
