"""How real force records get messy: duplicate nominals, drifting names, dirty dates.

Police systems hold several records ("nominals") of one person in one force: most people
have one, many have two or three, a few prolific offenders have many. Each record was typed
by someone else, at another time, from another source, so the name and the date of birth
drift: nickname vs full name (Bob/Robert), a title in the name field ("Mr John"), a missing
family name written ``NS``/``UNK``, middle names split differently between the given and
family fields, swapped order, typos; a date of birth a year or a day out, day and month
swapped, 1 January for an unknown day, or missing. With ``dirty_dobs`` some dates are also
written in forms a DATE column cannot hold: a bare year (``1985``), a month over 12
(``1997-21-25``, ``1950-19-05``), day 31 in a 30-day month.

Everything here works on whole numpy columns; Python loops run only over the rows a given
kind of drift picked (a few per cent of the records).
"""

from __future__ import annotations

import numpy as np

from federation import layout
from scenario import dates
from scenario.defaults import DEFAULT_DIRTY_DOBS, DEFAULT_DUPLICATES  # noqa: F401
from scenario.names import pools, spelling_variant, typo

NULL = dates.NULL


#: Records per person, for people with more than one: many 2-3, a few prolific (6-15).
DUP_SIZES = np.array([2, 3, 4, 5, *range(6, 16)])
DUP_WEIGHTS = np.array([0.55, 0.25, 0.08, 0.05, *([0.07 / 10] * 10)])

#: Written for a name that was asked for but not given.
MISSING_NAME = (layout.NOT_STATED, layout.UNKNOWN)

#: Dirty date-of-birth forms and their shares among dirty dates.
DIRTY_FORMS = ("year_only", "month_over_12", "day_month_swapped", "day_past_month_end")
DIRTY_WEIGHTS = np.array([0.35, 0.15, 0.25, 0.25])


def record_counts(rng: np.random.Generator, n_records: int, share: float) -> np.ndarray:
    """Records per real person, adding up to exactly `n_records`: 1 for most people, 2-15
    (mostly 2-3) for a `share` of them."""
    if n_records <= 0:
        return np.zeros(0, dtype=np.int64)
    k = np.ones(n_records, dtype=np.int64)
    dup = rng.random(n_records) < share
    k[dup] = DUP_SIZES[rng.choice(len(DUP_SIZES), int(dup.sum()), p=DUP_WEIGHTS)]
    total = np.cumsum(k)
    m = int(np.searchsorted(total, n_records)) + 1  # people needed to reach n_records
    k = k[:m].copy()
    k[-1] -= int(total[m - 1]) - n_records
    return k


