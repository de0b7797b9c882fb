"""What counts as evidence: an identifier recorded against both persons is compared like a
match key, a key that does not agree counts only against the field it shows differs, and
a town shown by two agreeing keys is one chance agreement.

Real records go wrong in several fields at once (fake_1000: a decade-out date of birth, a
mistyped given name and no town on one record of a person). These tests hold the two rules
that let such records still meet, and the namesakes they must not join.
"""

from __future__ import annotations

import datetime as dt
import random

import duckdb
import numpy as np
import pytest
from linkage_data import TOKENISER, encode, entity_of, population, typo

from coordinator.comparison import COMPARISONS, field_bits, field_levels, repeated_field_bits
from coordinator.linkage import link
from coordinator.settings import LinkageSettings
from federation.errors import CrossforceError

WORLD = population(500, seed=21)
SHARED = range(200, 300)            # in both forces
BATTERED = range(200, 230)          # force B's record of them wrong in three fields


def _battered(p: dict, rng: random.Random) -> dict:
    """Given name mistyped, date of birth ten years out, no address."""
    return {**p, "given_names": typo(p["given_names"], rng),
            "dob": p["dob"].replace(year=p["dob"].year + 10) if p["dob"].day != 29
            else p["dob"].replace(day=28, year=p["dob"].year + 10),
            "postcode": None, "address": None}


def _email(i: int) -> str:
    p = WORLD[i]
    return f"{p['given_names']}.{p['family_name']}{i}@example.org".lower()


@pytest.fixture(scope="module")
def emails_on_record() -> tuple[duckdb.DuckDBPyConnection, dict[bytes, str]]:
    """Force A holds people 0..299, force B 200..499; everyone has an email recorded
    against them. Force B's records of 200..229 are battered. Two namesakes (a Charles
    Glover in each force, born 17 years apart) share nothing but the name."""
    rng = random.Random(5)
    glover_a = {"given_names": "Charles", "family_name": "Glover", "dob": dt.date(1971, 3, 2),
                "postcode": "PR1 2HE", "address": "14 Fishergate Hill, Preston"}
    glover_b = {**glover_a, "dob": dt.date(1988, 1, 23), "postcode": "S70 2TA",
                "address": "3 Church Street, Barnsley"}
    b = [_battered(p, rng) if i in BATTERED else dict(p)
         for i, p in enumerate(WORLD[200:500], start=200)]
    con = duckdb.connect()
    labels = encode(con, {"force a": WORLD[:300] + [glover_a], "force b": b + [glover_b]})
    ref = {label: r for r, label in labels.items()}
    rows = [(force, ref[f"{force}/{i - start}"], "email", TOKENISER.token("email", _email(i)))
            for force, start, people in (("force a", 0, range(300)),
                                         ("force b", 200, range(200, 500)))
            for i in people]
    con.executemany("INSERT INTO tokens VALUES (?, ?, ?, ?)", rows)
    return con, labels


def _linked(con, labels, people) -> int:
    entity = entity_of(con, labels)
    return sum(entity[f"force a/{i}"] == entity[f"force b/{i - 200}"] for i in people)


def test_a_shared_email_brings_a_battered_record_to_its_person(emails_on_record):
    con, labels = emails_on_record
    link(con, LinkageSettings())
    assert _linked(con, labels, BATTERED) >= 27  # of 30
    assert _linked(con, labels, range(230, 300)) == 70
    entity = entity_of(con, labels)
    assert entity["force a/300"] != entity["force b/300"]  # the namesakes


def test_without_identifier_keys_the_battered_records_stay_apart(emails_on_record):
    """The setting off: an email only supports pairs the name and date keys formed."""
    con, labels = emails_on_record
    link(con, LinkageSettings(identifier_keys=False))
    assert _linked(con, labels, BATTERED) <= 10


def _levels(agree: list[str], a: list[str], b: list[str], disagreement: str) -> dict:
    kinds = sorted({*agree, *a, *b})
    bit = {k: 1 << i for i, k in enumerate(kinds)}
    mask = lambda keys: np.array([sum(bit[k] for k in keys)], dtype=np.int64)  # noqa: E731
    lv = field_levels([f"mk:{k}" for k in kinds], mask(agree), mask(a), mask(b),
                      disagreement=disagreement)[0]
    return {c.name: (c.labels[v] if v >= 0 else None) for c, v in zip(COMPARISONS, lv, strict=True)}


HELD = ["fn+sn", "fn+dob", "sn+dob", "fn_mp+yob", "sn+pc", "dob+pc"]


def test_a_differing_key_counts_against_the_field_the_others_show_differs():
    """Surname and postcode agree (sn+pc): fn+sn differing says the given names differ,
    sn+dob differing that the dates do."""
    levels = _levels(["sn+pc"], HELD, HELD, "shown")
    assert levels["given_name"] == "else" and levels["dob"] == "else"
    assert levels["family_name"] == "exact" and levels["postcode"] == "exact"


def test_a_wrong_date_of_birth_does_not_also_cost_the_names():
    """The given name's sound and birth year agree (fn_mp+yob), so fn+dob differing is
    read as the given name spelt otherwise and the date wrong — the levels those keys
    reached, nothing worse. Where only the postcode agrees, fn+dob differing may be either
    field: "equal" lays it on neither (unknown); the old rule, "any", on both."""
    shown = _levels(["fn_mp+yob", "sn+pc"], HELD, HELD, "shown")
    assert shown["given_name"] == "phonetic"
    assert shown["dob"] == "year"
    equal = _levels(["sn+pc"], ["fn+dob", "sn+pc"], ["fn+dob", "sn+pc"], "equal")
    assert equal["given_name"] is None and equal["dob"] is None  # unknown, not "else"
    old = _levels(["sn+pc"], ["fn+dob", "sn+pc"], ["fn+dob", "sn+pc"], "any")
    assert old["given_name"] == "else" and old["dob"] == "else"


def test_a_field_several_agreeing_keys_hold_counts_once_on_the_chance_side():
    """Family name + locality and house number + locality agreeing are a family name, a
    house number and ONE town: per key, the town's chance bits came twice (FEBRL4's false
    links: two Whites at number 7 in Caulfield). `chance_once` takes back the repeat."""
    kinds = ["mk:sn+loc", "mk:st_no+loc", "mk:fn+sn", "mk:st_no+pc"]
    u = np.array([7e-6, 2e-5, 1.5e-5, 2e-5])
    agree = np.array([[1, 1, 0, 0],    # the town twice
                      [1, 0, 1, 0],    # the family name twice, the town once
                      [0, 1, 0, 1]],   # the house number twice
                     dtype=np.float64)
    town = field_bits(kinds, u)["loc"]
    assert town > 0
    extra = repeated_field_bits(kinds, agree, u, ("loc", "street"))
    assert extra.tolist() == [town, 0.0, 0.0]
    assert repeated_field_bits(kinds, agree, u, ())[0] == 0.0


def test_chance_once_takes_only_key_fields():
    with pytest.raises(CrossforceError, match="chance_once: not key fields: \\['town'\\]"):
        LinkageSettings.parse({"chance_once": ["loc", "town"]})
