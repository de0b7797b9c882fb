"""Disclosure control without labels that leak (issue #20, item 3).

Real nodes (``node init``, ``node ingest``, real egress and gate):

* a force with ONE suspect releases exactly what a force with none releases — every cell of
  the closed national layout, each suppressed (NULL), so a suppressed cell and a zero are
  the same thing and no cell says "1-9 persons with this ethnicity, nationality, year";
* nationality and ethnicity are read against their code lists: a date of birth, phone
  number, postcode or name written there stays raw in the node and leaves only as
  ``other``;
* successive share sets are protected by cell-key perturbation: the same data gives the
  same counts, and adding one suspect does not show up as exactly +1 in that suspect's
  cells.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from egress_nodes import make_node

from node.egress import CELL_KEY_PERTURBATION, egress
from policies.model import default_policy, parse_policy
from policies.national_tables import DOMAINS, share_set_layout, share_set_years
from policies.payload_rules import check_share_set

CSE = default_policy("cse-national")

PERSON_HEADER = ("person_id,given_names,family_name,dob,sex,ethnicity_self,"
                 "ethnicity_officer,nationality\n")
CRIMES = """crime_id,ho_offence_code,date_from,outcome_code,flag_cse,flag_cce,flag_group
C1,88A,2021-03-04,OC16,true,false,true
C9,105A,2019-05-05,,false,true,false
"""


def build(root: Path, persons: list[str], roles: list[str], name: str = "Testshire",
          crimes: str = CRIMES) -> Path:
    inputs = root / "in"
    inputs.mkdir(parents=True)
    (inputs / "persons.csv").write_text(PERSON_HEADER + "\n".join(persons) + "\n")
    (inputs / "crimes.csv").write_text(crimes)
    (inputs / "roles.csv").write_text("crime_id,person_id,role\n" + "\n".join(roles) + "\n")
    return make_node(root, name, inputs)


def cells(share) -> list[tuple[str, str]]:  # noqa: ANN001
    return list(zip(share.aggregates.column("name").to_pylist(),
                    share.aggregates.column("cell").to_pylist(), strict=True))


# --------------------------------------------------------------------------- one suspect


@pytest.fixture(scope="module")
def lone_and_empty(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("lone-suspect")
    lone = build(root / "lone",
                 ["S1,Kyle,Brennan,1998-03-14,M,W1,IC1,GBR", "X1,Dean,Whitlock,2001-06-30,M,,,"],
                 ["C1,S1,suspect", "C9,X1,suspect"])
    # the same force with nobody in scope (X1's crime is out of the CSE scope)
    empty = build(root / "empty", ["X1,Dean,Whitlock,2001-06-30,M,,,"], ["C9,X1,suspect"])
    return lone, empty


def test_a_single_suspect_force_releases_every_cell_and_nothing_else(
        lone_and_empty: tuple[Path, Path]) -> None:
    lone, _ = lone_and_empty
    share = egress(lone, dry_run=True).share_set
    tables = ("crimes_by_category_year", "crimes_by_outcome_year", "persons_by_role_year",
              "persons_by_role_ethnicity", "persons_by_role_nationality", "cse_recording",
              "cse_completeness")
    layout = share_set_layout(tables, share_set_years(CSE.scope.date_from, CSE.scope.date_to))
    assert cells(share) == list(zip(layout.column("name").to_pylist(),
                                    layout.column("cell").to_pylist(), strict=True))
    # the suspect's cells (W1, GBR, 2021, OC16) are there, suppressed like every other
    suspect = {("persons_by_role_ethnicity", '{"role":"suspect","ethnicity":"W1"}'),
               ("persons_by_role_nationality", '{"role":"suspect","nationality":"GBR"}'),
               ("persons_by_role_year", '{"role":"suspect","year":"2021"}'),
               ("crimes_by_outcome_year", '{"outcome_code":"OC16","year":"2021"}')}
    assert suspect <= set(cells(share))
    assert share.aggregates.column("count").null_count == share.aggregates.num_rows
    assert share.disclosure == (10, 5)
    assert check_share_set(share) == []


def test_one_suspect_is_indistinguishable_from_none(lone_and_empty: tuple[Path, Path]) -> None:
    lone, empty = lone_and_empty
    a = egress(lone, dry_run=True).share_set.aggregates
    b = egress(empty, dry_run=True).share_set.aggregates
    assert a.equals(b)


# --------------------------------------------------------------------------- disguised values


PERMISSIVE = """
[purpose]
code = "TEST-LABELS"
lawful_basis = "Test only: the weakest disclosure control, to see every label."

