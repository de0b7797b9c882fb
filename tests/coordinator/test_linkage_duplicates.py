"""Forces that hold one person several times: linkage no longer assumes one record per person
per force (issue #11). A person's references join one entity, namesakes stay apart, a
prolific person's repeated name still blocks, and the same store always links the same way.
Plus the settings file the CLI reads."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

import duckdb
import pytest
from coordinator_payloads import (  # noqa: F401  (fixtures)
    DEAN,
    KYLE,
    MARCUS,
    Federation,
    federation,
    federation_template,
)
from linkage_data import encode, entity_of, population, typo

from coordinator.linkage import link
from coordinator.settings import LinkageSettings
from federation.errors import CrossforceError

WORLD = population(400, seed=21)


def _slips(person: dict, seed: int) -> list[dict]:
    """Three records of one person as a force might hold them: as is, a surname typo, no
    postcode or address."""
    rng = random.Random(seed)
    return [dict(person), {**person, "family_name": typo(person["family_name"], rng)},
            {**person, "postcode": None, "address": None}]


def test_several_references_of_one_person_in_one_force_join_one_entity():
    kyle, dean = WORLD[7], WORLD[8]
    forces = {"force a": WORLD[:150] + _slips(kyle, 1),          # a/150..152
              "force b": WORLD[100:250] + _slips(kyle, 2)[:2],  # b/150..151
              "force c": WORLD[250:350] + _slips(dean, 3)}      # c/100..102: one force only
    con = duckdb.connect()
    labels = encode(con, forces)
    link(con)
    entity = entity_of(con, labels)
    kyles = {entity[x] for x in ("force a/7", "force a/150", "force a/151", "force a/152",
                                 "force b/150", "force b/151")}
    assert len(kyles) == 1
    # a force's own duplicates join even when no other force holds the person
    assert entity["force c/100"] == entity["force c/101"] == entity["force c/102"]
    # and nobody else was pulled in
    members = [k for k, v in entity.items() if v in kyles]
    assert sorted(members) == sorted(["force a/7", "force a/150", "force a/151", "force a/152",
                                      "force b/150", "force b/151"])


def test_cross_force_only_keeps_a_forces_duplicates_apart_unless_another_force_joins_them():
    dean = WORLD[8]
    # force B shares 50 people with A, so the learnt share of matches is not zero
    forces = {"force a": WORLD[:100] + _slips(dean, 4)[:2], "force b": WORLD[50:150]}
    con = duckdb.connect()
    labels = encode(con, forces)
    link(con, LinkageSettings(cross_force_only=True))
    assert entity_of(con, labels)["force a/100"] != entity_of(con, labels)["force a/101"]
    link(con)
    assert entity_of(con, labels)["force a/100"] == entity_of(con, labels)["force a/101"]


def test_namesakes_with_wholly_different_birth_dates_do_not_link_in_or_across_forces():
    glover = {"given_names": "Charles", "family_name": "Glover"}
    a1 = {**glover, "dob": dt.date(1989, 7, 30), "postcode": "PR1 2HE",
          "address": "14 Fishergate Hill, Preston"}
    a2 = {**glover, "dob": dt.date(1961, 2, 3), "postcode": "PR8 1AA",
          "address": "2 Lord Street, Southport"}
    b1 = {**glover, "dob": dt.date(1975, 11, 14), "postcode": "S70 2TA",
          "address": "3 Church Street, Barnsley"}
    con = duckdb.connect()
    labels = encode(con, {"force a": WORLD[:200] + [a1, a2], "force b": WORLD[150:350] + [b1]})
    link(con)
    entity = entity_of(con, labels)
    assert len({entity["force a/200"], entity["force a/201"], entity["force b/200"]}) == 3


def test_a_prolific_persons_repeated_tokens_still_block():
    """One man recorded 40 times by force A (over a cap of 20 references per token), once
    by force B: his tokens are held by one person, not 41, so they still block."""
    prolific = WORLD[9]
    forces = {"force a": WORLD[:100] + [dict(prolific) for _ in range(40)],
              "force b": WORLD[300:] + [dict(prolific)]}
    con = duckdb.connect()
    labels = encode(con, forces)
    link(con, LinkageSettings(max_token_frequency=20, max_token_references=200))
    entity = entity_of(con, labels)
    his = {entity[f"force a/{i}"] for i in range(100, 140)} | {entity["force a/9"],
                                                               entity["force b/100"]}
    assert len(his) == 1
    # a token held by more people than the cap still does not block
    con2 = duckdb.connect()
    labels2 = encode(con2, forces)
    link(con2, LinkageSettings(max_token_frequency=20, max_token_references=30))
    assert entity_of(con2, labels2)["force b/100"] != entity_of(con2, labels2)["force a/9"]


def _tables(con: duckdb.DuckDBPyConnection) -> tuple[list, list]:
    return (con.execute("SELECT * FROM entities ORDER BY ALL").fetchall(),
            con.execute("SELECT * FROM person_links ORDER BY ALL").fetchall())


def test_the_same_store_links_to_byte_identical_tables():
    rng = random.Random(8)
    forces = {"force a": WORLD[:220] + [dict(WORLD[5]), dict(WORLD[6])],
              "force b": [{**p, "family_name": typo(p["family_name"], rng)}
                          if rng.random() < 0.3 else p for p in WORLD[120:330]],
              "force c": WORLD[300:] + WORLD[:30]}
    runs = []
    for threads in (1, 2, 4):
        con = duckdb.connect()
        con.execute(f"SET threads = {threads}")
        encode(con, forces)
        link(con)
        first = _tables(con)
        link(con)
        assert _tables(con) == first
        runs.append(first)
    assert runs[0] == runs[1] == runs[2]
    assert runs[0][1], "some person links"


# --------------------------------------------------------------------------- settings file

def test_a_settings_file_is_read_into_linkage_settings(tmp_path: Path):
    path = tmp_path / "linkage.toml"
    path.write_text('match_probability = 0.9\ncross_force_only = true\n'
                    'identifier_kinds = ["phone", "email"]\n')
    s = LinkageSettings.from_file(path)
    assert (s.match_probability, s.cross_force_only, s.identifier_kinds) == (
        0.9, True, ("phone", "email"))
    path.write_text("[linkage]\nveto_weight = -5.0\n")
    assert LinkageSettings.from_file(path).veto_weight == -5.0


@pytest.mark.parametrize(("text", "says"), [
    ("match_probabilty = 0.9\n", "match_probabilty: Extra inputs are not permitted"),
    ("match_probability = 1.5\n", "match_probability: Input should be less than 1"),
    ("one_to_one = 'sometimes'\n", "one_to_one: Input should be a valid boolean"),
    ("match_probability = \n", "not a valid TOML file"),
])
def test_a_bad_settings_file_is_one_clear_error_naming_file_and_field(tmp_path: Path, text,
                                                                      says):
    path = tmp_path / "linkage.toml"
    path.write_text(text)
    with pytest.raises(CrossforceError) as err:
        LinkageSettings.from_file(path)
    assert str(err.value).startswith(f"{path}: ")
    assert says in str(err.value)
    assert "\n" not in str(err.value)


def test_a_missing_settings_file_says_so(tmp_path: Path):
    with pytest.raises(CrossforceError, match="cannot read linkage settings file"):
        LinkageSettings.from_file(tmp_path / "nope.toml")


def test_link_command_takes_a_settings_file_and_reports_it(federation: Federation,  # noqa: F811
                                                           cli, tmp_path: Path):
    for name, force, people in (("l", federation.lancs, [KYLE, DEAN]),
                                ("w", federation.wyp, [KYLE, MARCUS])):
        cli("coordinator", "submit", "--dir", federation.dir,
            federation.write(f"{name}.cfsub", force.payload(people)))
    settings = tmp_path / "linkage.toml"
    settings.write_text("match_probability = 0.9\nveto_weight = -20.0\n")
    result = cli("coordinator", "link", "--dir", federation.dir, "--settings", settings,
                 "--json")
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert summary["settings"]["match_probability"] == 0.9
    assert summary["settings"]["veto_weight"] == -20.0
    assert summary["settings"]["cross_force_only"] is False  # a default, shown too
    assert summary["person_links"] == 1
    settings.write_text("match_probability = 2\n")
    bad = cli("coordinator", "link", "--dir", federation.dir, "--settings", settings)
    assert bad.code == 2
    assert f"{settings}: bad linkage settings: match_probability" in bad.err


def test_the_readme_settings_example_is_valid(tmp_path: Path):
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    example = text.split("```toml\n# linkage.toml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "linkage.toml"
    path.write_text(example)
    assert LinkageSettings.from_file(path).match_probability == 0.9


def test_the_round_reads_its_linkage_settings_from_the_coordinator_folder(
        federation: Federation, cli, tmp_path: Path):  # noqa: F811
    from coordinator.service import ROUND_LINKAGE_SETTINGS, open_service

    folder = Path(federation.dir)
    bad = tmp_path / "bad.toml"
    bad.write_text("veto_weight = 'high'\n")
    refused = cli("coordinator", "run", "--dir", folder, "--purpose", "op-test",
                  "--settings", bad)
    assert refused.code == 2
    assert f"{bad}: bad linkage settings: veto_weight" in refused.err
    path = folder / ROUND_LINKAGE_SETTINGS
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("match_probability = 0.8\n")
    with open_service(folder) as service:
        assert service.linkage.match_probability == 0.8


def test_a_force_holding_one_person_twice_gives_the_other_force_two_partners_not_a_namesake():
    """Force B's resolution left two records of Kyle apart (a surname typo, no address on
    one). Force A's one record of Kyle takes both as partners — one-to-one would have let
    it take only the better — while a namesake in force B (same names, another date of
    birth and home) is no second partner: his pair with Kyle's record has a date against it."""
    kyle = WORLD[30]
    rng = random.Random(5)
    twice = [dict(kyle), {**kyle, "family_name": typo(kyle["family_name"], rng),
                          "postcode": None, "address": None}]
    namesake = {**WORLD[31], "given_names": kyle["given_names"],
                "family_name": kyle["family_name"]}
    forces = {"force a": WORLD[:100] + [kyle],                 # a/100
              "force b": WORLD[200:300] + twice + [namesake]}  # b/100, b/101, b/102
    con = duckdb.connect()
    labels = encode(con, forces)
    link(con)
    entity = entity_of(con, labels)
    assert entity["force a/100"] == entity["force b/100"] == entity["force b/101"]
    assert entity["force b/102"] != entity["force a/100"]
    con2 = duckdb.connect()
    labels2 = encode(con2, forces)
    link(con2, LinkageSettings(one_to_one_sibling_weight=None, one_to_one_sibling_support=None,
                               within_force_weight=1000))
    entity2 = entity_of(con2, labels2)
    # without the rules (and no pair inside a force linking), one-to-one leaves one of
    # force B's records out
    assert len({entity2[k] for k in ("force a/100", "force b/100", "force b/101")}) == 2


