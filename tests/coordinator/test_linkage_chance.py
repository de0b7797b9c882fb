"""Chance agreement counted once: namesakes with wholly different birth dates stay apart.

Two strangers with one name agree on ``fn+sn`` and on ``fn_ny+sn_ny`` (equal names have
equal NYSIIS codes): one chance event. Counted twice, it outvotes a date of birth that
disagrees on every key, and namesakes in two forces link. With `count_implied_keys` off
(the default), each chance agreement counts once; a date of birth that is merely mistyped
still links.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pytest
from linkage_data import encode, entity_of, population

from coordinator.comparison import independent_keys
from coordinator.linkage import link
from coordinator.settings import LinkageSettings

ONCE = LinkageSettings()  # the default: each chance agreement once
TWICE = LinkageSettings(count_implied_keys=True)
KINDS = ["mk:fn+sn", "mk:fn_ny+sn_ny", "mk:fn+sn+ym", "mk:fn_mp+sn_mp+yob", "mk:fn+dob",
         "mk:fn_mp+dob", "mk:sn+dob", "mk:nm+dob"]
U = np.array([2e-5, 3e-5, 1e-7, 4e-7, 1e-7, 1e-7, 1e-7, 1e-7])


def counted(*agreeing: str) -> list[str]:
    mask = sum(1 << KINDS.index(f"mk:{k}") for k in agreeing)
    row = independent_keys(KINDS, np.array([mask]), U)[0]
    return [k.removeprefix("mk:") for k, c in zip(KINDS, row, strict=True) if c]


@pytest.mark.parametrize(("agreeing", "expected"), [
    (("fn+sn", "fn_ny+sn_ny"), ["fn+sn"]),                     # equal names ⇒ equal NYSIIS
    (("fn+dob", "fn_mp+dob"), ["fn+dob"]),                     # equal names ⇒ equal metaphone
    (("fn+sn", "fn_ny+sn_ny", "fn+sn+ym"), ["fn+sn", "fn+sn+ym"]),  # ym is a new field
    (("fn_ny+sn_ny",), ["fn_ny+sn_ny"]),                       # alone, a key counts
    (("fn+dob", "sn+dob"), ["fn+dob", "sn+dob"]),              # neither implies the other
    (("fn+sn+ym", "fn_mp+sn_mp+yob"), ["fn+sn+ym"]),           # coarser codes of the same
])
def test_a_key_another_agreeing_key_implies_is_not_fresh_chance_evidence(agreeing, expected):
    assert counted(*agreeing) == expected


WORLD = population(560, seed=11)
SHARED = range(260, 300)  # in both forces; everyone else in one force only
NEW_HOMES = population(300, seed=12)  # addresses nobody in the world held before


def _with_dob(person: dict, dob: dt.date | None) -> dict:
    return {**person, "dob": dob}


def _mistyped(dob: dt.date, how: int) -> dt.date | None:
    """The slips the scenario generator plants on true matches."""
    if how == 0 and dob.day <= 12 and dob.day != dob.month:
        return dob.replace(month=dob.day, day=dob.month)          # day and month swapped
    if how == 1 and (dob.month, dob.day) != (2, 29):
        return dob.replace(year=dob.year + 1)                       # a year off
    if how == 2:
        return dob.replace(day=dob.day % 9 + 1 if dob.day < 10 else dob.day - 9)  # one digit
    if how == 3:
        return None                                                 # not recorded
    return dob


@pytest.fixture(scope="module")
def namesakes_and_slips() -> tuple[duckdb.DuckDBPyConnection, dict[bytes, str]]:
    """Two forces of 300 people, 40 in both; most of force B's records carry a later
    address (people move, so a differing address says little), and each shared person's
    birth date on force B's record has one of the slips, by index. Plus the namesakes
    (last in each force): only their names agree."""
    glover_a = {"given_names": "Charles", "family_name": "Glover",
                "dob": dt.date(1989, 7, 30), "postcode": "PR1 2HE",
                "address": "14 Fishergate Hill, Preston"}
    glover_b = {"given_names": "Charles", "family_name": "Glover",
                "dob": dt.date(1988, 1, 23), "postcode": "S70 2TA",
                "address": "3 Church Street, Barnsley"}
    b = []
    for i, p in enumerate(WORLD[260:], start=260):
        q = _with_dob(p, _mistyped(p["dob"], i % 5) if i in SHARED else p["dob"])
        if i % 10 < 7:  # moved house
            q["postcode"], q["address"] = (NEW_HOMES[i - 260]["postcode"],
                                           NEW_HOMES[i - 260]["address"])
        b.append(q)
    con = duckdb.connect()
    labels = encode(con, {"lancashire": WORLD[:300] + [glover_a],
                          "south-yorkshire": b + [glover_b]})
    return con, labels


def test_namesakes_whose_birth_dates_wholly_disagree_do_not_link(namesakes_and_slips):
    con, labels = namesakes_and_slips
    link(con, ONCE)
    entity = entity_of(con, labels)
    assert entity["lancashire/300"] != entity["south-yorkshire/300"]


def test_a_mistyped_or_missing_birth_date_still_links(namesakes_and_slips):
    con, labels = namesakes_and_slips
    link(con, ONCE)
    entity = entity_of(con, labels)
    linked = {i: entity[f"lancashire/{i}"] == entity[f"south-yorkshire/{i - 260}"]
              for i in SHARED}
    by_slip = {how: sum(linked[i] for i in SHARED if i % 5 == how) for how in range(5)}
    assert by_slip == {how: 8 for how in range(5)}, by_slip
    assert con.execute("SELECT count(*) FROM person_links").fetchone()[0] == len(SHARED)


def test_counted_twice_the_namesakes_link(namesakes_and_slips):
    """Why it is the default: with every implied key counted, the name alone links them."""
    con, labels = namesakes_and_slips
    link(con, TWICE)
    entity = entity_of(con, labels)
    assert entity["lancashire/300"] == entity["south-yorkshire/300"]


def test_a_name_and_a_birth_year_count_as_a_name_and_a_year_not_a_name_twice():
    """Chloe White and Chloe White, born in 1933 on different days: ``fn+sn`` and
    ``fn_mp+sn_mp+yob`` agree. Counted key by key that is two rare events (16 + 21 bits);
    counted once, the second adds only what the year adds."""
    from coordinator.comparison import chance_bits, field_bits

    mask = np.array([(1 << KINDS.index("mk:fn+sn")) | (1 << KINDS.index("mk:fn_mp+sn_mp+yob"))])
    bits = chance_bits(KINDS, mask, U)[0]
    each = -np.log2(U[KINDS.index("mk:fn+sn")]) - np.log2(U[KINDS.index("mk:fn_mp+sn_mp+yob")])
    rarest = -np.log2(U[KINDS.index("mk:fn_mp+sn_mp+yob")])  # counted first, in full
    fitted = field_bits(KINDS, U)
    # then fn+sn adds only what the exact names add to their phonetic codes
    extra = sum(max(fitted[f] - fitted[f"{f}_mp"], 0.0) for f in ("fn", "sn"))
    assert bits == pytest.approx(rarest + extra)
    assert bits < each - 10
    # alone, a key counts its own u in full
    alone = chance_bits(KINDS, np.array([1 << KINDS.index("mk:fn+dob")]), U)[0]
    assert alone == pytest.approx(-np.log2(1e-7))