def primaries(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(person of each record, record number of each record's first record)."""
    person = np.repeat(np.arange(len(counts)), counts)
    first = np.cumsum(counts) - counts
    return person, first[person]


def _first_and_rest(name: str) -> tuple[str, str]:
    head, _, rest = name.partition(" ")
    return head, rest


def drift_names(rng: np.random.Generator, given: np.ndarray, family: np.ndarray,
                sex: np.ndarray, rows: np.ndarray, *, scale: float = 1.0) -> None:
    """Rewrite the names of `rows` (in place) the way another record of the same person
    writes them. `scale` multiplies every rate (a person's first record drifts less)."""
    if len(rows) == 0:
        return
    p = pools()
    u = rng.random((len(rows), 8))
    pick = rng.integers(0, 1 << 30, (len(rows), 2))

    def hits(col: int, rate: float) -> np.ndarray:
        return rows[u[:, col] < rate * scale]

    # nickname for full name and back (Bob / Robert, Mo / Mohammed, Willie / William)
    for j, i in zip(np.flatnonzero(u[:, 0] < 0.22 * scale), hits(0, 0.22), strict=True):
        head, rest = _first_and_rest(str(given[i]))
        alts = p.name_swaps.get(head)
        if alts:
            head = alts[int(pick[j, 0]) % len(alts)]
            given[i] = f"{head} {rest}" if rest else head
    # transliteration / spelling variants (Mohammed / Muhammad, Chaudhry / Choudhury)
    for i in hits(1, 0.2):
        given[i] = spelling_variant(str(given[i]), rng)
    for i in hits(2, 0.2):
        family[i] = spelling_variant(str(family[i]), rng)
    # keying slips
    for i in hits(3, 0.08):
        given[i] = typo(str(given[i]), rng)
    for i in hits(4, 0.12):
        family[i] = typo(str(family[i]), rng)
    # middle names: split differently between the fields, or left out
    for j, i in zip(np.flatnonzero(u[:, 5] < 0.6 * scale), hits(5, 0.6), strict=True):
        head, rest = _first_and_rest(str(given[i]))
        if not rest:
            continue
        if pick[j, 1] % 3 == 0:
            given[i] = head  # middle name left out
        else:
            given[i], family[i] = head, f"{rest} {family[i]}"  # Mary / Ann Smith
    # swapped order; a missing family name written NS / UNK
    swap = hits(6, 0.05)
    given[swap], family[swap] = family[swap].copy(), given[swap].copy()
    gone = hits(7, 0.04)
    family[gone] = np.array(MISSING_NAME, dtype=object)[rng.integers(2, size=len(gone))]
    # a title in the given-names field ("Mr John", "Miss Mary")
    titled = rows[rng.random(len(rows)) < 0.06 * scale]
    if len(titled):
        male = np.array(p.titles_male, dtype=object)
        female = np.array(p.titles_female, dtype=object)
        t = np.where(sex[titled] == "F", female[rng.integers(len(female), size=len(titled))],
                     male[rng.integers(len(male), size=len(titled))])
        given[titled] = t + " " + given[titled]


def missing_names(rng: np.random.Generator, given: np.ndarray, family: np.ndarray,
                  rate: float) -> None:
    """Write NS / UNK (in place) for a given or family name nobody recorded."""
    n = len(given)
    r = rng.random(n)
    word = np.array(MISSING_NAME, dtype=object)[rng.integers(2, size=n)]
    g = r < rate / 2
    f = (r >= rate / 2) & (r < rate)
    given[g] = word[g]
    family[f] = word[f]


def drift_dobs(rng: np.random.Generator, dob: np.ndarray, known: np.ndarray,
               rows: np.ndarray) -> None:
    """Another record's date of birth for `rows` (in place; still real dates): missing, a
    year or a few days out, day and month swapped, or 1 January for an unknown day."""
    if len(rows) == 0:
        return
    base = dob[rows]
    have = base != NULL
    y, m, d = dates.ymd(np.where(have, base, 0))
    r = rng.random(len(rows))
    new = base.copy()
    new_known = known[rows].copy()
    missing = r < 0.10
    new[missing] = NULL
    new_known[missing] = False
    year = (r >= 0.10) & (r < 0.16) & have
    new[year] = dates.from_ymd(y + rng.choice([-1, 1], len(rows)), m, d)[year]
    day = (r >= 0.16) & (r < 0.22) & have
    new[day] = (base + rng.choice([-3, -2, -1, 1, 2, 3], len(rows)))[day]
    swap = (r >= 0.22) & (r < 0.27) & have & (d <= 12) & (d != m)
    new[swap] = dates.from_ymd(y, d, m)[swap]
    jan = (r >= 0.27) & (r < 0.31) & have
    new[jan] = dates.from_ymd(y, np.ones(len(rows)), np.ones(len(rows)))[jan]
    new_known[jan] = False
    dob[rows] = new
    known[rows] = new_known


def dob_strings(days: np.ndarray) -> np.ndarray:
    """ISO strings for day numbers; None where missing."""
    days = np.asarray(days, dtype=np.int64)
    out = dates.as_dates(days).astype(str).astype(object)
    out[days == NULL] = None
    return out


def dirty_dobs(rng: np.random.Generator, days: np.ndarray, rate: float
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The dob column as written text, with a `rate` share of the present dates in a form
    no DATE column holds. Returns (text, rows made dirty, form index per dirty row)."""
    text = dob_strings(days)
    present = np.flatnonzero(np.asarray(days) != NULL)
    rows = present[rng.random(len(present)) < rate]
    form = rng.choice(len(DIRTY_FORMS), len(rows), p=DIRTY_WEIGHTS)
    y, m, d = dates.ymd(np.asarray(days)[rows])
    ys = y.astype(str).astype(object)

    def two(v: np.ndarray) -> np.ndarray:
        return np.char.zfill(v.astype(str), 2).astype(object)

    # month over 12: a digit slip in the month (1997-21-25), or day/month swapped where
    # the day is over 12 (1950-19-05 for 5 May... of 1950-05-19)
    slip = np.where(m <= 9, m + 20, m + 10)
    swapped_m = np.where(d > 12, d, slip)
    swapped_d = np.where(d > 12, m, d)
    # day past the month's end: 31 in a 30-day month, 30 February
    month_end = np.where(np.isin(m, [4, 6, 9, 11]), 31, np.where(m == 2, 30, 0))
    past_m = np.where(month_end > 0, m, rng.choice([4, 6, 9, 11], len(rows)))
    past_d = np.where(month_end > 0, month_end, 31)
    out = np.empty(len(rows), dtype=object)
    f0, f1, f2, f3 = (form == k for k in range(4))
    out[f0] = ys[f0]
    out[f1] = (ys + "-" + two(slip) + "-" + two(d))[f1]
    out[f2] = (ys + "-" + two(swapped_m) + "-" + two(swapped_d))[f2]
    out[f3] = (ys + "-" + two(past_m) + "-" + two(past_d))[f3]
    text[rows] = out
    return text, rows, form
