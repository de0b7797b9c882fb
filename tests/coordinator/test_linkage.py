"""Linkage from tokens only: which records the coordinator holds to be one person or phone.

Each world is a few hundred plausible people per force, encoded through the real path
(match keys → keyed tokens); a test then plants the case it is about.
"""

from __future__ import annotations

import datetime as dt
import random

import duckdb
import pytest
from linkage_data import TOKENISER, encode, entity_of, population, typo

from coordinator.linkage import link
from coordinator.settings import LinkageSettings

WORLD = population(400, seed=3)


def two_forces(shared: int = 150) -> dict[str, list[dict]]:
    """Force A holds people 0..249, force B people 100..399 re-keyed with the odd slip:
    150 people in both, 100 only in each."""
    rng = random.Random(5)
    b = []
    for p in WORLD[100:]:
        q = dict(p)
        roll = rng.random()
        if roll < 0.2:
            q["family_name"] = typo(q["family_name"], rng)
        elif roll < 0.3:
            q["postcode"] = None
        elif roll < 0.4:
            q["dob"] = q["dob"].replace(day=min(q["dob"].day + 1, 28))
        elif roll < 0.5:
            q["given_names"], q["family_name"] = q["family_name"], q["given_names"]
        b.append(q)
    return {"force a": WORLD[:250], "force b": b}


@pytest.fixture(scope="module")
def store() -> tuple[duckdb.DuckDBPyConnection, dict[bytes, str]]:
    con = duckdb.connect()
    labels = encode(con, two_forces())
    link(con)
    return con, labels


@pytest.fixture
def linked(store) -> tuple[duckdb.DuckDBPyConnection, dict[str, int]]:
    con, labels = store
    return con, entity_of(con, labels)


def test_people_in_both_forces_become_one_entity(linked):
    _, entity = linked
    same = sum(entity[f"force a/{i}"] == entity[f"force b/{i - 100}"] for i in range(100, 250))
    assert same >= 148  # of 150, despite typos, missing postcodes, swapped names


def test_people_in_one_force_only_stay_alone(linked):
    con, entity = linked
    a_only = {entity[f"force a/{i}"] for i in range(100)}
    b_entities = {entity[f"force b/{i}"] for i in range(300)}
    assert not a_only & b_entities
    assert con.execute("SELECT count(*) FROM person_links").fetchone()[0] <= 150


def test_entities_table_lists_every_reference_with_kind_and_score(linked):
    con, _ = linked
    rows = con.execute("""SELECT count(*), count(DISTINCT ref), min(kind), max(kind),
                                 min(score), max(score) FROM entities""").fetchone()
    assert rows[:4] == (550, 550, "person", "person")
    assert 0.99 <= rows[4] <= rows[5] <= 1.0
    assert con.execute("SELECT typeof(ref), typeof(entity_id) FROM entities LIMIT 1"
                       ).fetchone() == ("BLOB", "BIGINT")


def test_look_alikes_do_not_link():
    """Same surname, same birth year, similar first names, different people and homes."""
    twins = [
        {"given_names": "Jon", "family_name": "Smith", "dob": dt.date(1984, 3, 12),
         "postcode": "LS6 2AB", "address": "4 Otley Road, Leeds"},
        {"given_names": "John", "family_name": "Smith", "dob": dt.date(1984, 7, 30),
         "postcode": "M14 5TQ", "address": "81 Wilmslow Road, Manchester"},
        {"given_names": "Jonathan", "family_name": "Smyth", "dob": dt.date(1984, 3, 21),
         "postcode": "L8 1XX", "address": "2 Park Road, Liverpool"},
    ]
    con = duckdb.connect()
    labels = encode(con, {"force a": WORLD[:200] + twins[:1],
                          "force b": WORLD[100:300] + twins[1:2],
                          "force c": WORLD[250:350] + twins[2:]})
    link(con)
    entity = entity_of(con, labels)
    assert len({entity["force a/200"], entity["force b/200"], entity["force c/100"]}) == 3


def test_clustering_is_transitive():
    """A knows name and birth date, C knows birth date and address, B knows both: no key
    joins A and C directly, yet all three are one person."""
    p = WORLD[0]
    a = {**p, "postcode": None, "address": None}
    c = {**p, "given_names": None, "family_name": None}
    con = duckdb.connect()
    labels = encode(con, {"force a": WORLD[1:100] + [a], "force b": WORLD[50:150] + [p],
                          "force c": WORLD[120:200] + [c]})
    link(con)
    entity = entity_of(con, labels)
    assert entity["force a/99"] == entity["force b/100"] == entity["force c/80"]
    direct = con.execute("""
        SELECT count(*) FROM person_links
        WHERE (force_a, force_b) IN (('force a', 'force c'), ('force c', 'force a'))
          AND (ref_a, ref_b) IN (SELECT (x.ref, y.ref) FROM entities x, entities y
                                 WHERE x.entity_id = y.entity_id)""").fetchone()[0]
    assert direct == 0


