"""Night-time contact: the window, and whether a pair's night share is unusually high.

A pair's night share is tested against its subject's *other* contact (leave-one-out: a
pair that is mostly night-time must not raise its own baseline): with n events of which k
at night, and the subject's other events at night share p0, the one-sided binomial p-value
is P(X >= k), X ~ Binomial(n, p0). A subject with many pairs gives some small p-values by
chance, so p-values are Holm-corrected over the subject's pairs (family-wise error rate at
--alpha; Holm rejects everything Bonferroni does, and sometimes more).
"""

from __future__ import annotations

import re

import numpy as np
from scipy.stats import binom

from federation.errors import CrossforceError

_WINDOW = re.compile(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})")


def parse_window(text: str) -> tuple[int, int]:
    """``22:00-06:00`` → (start, end) in minutes after midnight; the end is excluded."""
    m = _WINDOW.fullmatch(text.strip())
    if not m:
        raise CrossforceError(f"--night {text!r}: write the window as HH:MM-HH:MM, "
                              "e.g. 22:00-06:00")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
        raise CrossforceError(f"--night {text!r}: not a time of day (00:00 to 24:00)")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if start == end % 1440:
        raise CrossforceError(f"--night {text!r}: the window is empty; e.g. 22:00-06:00")
    return start, end


def window_sql(column: str, window: tuple[int, int]) -> str:
    """A SQL condition: ``column`` (a local TIMESTAMP) falls in the window."""
    start, end = window
    minute = f"(hour({column}) * 60 + minute({column}))"
    if start < end:
        return f"({minute} >= {start} AND {minute} < {end})"
    return f"({minute} >= {start} OR {minute} < {end})"


def night_test(group: np.ndarray, n: np.ndarray, k: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pair (``group`` = its subject's index, n events, k at night): the baseline
    share of the subject's other events, the one-sided binomial p-value and the
    Holm-corrected p-value over the subject's tested pairs. NaN where untested (the
    subject has no other events)."""
    groups = int(group.max()) + 1 if len(group) else 0
    total_n = np.bincount(group, weights=n, minlength=groups)
    total_k = np.bincount(group, weights=k, minlength=groups)
    rest_n, rest_k = total_n[group] - n, total_k[group] - k
    tested = rest_n > 0
    base = np.full(len(n), np.nan)
    base[tested] = rest_k[tested] / rest_n[tested]
    p = np.full(len(n), np.nan)
    p[tested] = binom.sf(k[tested] - 1, n[tested], base[tested])
    return base, p, holm(group, p)


def holm(group: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values, each group a separate family; NaN stays NaN."""
    out = np.full(len(p), np.nan)
    idx = np.flatnonzero(~np.isnan(p))
    if not len(idx):
        return out
    g, pv = group[idx], p[idx]
    order = np.lexsort((pv, g))
    g, pv = g[order], pv[order]
    starts = np.r_[0, np.flatnonzero(np.diff(g)) + 1]
    sizes = np.diff(np.r_[starts, len(g)])
    rank = np.arange(len(g)) - np.repeat(starts, sizes)
    m = np.repeat(sizes, sizes)
    adj = np.minimum(1.0, (m - rank) * pv)
    for a, size in zip(starts, sizes, strict=True):  # one loop step per subject, not per pair
        adj[a:a + size] = np.maximum.accumulate(adj[a:a + size])
    out[idx[order]] = adj
    return out
