"""Phone tokens per second from RAW strings (normalise + token) vs a bare pre-keyed hmac loop.

Data: 1 M phone values drawn from 200 k distinct GB mobile numbers, each occurrence written
in one of the usual forms (07…, +44 7…, 0044 7…, (0)7…, with spaces, dashes, dots) — the
repetition a set of seized-phone extractions shows. The baseline hashes the SAME 1 M values,
already normalised to bytes, with a pre-keyed ``hmac`` loop on one core, in the same run.

Targets (issue 4): ≥ 0.5× the bare loop per core, ≥ 1.0× overall using both cores.
Run: ``.venv/bin/python bench/bench_tokens.py`` (≈ 30 s).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import report, timed  # noqa: E402
from federation.keys import LinkageSecret  # noqa: E402
from federation.normalise import _parse_e164, _valid_44  # noqa: E402
from federation.tokens import Tokeniser  # noqa: E402

N_VALUES = 1_000_000
N_DISTINCT = 200_000
FORMS = (
    "0{a} {b}", "0{a}{b}", "+44 {a} {b}", "+44{a}{b}", "0044 {a} {b}", "+44 (0){a} {b}",
    "(0){a}-{b3}-{b4}", "0{a}.{b3}.{b4}", "0{a}-{b}",
)


def make_values(rng: np.random.Generator) -> tuple[list[str], list[str]]:
    """(raw written values, their E.164 forms), same order."""
    candidates = [f"7{p}{r:08d}" for p, r in zip(rng.choice(["4", "5", "9"], 2 * N_DISTINCT),
                                                 rng.integers(0, 10**8, 2 * N_DISTINCT),
                                                 strict=True)]
    valid = _valid_44(pa.array(candidates))  # keep numbers in allocated mobile ranges
    nsn = [c for c, ok in zip(candidates, valid.tolist(), strict=True) if ok][:N_DISTINCT]
    pick = rng.integers(0, N_DISTINCT, N_VALUES)
    form = rng.integers(0, len(FORMS), N_VALUES)
    # most numbers are written one way within one extraction: 80 % in their "home" form
    home = rng.integers(0, len(FORMS), N_DISTINCT)
    form = np.where(rng.random(N_VALUES) < 0.8, home[pick], form)
    raw, e164 = [], []
    for i, f in zip(pick.tolist(), form.tolist(), strict=True):
        n = nsn[i]
        a, b = n[:4], n[4:]
        raw.append(FORMS[f].format(a=a, b=b, b3=b[:3], b4=b[3:]))
        e164.append("+44" + n)
    return raw, e164


def main() -> None:
    rng = np.random.default_rng(4)
    raw, e164 = make_values(rng)
    key = LinkageSecret(bytes(range(32))).derive("bench", 1)
    tokeniser = Tokeniser(key)
    messages = [b"phone\x1f" + v.encode() for v in e164]

    def bare_digest() -> None:
        for m in messages:
            hmac.digest(key, m, "sha256")

    pre = hmac.new(key, digestmod=hashlib.sha256)

    def bare_copy() -> None:
        for m in messages:
            h = pre.copy()
            h.update(m)
            h.digest()

    t_digest, _ = timed(bare_digest)
    t_copy, _ = timed(bare_copy)
    t_bare = min(t_digest, t_copy)  # the faster bare loop is the baseline

    def ours(t: Tokeniser) -> tuple[np.ndarray, np.ndarray]:
        _parse_e164.cache_clear()  # no help from an earlier run's cache
        return t.tokens_from_raw("phone", raw)

    one_core = Tokeniser(key, threads=1)
    t_one, _ = timed(lambda: ours(one_core), repeat=2)
    t_ours, (tokens, ok) = timed(lambda: ours(tokeniser), repeat=2)
    assert ok.all(), "every bench value is a valid number"
    # spot-check byte identity with hmac.digest on the normalised value
    for i in rng.integers(0, N_VALUES, 100).tolist():
        assert tokens[i].tobytes() == hmac.digest(key, messages[i], "sha256")[:16]

    bare_rate, ours_rate, one_rate = N_VALUES / t_bare, N_VALUES / t_ours, N_VALUES / t_one
    ratio = ours_rate / bare_rate
    report(
        "bench_tokens",
        {"values": N_VALUES, "distinct_numbers": N_DISTINCT,
         "distinct_written": len(set(raw)),
         "bare_hmac_per_s_1core": bare_rate, "raw_to_token_per_s_1core": one_rate,
         "raw_to_token_per_s_all_cores": ours_rate, "ratio_1core": one_rate / bare_rate,
         "ratio_per_core": ratio / (os.cpu_count() or 1)},
        ratio,
        "raw phone strings → tokens (normalise + HMAC, all cores) / bare pre-keyed hmac loop "
        "over normalised bytes (1 core)",
        target="≥ 1.0 overall, ≥ 0.5 per core",
    )


if __name__ == "__main__":
    main()