[share]
roles = ["suspect", "offender", "facilitator"]
attributes = ["ethnicity", "nationality"]

[aggregates]
dimensions = ["role", "ethnicity", "nationality", "year", "offence_category"]

[disclosure]
threshold = 1
rounding = 1
secondary_suppression = false
"""

#: (ethnicity_self, ethnicity_officer, nationality) as written — a DOB, phone numbers,
#: postcodes and names where codes belong, and a few real codes as recorders write them
DISGUISED = [
    ("1998-03-14", "07700 900123", "14/03/1998"),
    ("Brennan", "LS1 4DY", "+447700900123"),
    ("Kyle Brennan", "BD7 1DP", "07700900456"),
    ("PR1 2HE", "Whitlock", "LS1 4DY"),
    ("2001-06-30", "Dean", "Kyle Brennan"),
    ("447700900789", "30.06.2001", "Okonjo-Hale"),
    ("w1", " ic3", "gbr"),
    ("NS", "IC1", "POL"),
]
RAW = {v for row in DISGUISED for v in row} - {"w1", " ic3", "gbr", "NS", "IC1", "POL"}


@pytest.fixture(scope="module")
def disguised(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("disguised")
    persons = [f"D{i},Given{chr(65 + i)},Family{chr(65 + i)},1990-01-0{i + 1},M,"
               f"\"{e}\",\"{o}\",\"{n}\"" for i, (e, o, n) in enumerate(DISGUISED)]
    return build(root, persons, [f"C1,D{i},suspect" for i in range(len(DISGUISED))])


def test_disguised_values_are_kept_raw_in_the_node(disguised: Path) -> None:
    con = duckdb.connect(str(disguised / "node.duckdb"), read_only=True)
    try:
        kept = {v for row in con.execute("SELECT ethnicity_self, ethnicity_officer, "
                                         "nationality FROM persons").fetchall() for v in row}
    finally:
        con.close()
    assert kept >= RAW


def test_disguised_values_leave_only_as_other(disguised: Path, tmp_path: Path) -> None:
    policy = parse_policy(PERMISSIVE)
    result = egress(disguised, policy=policy, out=tmp_path / "share.cfsub")
    share = result.share_set
    assert check_share_set(share) == []  # what the coordinator will check, passes
    labels: set[str] = set()
    for cell in share.aggregates.column("cell").to_pylist():
        labels |= set(json.loads(cell).values())
    for column in ("ethnicity", "nationality"):
        values = set(share.items.column(column).to_pylist()) - {None}
        assert values <= set(DOMAINS[column]), column
        assert "other" in values
        labels |= values
    assert not RAW & labels
    # the codes written in lower case or with spaces are read as the codes they are
    assert {"W1", "IC3", "GBR", "POL", "NS"} <= labels
    released = {(json.loads(c).get("nationality"), n) for c, n in zip(
        share.aggregates.column("cell").to_pylist(),
        share.aggregates.column("count").to_pylist(), strict=True)}
    assert any(nat == "other" and n for nat, n in released)
    payload = (tmp_path / "share.cfsub").read_bytes()
    for raw in RAW:
        assert raw.encode() not in payload, raw


# --------------------------------------------------------------------------- successive releases


def test_successive_share_sets_do_not_difference_to_one_suspect(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    root = tmp_path_factory.mktemp("successive")
    people = [f"S{i},Given{chr(65 + i)},Family{chr(65 + i)},1990-02-0{i + 1},M,"
              f"{eth},,{nat}" for i, (eth, nat) in enumerate(
                  [("W1", "GBR"), ("W1", "GBR"), ("A1", "PAK"), ("W1", "POL"),
                   ("B2", "NGA"), ("W1", "GBR")])]
    before = build(root / "before", people[:5], [f"C1,S{i},suspect" for i in range(5)])
    after = build(root / "after", people, [f"C1,S{i},suspect" for i in range(6)])
    policy = parse_policy(PERMISSIVE)

    first = egress(before, policy=policy, dry_run=True).share_set.aggregates
    again = egress(before, policy=policy, dry_run=True).share_set.aggregates
    second = egress(after, policy=policy, dry_run=True).share_set.aggregates
    assert first.equals(again)  # the same records always give the same counts

    def counts(table) -> dict[tuple[str, str], int]:  # noqa: ANN001
        return {(n, c): k or 0 for n, c, k in zip(*(table.column(x).to_pylist()
                                                    for x in ("name", "cell", "count")),
                                                  strict=True)}

    a, b = counts(first), counts(second)
    assert a.keys() == b.keys()  # the same cells either way
    changed = {cell: b[cell] - a[cell] for cell in a if b[cell] != a[cell]}
    new_suspect = {("persons_by_role_year", '{"role":"suspect","year":"2021"}'),
                   ("persons_by_role_ethnicity", '{"role":"suspect","ethnicity":"W1"}'),
                   ("persons_by_role_nationality", '{"role":"suspect","nationality":"GBR"}')}
    # without perturbation the difference would be exactly +1 in each of these cells
    assert changed != dict.fromkeys(new_suspect, 1)
    # and the perturbation is small: every released count is within its bounds of truth
    truth_after = {("persons_by_role_year", '{"role":"suspect","year":"2021"}'): 6,
                   ("persons_by_role_ethnicity", '{"role":"suspect","ethnicity":"W1"}'): 4,
                   ("persons_by_role_nationality", '{"role":"suspect","nationality":"GBR"}'): 3}
    for cell, true in truth_after.items():
        assert abs(b[cell] - true) <= max(abs(d) for d in CELL_KEY_PERTURBATION)


def test_ingest_side_check_counts_values_off_their_code_lists() -> None:
    from node.validate import code_list_flags

    con = duckdb.connect()
    con.execute("CREATE TABLE staged (ethnicity_self VARCHAR, ethnicity_officer VARCHAR, "
                "nationality VARCHAR)")
    con.executemany("INSERT INTO staged VALUES (?, ?, ?)",
                    [list(row) for row in DISGUISED] + [[None, None, None]])
    flags = code_list_flags(con, "staged", ["ethnicity_self", "ethnicity_officer",
                                            "nationality"])
    assert flags == {"ethnicity_self": {"not_on_code_list": 6},
                     "ethnicity_officer": {"not_on_code_list": 6},
                     "nationality": {"not_on_code_list": 6}}


def test_an_outcome_off_its_list_is_counted_nowhere_not_a_refusal(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    from node.egress import release_aggregates
    from policies.national_tables import NationalLayout

    root = tmp_path_factory.mktemp("odd-outcome")
    crimes = CRIMES.replace("C1,88A,2021-03-04,OC16,", "C1,88A,2021-03-04,charged see notes,")
    node = build(root, ["S1,Kyle,Brennan,1998-03-14,M,W1,IC1,GBR"], ["C1,S1,suspect"],
                 crimes=crimes)
    policy = parse_policy(PERMISSIVE.replace('"offence_category"]', '"offence_category", '
                                             '"outcome_code"]'))
    share = egress(node, policy=policy, dry_run=True).share_set
    assert check_share_set(share) == []
    secure = parse_policy(PERMISSIVE.replace("[disclosure]", 'release = "secure-sum"\n'
                                             "release_interval_days = 0\n\n[disclosure]")
                          .replace('"offence_category"]', '"offence_category", '
                                   '"outcome_code"]'))
    layout = NationalLayout(tables=("crimes_by_outcome_year",), years=(2021, 2021))
    assert release_aggregates(node, layout, policy=secure).counts.sum() == 0
