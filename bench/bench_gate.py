"""Bench: the policy gate on the share set of a large force (100,000 persons).

Baseline, measured in the same run: making the same number of tokens with the federation
Tokeniser (the bare token benchmark). The ratio says how much the gate adds to egress on
top of tokenising; the issue's egress budget for this force is 10 s in all. Medians of
``--runs`` (default 3) runs, gate and baseline interleaved.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import interleaved, load_avg, peak_rss_mb, report, runs_arg  # noqa: E402
from federation.payload import ShareSet  # noqa: E402
from federation.tokens import Tokeniser  # noqa: E402
from policies.gate import gate  # noqa: E402
from policies.model import default_policy  # noqa: E402
from policies.national_tables import cell_json  # noqa: E402

PERSONS = 100_000
PHONES = 150_000
EMAILS = 30_000
MATCH_KEYS = 4
CO_SUSPECT = 50_000
COMMUNICATION = 200_000
REF = pa.binary(16)


def binary16(data: bytes | np.ndarray, n: int) -> pa.Array:
    """n 16-byte values from one contiguous buffer, without a Python loop."""
    return pa.FixedSizeBinaryArray.from_buffers(REF, n, [None, pa.py_buffer(bytes(data))])


def refs(rng: np.random.Generator, n: int) -> pa.Array:
    return binary16(rng.bytes(16 * n), n)


def build(policy, tokeniser: Tokeniser) -> tuple[ShareSet, int]:
    rng = np.random.default_rng(5)
    roles = np.array(["suspect", "offender", "facilitator", "victim"])
    person_role = roles[rng.choice(4, PERSONS, p=[0.5, 0.25, 0.1, 0.15])]
    item_ref = refs(rng, PERSONS + PHONES + EMAILS)
    kinds = np.array(["person"] * PERSONS + ["phone"] * PHONES + ["email"] * EMAILS)
    owner = np.concatenate([np.arange(PERSONS), rng.integers(0, PERSONS, PHONES + EMAILS)])
    role = person_role[owner]
    categories = np.array(["cse", "group"])[rng.integers(0, 2, PERSONS + PHONES + EMAILS)]
    category = np.where((kinds == "person") & (role != "victim"), categories, None)
    items = pa.table({"ref": item_ref, "kind": kinds, "role": role,
                      "offence_category": pa.array(category.tolist(), pa.string())})

    values = {"phone": [f"+4477009{i:06d}" for i in range(PHONES)],
              "email": [f"user{i}@example.com" for i in range(EMAILS)]}
    mk = [f"name{i % 90_000}|{1960 + i % 45}-01-01|{k}" for k in range(MATCH_KEYS)
          for i in range(PERSONS)]
    token_parts = [("mk:fn+sn+dob", mk, np.tile(np.arange(PERSONS), MATCH_KEYS)),
                   ("phone", values["phone"], PERSONS + np.arange(PHONES)),
                   ("email", values["email"], PERSONS + PHONES + np.arange(EMAILS))]
    tokens = pa.concat_tables([
        pa.table({"ref": item_ref.take(pa.array(idx)),
                  "token_kind": pa.array([kind] * len(vals)),
                  "token": binary16(tokeniser.tokens(kind, vals).tobytes(), len(vals))})
        for kind, vals, idx in token_parts])

    shown = np.flatnonzero(role[:PERSONS] != "victim")
    phone_shown = PERSONS + np.flatnonzero(role[PERSONS:PERSONS + PHONES] != "victim")
    ident = np.arange(PERSONS, PERSONS + PHONES + EMAILS)
    pairs = [
        (owner[ident], ident, "person_identifier"),
        (rng.choice(shown, CO_SUSPECT), rng.choice(shown, CO_SUSPECT), "co_suspect"),
        (rng.choice(phone_shown, COMMUNICATION), rng.choice(phone_shown, COMMUNICATION),
         "communication"),
    ]
    a = np.concatenate([p[0] for p in pairs])
    b = np.concatenate([p[1] for p in pairs])
    kind = np.concatenate([[p[2]] * len(p[0]) for p in pairs])
    # drop self-links and links into a victim's network (egress never builds them)
    victim = role == "victim"
    keep = (a != b) & ~((victim[a] | victim[b]) & (kind != "person_identifier"))
    keep &= ~(victim[a] ^ victim[b])
    links = pa.table({"ref_a": item_ref.take(pa.array(a[keep])),
                      "ref_b": item_ref.take(pa.array(b[keep])),
                      "kind": pa.array(kind[keep]),
                      "weight": pa.array(rng.integers(1, 300, keep.sum()), pa.int32())})

    cells = [(r, str(y)) for r in ("suspect", "offender", "facilitator")
             for y in range(2010, 2026)]  # a national table: persons by role and year
    aggregates = pa.table({
        "name": ["persons_by_role_year"] * len(cells),
        "cell": [cell_json(("role", "year"), cell) for cell in cells],
        "count": pa.array(rng.negative_binomial(2, 0.05, len(cells)), pa.int64())})
    share = ShareSet(force="Bench Force", purpose=policy.purpose.code, epoch=1,
                     policy_hash=policy.version, items=items, tokens=tokens, links=links,
                     aggregates=aggregates)
    return share, sum(len(p[1]) for p in token_parts)


def main() -> None:
    runs = runs_arg()
    policy = default_policy("cse-national")
    tokeniser = Tokeniser(bytes(range(32)))
    share, n_tokens = build(policy, tokeniser)
    values = [f"+4477{i:08d}" for i in range(n_tokens)]
    m = interleaved({
        "tokenise": lambda: Tokeniser(bytes(range(1, 33))).tokens("phone", values),
        "gate": lambda: gate(policy, share)}, runs)
    report("bench_gate", {
        "items": share.items.num_rows, "tokens": share.tokens.num_rows,
        "links": share.links.num_rows, "runs": runs, "gate_s": m["gate"].wall,
        "tokenise_s": m["tokenise"].wall, "gate_runs_s": m["gate"].runs_text(),
        "tokenise_runs_s": m["tokenise"].runs_text(), "peak_rss_mb": peak_rss_mb(),
        "load_avg_1m": load_avg(),
    }, m["gate"].wall / m["tokenise"].wall,
        "gate time / time to tokenise the same number of values, medians, interleaved",
        target="gate well inside the 10 s egress budget for 100,000 persons")
    assert m["gate"].result.items.num_rows == share.items.num_rows


if __name__ == "__main__":
    main()
