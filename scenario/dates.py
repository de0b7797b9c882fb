"""Dates as int64 day numbers (days since 1970-01-01) so whole columns shift in numpy."""

from __future__ import annotations

import datetime as dt

import numpy as np

NULL = np.iinfo(np.int64).min  # a missing date
_EPOCH = dt.date(1970, 1, 1)


def day(d: dt.date) -> int:
    return (d - _EPOCH).days


def as_dates(days: np.ndarray) -> np.ndarray:
    """int day numbers -> datetime64[D], NULL -> NaT (written as blank)."""
    days = np.asarray(days, dtype=np.int64)
    out = days.astype("datetime64[D]")
    out[days == NULL] = np.datetime64("NaT")
    return out


def as_timestamps(seconds: np.ndarray) -> np.ndarray:
    return np.asarray(seconds, dtype=np.int64).astype("datetime64[s]")


def ymd(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d = np.asarray(days, dtype=np.int64).astype("datetime64[D]")
    y = d.astype("datetime64[Y]")
    m = d.astype("datetime64[M]")
    return (y.astype(np.int64) + 1970, (m - y.astype("datetime64[M]")).astype(np.int64) + 1,
            (d - m.astype("datetime64[D]")).astype(np.int64) + 1)


def from_ymd(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Day numbers from year/month/day arrays (day clipped to the month's length)."""
    month = (np.asarray(y, dtype=np.int64) - 1970) * 12 + (np.asarray(m, dtype=np.int64) - 1)
    first = month.astype("datetime64[M]").astype("datetime64[D]")
    nxt = (month + 1).astype("datetime64[M]").astype("datetime64[D]")
    length = (nxt - first).astype(np.int64)
    return first.astype(np.int64) + np.minimum(np.asarray(d, dtype=np.int64), length) - 1


def uniform(rng: np.random.Generator, lo: np.ndarray | int, hi: np.ndarray | int,
            size: int | None = None) -> np.ndarray:
    """Uniform day numbers in [lo, hi] (hi clipped up to lo)."""
    lo = np.asarray(lo, dtype=np.int64)
    hi = np.maximum(np.asarray(hi, dtype=np.int64), lo)
    return lo + (rng.random(size if size is not None else np.broadcast(lo, hi).shape)
                 * (hi - lo + 1)).astype(np.int64)
