"""Comparisons: what agreeing match keys say about each person field, Splink-style levels.

A match key's token kind names the fields it joins (``mk:fn+sn+ym``). When that key
agrees, each of its fields agrees at the level the field implies (``fn`` exact, ``fn_mp``
phonetic, ``ym`` year and month of birth...). Scoring fields rather than keys matters: one
surname typo breaks every key that holds the surname, and counting each broken key as
fresh evidence would sink a true pair. So keys are first turned back into per-field
levels — the best level any agreeing key proves — and Fellegi–Sunter weighs those.

A field counts as compared when both references carry some key holding it; compared but
proven by no agreeing key = "else" (disagrees, or agrees where no key can show it).

The same redundancy exists on the chance side: two strangers called Charles Glover agree
on ``fn+sn`` AND on ``fn_ny+sn_ny``, because equal names have equal NYSIIS codes — one
chance event, not two. `independent_keys` drops, of the keys a pair agrees on, each one
that a finer agreeing key on the same fields implies, so the u side can count each chance
agreement once and a wholly different date of birth is not outvoted by one name agreement
counted twice (`LinkageSettings.count_implied_keys`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from coordinator.settings import ID_PREFIX, IDENTIFIER_KINDS, MATCH_KEY_PREFIX, Disagreement


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
    # nw: the same name words, split otherwise between given and family name (scored, like
    # a swap, on the given name); fn_can: one is a nickname of the other (willie, william)
    _c("given_name", ("exact", {"fn"}), ("swapped", {"nm", "nw"}), ("nickname", {"fn_can"}),
       ("typo", {"fn_d1"}), ("phonetic", {"fn_mp", "fn_ny"}), ("initial", {"fi", "ini"})),
    # a swap of given and family name is one event: the given-name comparison scores it
    _c("family_name", ("exact", {"sn", "nm", "nw"}), ("typo", {"sn_d1"}),
       ("phonetic", {"sn_mp", "sn_ny"}),
       ("initial", {"ini"})),
    _c("dob", ("exact", {"dob"}), ("day_month_swapped", {"dob_dm"}),
       ("year_month", {"ym"}), ("month_day", {"md"}), ("year", {"yob"})),
    _c("postcode", ("exact", {"pc"})),
    _c("street", ("exact", {"street"})),
    _c("house_number", ("exact", {"st_no"})),
    _c("locality", ("exact", {"loc"})),
    # an identifier recorded against both (settings.identifier_keys)
    _c("identifier", ("exact", {ID_PREFIX + kind for kind in IDENTIFIER_KINDS})),
)


#: field -> the fields its agreement implies (equal names have equal phonetic codes and
#: initials; an equal date has equal year, year+month, month+day and day/month pair).
IMPLIES: dict[str, frozenset[str]] = {
    "fn": frozenset({"fn_mp", "fn_ny", "fi", "fn_can", "fn_d1"}),
    "sn": frozenset({"sn_mp", "sn_ny", "sn_d1"}),
    "dob": frozenset({"yob", "ym", "md", "dob_dm"}),
    "ym": frozenset({"yob"}),
    "dob_dm": frozenset({"yob"}),
}
#: fields implied only by several together: given AND family name ⇒ the unordered pair,
#: and the unordered pair of initials.
IMPLIED_BY_ALL: dict[str, frozenset[str]] = {"nm": frozenset({"fn", "sn"}),
                                             "ini": frozenset({"fn", "sn"})}


def key_fields(token_kind: str) -> frozenset[str]:
    """``mk:fn+sn+ym`` → {fn, sn, ym}."""
    return frozenset(token_kind.removeprefix(MATCH_KEY_PREFIX).split("+"))


def mask_bits(masks: np.ndarray, n_kinds: int) -> np.ndarray:
    return ((masks[:, None] >> np.arange(n_kinds, dtype=np.int64)[None, :]) & 1).astype(bool)


def field_levels(kinds: Sequence[str], agree_mask: np.ndarray, has_a: np.ndarray,
                 has_b: np.ndarray,
                 comparisons: Sequence[Comparison] = COMPARISONS, *,
                 disagreement: Disagreement = "shown") -> np.ndarray:
    """Level index per comparison for each pattern: 0 = best level ... len(levels) = else,
    -1 = not compared. Shape (patterns, comparisons), int8.

    Which fields disagree (`LinkageSettings.disagreement`): a key both references hold
    that does not agree says only that ONE of its fields differs. "shown" (default): it
    counts against a field when every other field of the key agrees at some level (``fn+sn``
    differs while ``fn_mp+yob`` agrees: the family names differ); "equal": only when every
    other field is proven equal; "any": against every field of the key — a record whose
    date of birth is wrong then also loses its given name (``fn+dob``), family name and
    address, each counted as a fresh disagreement. A field no disagreement is laid on
    stays unknown (neutral), as a missing one is."""
    k = len(kinds)
    fields = [key_fields(kind) for kind in kinds]
    agree = mask_bits(agree_mask.astype(np.int64), k)
    on_a = mask_bits(has_a.astype(np.int64), k) | agree
    on_b = mask_bits(has_b.astype(np.int64), k) | agree
    proves = [[np.array([bool(f & level) for f in fields], dtype=bool)
               for _, level in comp.levels] for comp in comparisons]
    # the best level each comparison reached, per pattern (len(levels) = none)
    reached = np.empty((len(agree_mask), len(comparisons)), dtype=np.int8)
    for ci, comp in enumerate(comparisons):
        level = np.full(len(agree_mask), len(comp.levels), dtype=np.int8)
        for li in range(len(comp.levels) - 1, -1, -1):  # best level last, so it wins
            level[(agree & proves[ci][li]).any(1)] = li
        reached[:, ci] = level
    if disagreement != "any":
        differs = on_a & on_b & ~agree
        key_roots = [_roots(f) for f in fields]
        homes = [frozenset(_ROOT.get(f, f) for f in c.fields if f not in COMPOSITE)
                 for c in comparisons]
        universe = sorted(set().union(*key_roots, *homes))
        index = {r: i for i, r in enumerate(universe)}
        # a root is shown equal where an agreeing key proves it (its closure holds it) ...
        closure = np.zeros((k, len(universe)), dtype=np.int32)
        for ki, f in enumerate(fields):
            closure[ki, [index[x] for x in _closure(f) if x in index]] = 1
        shown = (agree.astype(np.int32) @ closure) > 0  # (patterns, roots)
        if disagreement == "shown":  # ... or, here, where its comparison reached any level
            for ci, comp in enumerate(comparisons):
                for r in homes[ci]:
                    shown[:, index[r]] |= reached[:, ci] < len(comp.levels)
    out = reached.copy()
    for ci, comp in enumerate(comparisons):
        if disagreement == "any":
            holds = np.array([bool(f & comp.fields) for f in fields], dtype=bool)
            compared = (on_a & holds).any(1) & (on_b & holds).any(1)
        else:
            holds = np.array([bool(r & homes[ci]) for r in key_roots], dtype=bool)
            others = np.zeros((k, len(universe)), dtype=np.int32)
            for ki, r in enumerate(key_roots):
                others[ki, [index[x] for x in r - homes[ci]]] = 1
            rest_shown = ((~shown).astype(np.int32) @ others.T) == 0
            compared = (differs & holds & rest_shown).any(1)
        out[~compared & (reached[:, ci] == len(comp.levels)), ci] = -1
    return out


#: fields that join several person fields: a key on one says nothing of which part differs
COMPOSITE: dict[str, frozenset[str]] = {"nm": frozenset({"fn", "sn"}),
                                        "ini": frozenset({"fn", "sn"}),
                                        "nw": frozenset({"fn", "sn"})}


def _roots(fields: frozenset[str]) -> frozenset[str]:
    """The person fields a key's disagreement may lie in: ``fn_mp+yob`` -> {fn, dob},
    ``nm`` -> {fn, sn}."""
    out: set[str] = set()
    for f in fields:
        out |= COMPOSITE.get(f, frozenset({_ROOT.get(f, f)}))
    return frozenset(out)


def _closure(fields: frozenset[str]) -> frozenset[str]:
    out = set(fields)
    for f in fields:
        out |= IMPLIES.get(f, frozenset())
    out |= {f for f, needs in IMPLIED_BY_ALL.items() if needs <= out}
    return frozenset(out)


#: a coarser field -> the field it is read from (``fn_mp`` → ``fn``, ``ym`` → ``dob``)
_ROOT: dict[str, str] = {coarse: f for f, implied in IMPLIES.items()
                         if not any(f in i for i in IMPLIES.values()) for coarse in implied}


def _base(fields: frozenset[str]) -> frozenset[str]:
    """The person fields a key is about: ``fn_mp+dob`` and ``fi+sn+ym`` are about a name
    and the date of birth, whatever coarsening of each they hold."""
    out: set[str] = set()
    for f in fields:
        out |= IMPLIED_BY_ALL.get(f, frozenset({_ROOT.get(f, f)}))
    return frozenset(out)


def independent_keys(kinds: Sequence[str], agree_mask: np.ndarray,
                     u: np.ndarray) -> np.ndarray:
    """Which agreeing keys count on the chance (u) side, per pattern: (patterns, kinds) bool.

    A key does not count when another agreeing key about the same person fields implies
    it (``fn+sn`` implies ``fn_ny+sn_ny``, ``fn+dob`` implies ``fn_mp+dob``): a coarser copy
    of an agreement already counted is the same chance event. A key that adds a field
    (``fn+sn+md`` beside ``fn+sn``) still counts. Of keys implying each other the rarer
    (smaller u) counts. One numpy pass per key over the distinct patterns.
    """
    agree = mask_bits(np.asarray(agree_mask, dtype=np.int64), len(kinds))
    fields = [key_fields(kind) for kind in kinds]
    closure = [_closure(f) for f in fields]
    base = [_base(f) for f in fields]
    rank = np.argsort(np.argsort(np.asarray(u), kind="stable"), kind="stable")
    counted = np.zeros_like(agree)
    for k in range(len(kinds)):
        over = [j for j in range(len(kinds)) if j != k and base[j] == base[k]
                and closure[k] <= closure[j]
                and (closure[k] != closure[j] or rank[j] < rank[k])]
        counted[:, k] = agree[:, k] & ~agree[:, over].any(1)
    return counted


#: for counting chance only: agreeing on the unordered name pair, or on every name word,
#: is (nearly) agreeing on both names, whichever field holds which
COVERS: dict[str, frozenset[str]] = {"nm": frozenset({"fn", "sn"}),
                                     "nw": frozenset({"fn", "sn"})}


def field_bits(kinds: Sequence[str], u: np.ndarray) -> dict[str, float]:
    """Chance evidence per key field (bits), fitted so a key's bits are the sum of its
    fields' (``-log2 u(fn+dob) ≈ y(fn) + y(dob)``): non-negative least squares over every
    key. It prices what a key adds to keys already counted, field by field."""
    from scipy.optimize import nnls

    fields = sorted(set().union(*(key_fields(k) for k in kinds)))
    a = np.array([[f in key_fields(k) for f in fields] for k in kinds], dtype=np.float64)
    y, _ = nnls(a, -np.log2(np.asarray(u, dtype=np.float64)))
    return dict(zip(fields, y.tolist(), strict=True))


def repeated_field_bits(kinds: Sequence[str], agree: np.ndarray, u: np.ndarray,
                        once: Sequence[str]) -> np.ndarray:
    """Bits the per-key chance count adds for a field in `once` beyond its first key, per
    pattern (`agree`: the counted keys, one row a pattern): ``sn+loc`` and ``st_no+loc``
    both agreeing count the locality twice, at its fitted bits (`field_bits`) each time
    after the first (`LinkageSettings.chance_once`)."""
    if not len(kinds) or not once:
        return np.zeros(len(agree))
    bits_of = field_bits(kinds, u)
    extra = np.zeros(len(agree))
    for f in once:
        holds = np.array([f in key_fields(k) for k in kinds], dtype=np.float64)
        extra += np.maximum(agree @ holds - 1, 0) * bits_of.get(f, 0.0)
    return extra


def chance_bits(kinds: Sequence[str], agree_mask: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Bits of chance evidence per pattern, each chance agreement counted once.

    Agreeing keys are taken rarest first: the first counts its own u in full; each later
    one counts only the fields the keys before it have not already shown, at their fitted
    bits (`field_bits`), and a coarser field already shown (``yob`` after ``dob``, ``fn_mp``
    after ``fn``) counts nothing — or only the difference, for a finer one (``ym`` after
    ``yob``). So ``fn+sn`` and ``fn_mp+sn_mp+yob`` agreeing are a name and a birth year,
    not a name twice and a year: two strangers named Chloe White born in 1933 do not add
    up to a match."""
    masks = np.asarray(agree_mask, dtype=np.int64)
    u = np.asarray(u, dtype=np.float64)
    if not len(kinds) or not len(masks):  # no match keys shared: no chance evidence
        return np.zeros(len(masks))
    bits_of = field_bits(kinds, u)
    fields = [key_fields(k) for k in kinds]
    # what agreeing on each key shows: its fields, what they imply, what they cover
    reach = [_closure(f).union(*(_closure(COVERS.get(x, frozenset())) for x in f))
             for f in fields]
    universe = sorted(set(bits_of).union(*reach))
    col = {f: i for i, f in enumerate(universe)}
    reach_row = np.array([[f in r for f in universe] for r in reach], dtype=bool)
    agree = mask_bits(masks, len(kinds))
    shown = np.zeros((len(masks), len(universe)), dtype=bool)
    total = np.zeros(len(masks))
    # one numpy pass per key, rarest first, over every pattern at once
    for k in np.argsort(u, kind="stable").tolist():
        active = agree[:, k]
        if not active.any():
            continue
        first = active & ~shown.any(1)
        total[first] += -np.log2(u[k])
        later = active & ~first
        for f in fields[k]:
            known = np.zeros(len(masks))
            for g in IMPLIES.get(f, frozenset()) & set(bits_of):
                known = np.where(shown[:, col[g]], np.maximum(known, bits_of[g]), known)
            fresh = later & ~shown[:, col[f]]
            total += np.where(fresh, np.maximum(bits_of[f] - known, 0.0), 0.0)
        shown[active] |= reach_row[k]
    return total