def _mangled_person() -> dict[str, dict]:
    """One man as four records: two clean ones; R with the given name mistyped and
    another postcode and town; M with no date of birth and the street mistyped. R and M
    share little but the sound of the name: their own pair scores -34 bits, below the
    veto, while each shares 35 bits with the clean records."""
    p = {"given_names": "William", "family_name": "Lazaroff", "dob": dt.date(1978, 2, 4),
         "postcode": "LS6 2AB", "address": "12 Leahy Close, Millwood"}
    return {"clean": p, "clean2": dict(p),
            "r": {**p, "given_names": "Wiloiam", "postcode": "LS6 3XY",
                  "address": "21 Ennis Place, Milltown"},
            "m": {**p, "dob": None, "address": "12 Leah Ylose, Millwood"}}


def test_a_mangled_record_stays_with_its_person_though_one_of_its_pairs_is_vetoed():
    """The veto weighs groups: M's links to the clean records outweigh its one bad pair
    with R. Weighed pair by pair, the one vetoed pair split M (or R) off its person."""
    him = _mangled_person()
    forces = {"force a": WORLD[:200] + [him["r"]], "force b": WORLD[150:350] + [him["clean"]],
              "force c": WORLD[300:] + WORLD[:40] + [him["m"], him["clean2"]]}
    con = duckdb.connect()
    labels = encode(con, forces)
    records = ("force a/200", "force b/200", "force c/140", "force c/141")
    link(con)
    entity = entity_of(con, labels)
    assert len({entity[r] for r in records}) == 1
    link(con, LinkageSettings(veto_groups=False))
    entity = entity_of(con, labels)
    assert len({entity[r] for r in records}) == 2


