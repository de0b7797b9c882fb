"""`[aggregates] release` and the national layout every force and the coordinator share."""

from __future__ import annotations

import pytest

from policies.model import PolicyError, parse_policy
from policies.national_tables import (
    DOMAINS,
    MAX_CELL_COUNT,
    MAX_FORCES,
    NATIONAL_TABLES,
    TABLE_DIMENSIONS,
    NationalLayout,
)

AGGREGATES = """
[aggregates]
dimensions = ["offence_category", "year"]
"""


def test_release_defaults_to_the_share_set(minimal_policy_text: str) -> None:
    assert parse_policy(minimal_policy_text).aggregates.release == "share-set"


def test_writing_the_default_out_keeps_the_version(minimal_policy_text: str) -> None:
    base = parse_policy(minimal_policy_text + AGGREGATES)
    explicit = parse_policy(minimal_policy_text + AGGREGATES + 'release = "share-set"\n')
    secure = parse_policy(minimal_policy_text + AGGREGATES + 'release = "secure-sum"\n')
    assert explicit.version == base.version
    assert secure.version != base.version
    assert secure.aggregates.release == "secure-sum"


def test_a_bad_release_names_the_line_and_the_choices(minimal_policy_text: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(minimal_policy_text + AGGREGATES + 'release = "secure"\n', "p.toml")
    assert caught.value.problems == [
        "p.toml:7: [aggregates] release: 'secure' is not an aggregates release (did you "
        "mean 'secure-sum'?); expected one of share-set, secure-sum"]


def test_policy_show_says_how_aggregates_leave(cli, write_policy,  # noqa: ANN001
                                               minimal_policy_text: str) -> None:
    shared = cli("policy", "show", write_policy(minimal_policy_text + AGGREGATES))
    assert "aggregates leave in the share set: the coordinator sees this force's" \
        in shared.out
    secure = cli("policy", "show", write_policy(
        minimal_policy_text + AGGREGATES + 'release = "secure-sum"\n', "secure.toml"))
    assert "aggregates leave only inside a national secure sum (Flower SecAgg+): the " \
           "coordinator sees sums over forces, never this force's counts" in secure.out


# --------------------------------------------------------------------------- layout


def test_the_same_parameters_give_the_same_cells_in_any_order() -> None:
    a = NationalLayout(tables=("persons_by_role_year", "crimes_by_category_year"),
                       years=(2020, 2021))
    b = NationalLayout(tables=("crimes_by_category_year", "persons_by_role_year"),
                       years=(2020, 2021))
    assert a.cells.equals(b.cells)
    assert a.tables == ("crimes_by_category_year", "persons_by_role_year")
    categories, roles = len(DOMAINS["offence_category"]), len(DOMAINS["role"])
    assert a.size == categories * 2 + roles * 2
    assert a.cells.slice(0, 2).to_pylist() == [
        {"position": 0, "name": "crimes_by_category_year",
         "cell": '{"offence_category":"cse","year":"2020"}'},
        {"position": 1, "name": "crimes_by_category_year",
         "cell": '{"offence_category":"cse","year":"2021"}'}]


def test_open_domains_have_no_national_layout() -> None:
    assert "persons_by_role_nationality" in TABLE_DIMENSIONS
    assert "persons_by_role_nationality" not in NATIONAL_TABLES
    assert "victim" not in DOMAINS["role"]  # victims are never shown in aggregates


def test_the_cell_range_sums_exactly_for_every_force_in_england_and_wales() -> None:
    assert MAX_FORCES >= 43
    assert MAX_FORCES * 2 * MAX_CELL_COUNT < 2**32


def test_egress_builds_the_national_tables_with_the_same_dimensions() -> None:
    from node.egress import AGGREGATES

    assert {name: dims for name, (dims, _) in AGGREGATES.items()} == TABLE_DIMENSIONS
