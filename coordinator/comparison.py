"""Comparisons: what agreeing match keys say about each person field, Splink-style levels.

A match key's token kind names the fields it joins (``mk:fn+sn+ym``). When that key
agrees, each of its fields agrees at the level the field implies (``fn`` exact, ``fn_mp``
phonetic, ``ym`` year and month of birth...). Scoring fields rather than keys matters: one
surname typo breaks every key that holds the surname, and counting each broken key as
fresh evidence would sink a true pair. So keys are first turned back into per-field
levels — the best level any agreeing key proves — and Fellegi–Sunter weighs those.

A field counts as compared when both references carry some key holding it; compared but
proven by no agreeing key = "else" (disagrees, or agrees where no key can show it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from coordinator.settings import MATCH_KEY_PREFIX


@dataclass(frozen=True)
class Comparison:
    """One person field compared in levels, best first; each level = key fields proving it."""

    name: str
    levels: tuple[tuple[str, frozenset[str]], ...]

    @property
    def labels(self) -> tuple[str, ...]:
        return (*(label for label, _ in self.levels), "else")

    @property
    def fields(self) -> frozenset[str]:
        return frozenset().union(*(f for _, f in self.levels))


def _c(name: str, *levels: tuple[str, set[str]]) -> Comparison:
    return Comparison(name, tuple((label, frozenset(f)) for label, f in levels))


COMPARISONS: tuple[Comparison, ...] = (
    _c("given_name", ("exact", {"fn"}), ("swapped", {"nm"}), ("phonetic", {"fn_mp", "fn_ny"}),
       ("initial", {"fi"})),
    # a swap of given and family name is one event: the given-name comparison scores it
    _c("family_name", ("exact", {"sn", "nm"}), ("phonetic", {"sn_mp", "sn_ny"})),
    _c("dob", ("exact", {"dob"}), ("day_month_swapped", {"dob_dm"}),
       ("year_month", {"ym"}), ("month_day", {"md"}), ("year", {"yob"})),
    _c("postcode", ("exact", {"pc"})),
    _c("street", ("exact", {"street"})),
    _c("house_number", ("exact", {"st_no"})),
    _c("locality", ("exact", {"loc"})),
)


def key_fields(token_kind: str) -> frozenset[str]:
    """``mk:fn+sn+ym`` → {fn, sn, ym}."""
    return frozenset(token_kind.removeprefix(MATCH_KEY_PREFIX).split("+"))


def mask_bits(masks: np.ndarray, n_kinds: int) -> np.ndarray:
    return ((masks[:, None] >> np.arange(n_kinds, dtype=np.int64)[None, :]) & 1).astype(bool)


def field_levels(kinds: Sequence[str], agree_mask: np.ndarray, has_a: np.ndarray,
                 has_b: np.ndarray,
                 comparisons: Sequence[Comparison] = COMPARISONS) -> np.ndarray:
    """Level index per comparison for each pattern: 0 = best level ... len(levels) = else,
    -1 = not compared (missing on one side). Shape (patterns, comparisons), int8."""
    k = len(kinds)
    fields = [key_fields(kind) for kind in kinds]
    agree = mask_bits(agree_mask.astype(np.int64), k)
    on_a = mask_bits(has_a.astype(np.int64), k) | agree
    on_b = mask_bits(has_b.astype(np.int64), k) | agree
    out = np.empty((len(agree_mask), len(comparisons)), dtype=np.int8)
    for ci, comp in enumerate(comparisons):
        holds = np.array([bool(f & comp.fields) for f in fields], dtype=bool)
        compared = (on_a & holds).any(1) & (on_b & holds).any(1)
        level = np.full(len(agree_mask), len(comp.levels), dtype=np.int8)
        for li in range(len(comp.levels) - 1, -1, -1):  # best level last, so it wins
            proves = np.array([bool(f & comp.levels[li][1]) for f in fields], dtype=bool)
            level[(agree & proves).any(1)] = li
        level[~compared] = -1
        out[:, ci] = level
    return out