def test_same_identifier_token_means_same_entity():
    con = duckdb.connect()
    labels = encode(con, {"force a": WORLD[:50], "force b": WORLD[30:80]}, identifiers=[
        ("force a", "phone A", "phone", "+447700900123"),
        ("force b", "phone B", "phone", "+447700900123"),
        ("force c", "phone C", "phone", "+447700900123"),
        ("force b", "other phone", "phone", "+447700900999"),
        ("force a", "email", "email", "+447700900123"),  # same text, other kind
    ])
    link(con)
    entity = entity_of(con, labels)
    assert entity["phone A"] == entity["phone B"] == entity["phone C"]
    assert entity["other phone"] != entity["phone A"]
    assert entity["email"] != entity["phone A"]
    kinds = con.execute("SELECT DISTINCT kind FROM entities WHERE entity_id = ?",
                        [entity["phone A"]]).fetchall()
    assert kinds == [("phone",)]


def test_within_force_duplicates_join_unless_settings_say_they_are_the_forces_business():
    dup = {**WORLD[10], "family_name": typo(WORLD[10]["family_name"], random.Random(1))}
    # force B shares 50 people with A, so the learnt share of matches is not zero
    forces = {"force a": WORLD[:100] + [dup], "force b": WORLD[50:150]}
    con = duckdb.connect()
    labels = encode(con, forces)
    link(con, LinkageSettings(cross_force_only=True))
    assert entity_of(con, labels)["force a/10"] != entity_of(con, labels)["force a/100"]
    link(con)
    assert entity_of(con, labels)["force a/10"] == entity_of(con, labels)["force a/100"]


def test_one_partner_per_force_unless_settings_allow_more():
    """Force A holds one man twice (its own duplicate); B's record links to one of them."""
    p = WORLD[5]
    forces = {"force a": WORLD[:100] + [dict(p)], "force b": WORLD[50:150] + [dict(p)]}
    con = duckdb.connect()
    encode(con, forces)
    link(con, LinkageSettings(one_to_one_sibling_weight=None, one_to_one_sibling_support=None))
    partners = "SELECT count(*) FROM person_links WHERE force_b = 'force b'"
    one = con.execute(partners).fetchone()[0]
    link(con, LinkageSettings(one_to_one=False))
    assert con.execute(partners).fetchone()[0] == one + 1


def test_linking_twice_gives_the_same_entities(store):
    con, labels = store
    before = entity_of(con, labels)
    link(con)
    assert entity_of(con, labels) == before


def test_a_phone_recorded_against_both_persons_adds_evidence():
    """Lily Reid in A and Lily Reed in B: names sound alike, birth dates disagree — too weak
    alone. The same two phone numbers recorded against both add the support the settings
    give each shared identifier, and tip the balance (the fixed support of the setting
    `identifier_keys = false`; by default what a shared identifier says is learnt:
    tests/coordinator/test_linkage_evidence.py)."""
    lily = {"given_names": "Lily", "family_name": "Reid", "dob": dt.date(1990, 4, 5),
            "postcode": None, "address": None}
    reed = {**lily, "family_name": "Reed", "dob": dt.date(1968, 6, 20)}
    con = duckdb.connect()
    labels = encode(con, {"force a": WORLD[:200] + [lily], "force b": WORLD[100:300] + [reed]})
    strong_support = LinkageSettings(identifier_keys=False, identifier_support_bits=20)
    link(con, strong_support)
    assert entity_of(con, labels)["force a/200"] != entity_of(con, labels)["force b/200"]
    ref = {label: ref for ref, label in labels.items()}
    for number in ("+447700900123", "+447700900456"):
        for label, force in (("force a/200", "force a"), ("force b/200", "force b")):
            con.execute("INSERT INTO tokens VALUES (?, ?, 'phone', ?)",
                        [force, ref[label], TOKENISER.token("phone", number)])
    link(con, LinkageSettings(identifier_keys=False, identifier_support_bits=0))
    assert entity_of(con, labels)["force a/200"] != entity_of(con, labels)["force b/200"]
    link(con, strong_support)
    assert entity_of(con, labels)["force a/200"] == entity_of(con, labels)["force b/200"]


def test_chance_agreement_per_key_counts_tokens_held_only_once():
    # ubar_k = sum over values of (share of references holding it)^2; blocking keeps only
    # repeated tokens, so a token held once must still add its 1/total^2
    from coordinator.blocking import block_persons, number_nodes

    con = duckdb.connect()
    encode(con, two_forces())
    number_nodes(con)
    block_persons(con, LinkageSettings())
    got = dict(con.execute("""SELECT k.token_kind, f.ubar FROM lk_kind_freq f
                              JOIN lk_kinds k USING (kind_id)""").fetchall())
    direct = dict(con.execute("""
        SELECT token_kind, sum(n * n) / (sum(n) * sum(n)) FROM (
            SELECT token_kind, count(*)::DOUBLE AS n FROM tokens GROUP BY token_kind, token)
        GROUP BY token_kind""").fetchall())
    assert got.keys() == direct.keys()
    assert all(got[k] == pytest.approx(direct[k], rel=1e-12) for k in direct)
