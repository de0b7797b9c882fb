"""The privacy-preserving linkage a force could use instead: clkhash CLKs + anonlink.

Run by ``bench_febrl_real_path`` in an interpreter of its own: clkhash 0.18 pins
``cryptography<41`` and Flower 1.42 needs ``cryptography>=50``, so the two cannot share one
environment. Make it once with::

    python -m venv .venv-anonlink && .venv-anonlink/bin/pip install clkhash anonlink

Each force's records (``bench.real_path``'s common layout, as CSV) become 1024-bit Bloom
filters (CLKs) of name, address and date-of-birth bigrams under a shared secret — the
schema of anonlink's FEBRL tutorial; then anonlink compares every pair by Dice
coefficient (no blocking, as the tutorial) and ``greedy_solve`` keeps one-to-one matches
above THRESHOLD. Prints one JSON line: the matched (A, B) record ids and the seconds and
CPU seconds of each step.

    python bench/anonlink_baseline.py A.csv B.csv [--threshold 0.8]
"""

from __future__ import annotations

import csv
import json
import sys
import time

THRESHOLD = 0.8
FIELDS = ("given_name", "surname", "street_number", "address_1", "address_2", "city",
          "postcode", "dob")
#: bits per bigram by field (anonlink's FEBRL tutorial: more for names and DOB)
WEIGHTS = {"given_name": 30, "surname": 30, "street_number": 15, "address_1": 15,
           "address_2": 15, "city": 15, "postcode": 15, "dob": 30}


def schema() -> object:
    from clkhash.schema import from_json_dict

    features = [{"identifier": "record_id", "ignored": True}]
    for field in FIELDS:
        features.append({
            "identifier": field,
            "format": {"type": "string", "encoding": "utf-8", "case": "lower"},
            "hashing": {"comparison": {"type": "ngram", "n": 2},
                        "strategy": {"bitsPerToken": WEIGHTS[field]},
                        "hash": {"type": "doubleHash"}, "missingValue": {"sentinel": ""}}})
    return from_json_dict({
        "version": 3,
        "clkConfig": {"l": 1024, "kdf": {"type": "HKDF", "hash": "SHA256",
                                          "salt": "Y3Jvc3Nmb3JjZS1iZW5jaA==",
                                          "info": "", "keySize": 64}},
        "features": features})


def read(path: str) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [[row["record_id"], *((row.get(field) or "").strip().lower() for field in FIELDS)]
            for row in rows]


def main(argv: list[str]) -> int:
    import anonlink
    from clkhash.clk import generate_clks

    threshold = float(argv[argv.index("--threshold") + 1]) if "--threshold" in argv else THRESHOLD
    a_path, b_path = argv[0], argv[1]
    seconds: dict[str, float] = {}
    cpu: dict[str, float] = {}
    t0, c0 = time.perf_counter(), time.process_time()
    a, b = read(a_path), read(b_path)
    s = schema()
    clks = [generate_clks(rows, s, "a shared linkage secret", validate=False, max_workers=1)
            for rows in (a, b)]
    seconds["encode"], cpu["encode"] = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    candidates = anonlink.candidate_generation.find_candidate_pairs(
        clks, anonlink.similarities.dice_coefficient, threshold)
    groups = anonlink.solving.greedy_solve(candidates)
    seconds["match"], cpu["match"] = time.perf_counter() - t0, time.process_time() - c0
    pairs = []
    for group in groups:
        members = dict(group)  # dataset index -> record index
        if 0 in members and 1 in members:
            pairs.append((a[members[0]][0], b[members[1]][0]))
    print(json.dumps({"pairs": pairs, "seconds": seconds, "cpu": cpu,
                      "threshold": threshold, "records": [len(a), len(b)]}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
