"""Reference data for the scenario generator, loaded from ``data/*.toml``.

Code lists (offences, outcomes, name variants, forces) live in data files so they can be
reviewed and changed without touching the generator (DOMAIN.md §6: load, don't hard-code).
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

DATA = Path(__file__).with_name("data")


@dataclass(frozen=True)
class Force:
    index: int
    slug: str
    name: str
    code: str
    areas: tuple[str, ...]
    towns: tuple[str, ...]
    lat: float
    lon: float


@dataclass(frozen=True)
class Offence:
    code: str
    description: str
    weight: float
    category: str = ""
    child_sexual: bool = False
    cse_specific: bool = False


@dataclass(frozen=True)
class Outcome:
    code: str
    description: str
    nfa: bool


@dataclass(frozen=True)
class Community:
    name: str
    source: str
    weight: float
    ethnicity: str
    officer: str
    nationality: str
    native: str = ""


@dataclass(frozen=True)
class Catalogue:
    offences: tuple[Offence, ...]
    outcomes: tuple[Outcome, ...]
    outcome_mix: dict[str, dict[str, float]]
    review_from: dt.date
    review_to: dt.date
    exchange_indicators: tuple[str, ...]
    communities: tuple[Community, ...]
    raw: dict[str, Any]

    @property
    def child_sexual(self) -> tuple[Offence, ...]:
        return tuple(o for o in self.offences if o.child_sexual)

    @property
    def nfa_codes(self) -> frozenset[str]:
        return frozenset(o.code for o in self.outcomes if o.nfa)

    def offence(self, code: str) -> Offence:
        return next(o for o in self.offences if o.code == code)


@cache
def forces() -> tuple[Force, ...]:
    """All 43 forces, neighbours next to each other."""
    rows = tomllib.loads((DATA / "forces.toml").read_text())["forces"]
    return tuple(Force(index=i, slug=r["slug"], name=r["name"], code=r["code"],
                       areas=tuple(r["areas"]), towns=tuple(r["towns"]), lat=r["lat"],
                       lon=r["lon"]) for i, r in enumerate(rows))


@cache
def catalogue() -> Catalogue:
    raw = tomllib.loads((DATA / "catalogue.toml").read_text())
    return Catalogue(
        offences=tuple(Offence(**o) for o in raw["offence"]),
        outcomes=tuple(Outcome(**o) for o in raw["outcome"]),
        outcome_mix=raw["outcome_mix"],
        review_from=dt.date.fromisoformat(raw["review"]["nfa_from"]),
        review_to=dt.date.fromisoformat(raw["review"]["nfa_to"]),
        exchange_indicators=tuple(raw["flags"]["exchange_indicators"]),
        communities=tuple(Community(name=k, **v) for k, v in raw["communities"].items()),
        raw=raw,
    )