def _held_twice_apart() -> dict[str, dict]:
    """Joshua Kennealy as one force's clean record and another force's two records its
    resolution left apart: one with no family name, one with the names swapped, no house
    number and the street mistyped. The two share little but the date of birth and
    postcode, so their own pair scores below 0 bits."""
    p = {"given_names": "Joshua", "family_name": "Kennealy", "dob": dt.date(1988, 2, 10),
         "postcode": "LS25 1AB", "address": "585 Bardolph Street, Garforth"}
    return {"clean": p, "no_surname": {**p, "family_name": None},
            "swapped": {**p, "given_names": "Kennealy", "family_name": "Joshua",
                        "address": "Bardolphu Street, Garforth"}}


def test_a_record_that_vouches_for_two_of_another_forces_records_takes_both():
    """Force A's record shares 25+ bits with each of force B's two records of Joshua,
    whose own pair says little either way: one-to-one would take only the better; the
    sibling rule needs that pair itself to favour a match; `one_to_one_sibling_support`
    lets A's record vouch for both."""
    him = _held_twice_apart()
    forces = {"force a": WORLD[:200] + [him["clean"]],
              "force b": WORLD[150:350] + [him["no_surname"], him["swapped"]]}
    records = ("force a/200", "force b/200", "force b/201")
    con = duckdb.connect()
    labels = encode(con, forces)
    link(con)
    entity = entity_of(con, labels)
    assert len({entity[r] for r in records}) == 1
    assert sum(v == entity[records[0]] for v in entity.values()) == 3
    link(con, LinkageSettings(one_to_one_sibling_support=None))
    entity = entity_of(con, labels)
    assert len({entity[r] for r in records}) == 2


def test_the_strict_floor_judges_pairs_across_forces_only():
    """`cross_force_strict_floor`: a pair across forces needs at least that strict weight
    (FEBRL4's false links scored +5 bits by the per-key chance count, -3 counted once).
    Raised above every pair here, force A's Kyle no longer joins force B's two records
    of him, while B's own pair (judged by `within_force_weight`) still does."""
    kyle = WORLD[30]
    twice = [dict(kyle), {**kyle, "family_name": typo(kyle["family_name"], random.Random(5)),
                          "postcode": None, "address": None}]
    forces = {"force a": WORLD[:100] + [kyle], "force b": WORLD[200:300] + twice}
    con = duckdb.connect()
    labels = encode(con, forces)
    link(con)
    entity = entity_of(con, labels)
    assert entity["force a/100"] == entity["force b/100"] == entity["force b/101"]
    link(con, LinkageSettings(cross_force_strict_floor=1000.0))
    entity = entity_of(con, labels)
    assert entity["force b/100"] == entity["force b/101"] != entity["force a/100"]
    link(con, LinkageSettings(cross_force_strict_floor=None))
    assert entity_of(con, labels)["force a/100"] == entity_of(con, labels)["force b/100"]
