"""Name pools and the ways one person's name drifts between records.

Pools are built ONCE per process with Faker under a fixed seed (so they never depend on the
scenario seed or on scheduling); rows are then sampled from them with numpy. The drift
functions (spelling variant, typo, nickname, swapped order) run only on the small subsets
of records that need them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
from anyascii import anyascii
from faker import Faker

from scenario.catalogue import Community, catalogue

POOL_DRAWS = 700  # Faker draws per pool: repeats keep Faker's own name frequencies


@dataclass(frozen=True)
class CommunityPool:
    community: Community
    male: np.ndarray  # object arrays of str
    female: np.ndarray
    family: np.ndarray
    native: np.ndarray  # native-script full names (may be empty)


@dataclass(frozen=True)
class NamePools:
    communities: tuple[CommunityPool, ...]
    weights: np.ndarray  # population share per community
    variants: dict[str, tuple[str, ...]]  # name -> its whole variant group
    nicknames: dict[str, tuple[str, ...]]
    street_names: tuple[str, ...]
    #: any given name -> the other names one person's records write it as (Robert -> Bob,
    #: Rob, ...; Bob -> Robert): nicknames both ways, in a fixed order
    name_swaps: dict[str, tuple[str, ...]]
    titles_male: tuple[str, ...]
    titles_female: tuple[str, ...]


def _faker(locale: str) -> Faker:
    try:
        fake = Faker(locale)
    except AttributeError:  # locale missing in this Faker: nearest Latin-script one
        fake = Faker("en_IN")
    fake.seed_instance(20240601)
    return fake


def _with_variants(names: list[str], variants: dict[str, tuple[str, ...]]) -> np.ndarray:
    """Add the other spellings of any variant name, so the population itself mixes them."""
    out = list(names)
    for n in names:
        for v in variants.get(n, ()):
            if v != n:
                out.append(v)
    return np.array(out, dtype=object)


@cache
def pools() -> NamePools:
    raw = catalogue().raw["names"]
    variants: dict[str, tuple[str, ...]] = {}
    for group in raw["variants"]:
        for name in group:
            variants[name] = tuple(group)
    nicknames = {g[0]: tuple(g[1:]) for g in raw["nicknames"]}
    result = []
    for com in catalogue().communities:
        native: list[str] = []
        if com.source.startswith("curated:"):
            prefix = com.source.split(":", 1)[1]
            male = list(raw[f"{prefix}_given_male"]) * 3
            female = list(raw[f"{prefix}_given_female"]) * 3
            family = list(raw[f"{prefix}_family"]) * 3
            if com.native:
                fake = _faker(com.native)
                native = [f"{fake.first_name()} {fake.last_name()}" for _ in range(200)]
        else:
            fake = _faker(com.source)
            male = [fake.first_name_male() for _ in range(POOL_DRAWS)]
            female = [fake.first_name_female() for _ in range(POOL_DRAWS)]
            family = [fake.last_name() for _ in range(POOL_DRAWS)]
        male += list(raw.get(f"{com.name}_extra_male", ())) * 12
        female += list(raw.get(f"{com.name}_extra_female", ())) * 12
        family += list(raw.get(f"{com.name}_extra_family", ())) * 12
        result.append(CommunityPool(com, _with_variants(male, variants),
                                    _with_variants(female, variants),
                                    _with_variants(family, variants),
                                    np.array(native, dtype=object)))
    w = np.array([c.weight for c in catalogue().communities], dtype=float)
    swaps: dict[str, list[str]] = {}
    for full, nicks in nicknames.items():
        for nick in nicks:
            if " " in nick:
                continue
            swaps.setdefault(full, []).append(nick)
            swaps.setdefault(nick, []).append(full)
    return NamePools(tuple(result), w / w.sum(), variants, nicknames,
                     tuple(raw["street_names"]),
                     {k: tuple(dict.fromkeys(v)) for k, v in swaps.items()},
                     tuple(raw["titles_male"]), tuple(raw["titles_female"]))


def spelling_variant(name: str, rng: np.random.Generator) -> str:
    """Write each part of a name as another member of its transliteration group."""
    p = pools()
    parts = []
    for part in name.split(" "):
        group = p.variants.get(part)
        parts.append(group[rng.integers(len(group))] if group else part)
    return " ".join(parts)


_VOWELS = "aeiou"


def typo(name: str, rng: np.random.Generator) -> str:
    """One keying slip: drop, double, swap neighbours or change a vowel."""
    if len(name) < 3:
        return name
    i = int(rng.integers(1, len(name) - 1))
    kind = int(rng.integers(4))
    if kind == 0:
        return name[:i] + name[i + 1:]
    if kind == 1:
        return name[:i] + name[i] + name[i:]
    if kind == 2:
        return name[:i - 1] + name[i] + name[i - 1] + name[i + 1:]
    vowels = [j for j, ch in enumerate(name) if ch.lower() in _VOWELS and j > 0]
    if not vowels:
        return name[:i] + name[i + 1:]
    j = vowels[int(rng.integers(len(vowels)))]
    return name[:j] + _VOWELS[int(rng.integers(5))] + name[j + 1:]


def nickname(given: str, rng: np.random.Generator) -> str | None:
    """A short name or street name the person is known by, if any."""
    p = pools()
    first = given.split(" ")[0]
    options = p.nicknames.get(first) or p.nicknames.get(anyascii(first))
    if options and rng.random() < 0.8:
        return options[int(rng.integers(len(options)))]
    if rng.random() < 0.5:
        return p.street_names[int(rng.integers(len(p.street_names)))]
    return None


@cache
def streets() -> np.ndarray:
    """UK street names (e.g. 'Mill Lane'), built once with Faker en_GB."""
    fake = _faker("en_GB")
    return np.array(sorted({fake.street_name() for _ in range(800)}), dtype=object)
