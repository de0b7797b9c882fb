"""Aggregates for the national secure sum: the same build and gate as egress, mapped onto
the national layout; and `release = "secure-sum"` keeps them out of share sets."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from egress_nodes import canary_template, copy_node, scenario_template

from node.egress import AggregatesRefused, check_aggregates, egress, release_aggregates
from policies.model import parse_policy
from policies.national_tables import NationalLayout

POLICY = """
[purpose]
code = "TEST-SECURE-SUM"
lawful_basis = "Test only: national counts through a secure sum."

[aggregates]
dimensions = ["offence_category", "year", "role", "outcome_code", "ethnicity", "age_band"]
{release}
{interval}

[disclosure]
threshold = 1
rounding = 1
secondary_suppression = false
"""
SHARE_SET = parse_policy(POLICY.format(release="", interval=""))
#: the tests release the same node more than once: no interval between releases
SECURE_TEXT = POLICY.format(release='release = "secure-sum"',
                            interval="release_interval_days = 0")
SECURE_SUM = parse_policy(SECURE_TEXT)
#: the shipped default: one release per purpose a day
ONCE_A_DAY = parse_policy(POLICY.format(release='release = "secure-sum"', interval=""))
CRIMES = NationalLayout(tables=("crimes_by_category_year", "crimes_by_outcome_year"),
                        years=(2021, 2022))


@pytest.fixture
def canary(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    return copy_node(canary_template(tmp_path_factory), tmp_path / "canary")


@pytest.fixture
def scenario(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    return copy_node(scenario_template(tmp_path_factory), tmp_path / "scenario")


def ledger(node: Path) -> list[tuple]:
    con = duckdb.connect(str(node / "node.duckdb"), read_only=True)
    try:
        return con.execute("SELECT action, recipients, counts, payload_hash FROM ledger "
                           "ORDER BY seq").fetchall()
    finally:
        con.close()


def counts_by_cell(layout: NationalLayout, counts: list[int]) -> dict[tuple[str, ...], int]:
    """{(table, dim values...): count} for the non-zero cells."""
    cells = layout.cells.to_pylist()
    return {(c["name"], *json.loads(c["cell"]).values()): n
            for c, n in zip(cells, counts, strict=True) if n}


def test_secure_sum_keeps_aggregates_out_of_the_share_set(scenario: Path) -> None:
    shared = egress(scenario, policy=SHARE_SET, dry_run=True)
    secure = egress(scenario, policy=SECURE_SUM, dry_run=True)
    assert shared.share_set.aggregates.num_rows > 0
    assert secure.share_set.aggregates.num_rows == 0
    assert secure.summary["aggregate_rows"] == 0
    assert secure.share_set.tokens.num_rows == shared.share_set.tokens.num_rows


def test_counts_land_on_their_national_cells(canary: Path) -> None:
    # canary crimes: C1 2021 (cse, cce, group; outcome OC16), C2 2022 (cse, group; open)
    release = release_aggregates(canary, CRIMES, policy=SECURE_SUM)
    assert counts_by_cell(CRIMES, release.counts.tolist()) == {
        ("crimes_by_category_year", "cse", "2021"): 1,
        ("crimes_by_category_year", "cse", "2022"): 1,
        ("crimes_by_category_year", "cce", "2021"): 1,
        ("crimes_by_category_year", "group", "2021"): 1,
        ("crimes_by_category_year", "group", "2022"): 1,
        ("crimes_by_outcome_year", "OC16", "2021"): 1,
        ("crimes_by_outcome_year", "open", "2022"): 1,
    }
    assert release.outside_layout == 0 and len(release.counts) == CRIMES.size


def test_cells_outside_the_layout_are_counted_not_sent(canary: Path) -> None:
    only_2022 = NationalLayout(tables=("crimes_by_category_year",), years=(2022, 2022))
    release = release_aggregates(canary, only_2022, policy=SECURE_SUM)
    assert counts_by_cell(only_2022, release.counts.tolist()) == {
        ("crimes_by_category_year", "cse", "2022"): 1,
        ("crimes_by_category_year", "group", "2022"): 1}
    assert release.outside_layout == 3  # the three 2021 cells


def test_the_gate_controls_what_goes_into_the_sum(canary: Path) -> None:
    strict = parse_policy(SECURE_TEXT
                          .replace("threshold = 1", "threshold = 2"))
    release = release_aggregates(canary, CRIMES, policy=strict)
    assert release.counts.sum() == 0  # every count of 1 is under the threshold
    assert release.suppressed == 7


def test_each_release_is_one_disclosure_with_counts_only(canary: Path) -> None:
    before = len(ledger(canary))
    release_aggregates(canary, CRIMES, policy=SECURE_SUM)
    entries = ledger(canary)
    assert len(entries) == before + 1
    action, recipients, counts, payload_hash = entries[-1]
    counts = json.loads(counts) if isinstance(counts, str) else dict(counts)
    assert action == "disclosure" and payload_hash is None
    assert counts == {"aggregate_cells": CRIMES.size, "aggregate_cells_nonzero": 7,
                      "aggregate_cells_suppressed": 0, "aggregate_cells_outside_layout": 0}


@pytest.mark.parametrize("kwargs, reason", [
    ({"purpose": "TOEX-CSE"}, "purpose TOEX-CSE is not in this force's sharing policy"),
    ({"layout": NationalLayout(tables=("persons_by_role_age_band",), years=(2021, 2022)),
      "policy": parse_policy(SECURE_TEXT
                             .replace(', "age_band"', ""))},
     "the sharing policy does not allow the dimensions of persons_by_role_age_band"),
    ({"policy": SHARE_SET}, "this force releases its aggregates in its share set"),
])
def test_a_refusal_names_the_rule_and_releases_nothing(canary: Path, kwargs: dict,
                                                       reason: str) -> None:
    before = ledger(canary)
    args = {"layout": CRIMES, "policy": SECURE_SUM, **kwargs}
    with pytest.raises(AggregatesRefused, match=reason):
        release_aggregates(canary, args.pop("layout"), **args)
    assert ledger(canary) == before


def test_differential_privacy_is_charged_per_release(canary: Path) -> None:
    from policies.privacy_budget import BudgetExceeded

    noisy = parse_policy(SECURE_TEXT
                         + "\n[privacy]\nepsilon = 1.0\nbudget = 3.0\n")
    release_aggregates(canary, CRIMES, policy=noisy)  # two tables: epsilon 2 spent
    spent = duckdb.connect(str(canary / "node.duckdb"), read_only=True)
    try:
        assert spent.execute("SELECT sum(epsilon) FROM privacy_budget").fetchone()[0] == 2.0
    finally:
        spent.close()
    before = ledger(canary)
    with pytest.raises(BudgetExceeded):  # a second release would overspend: nothing leaves
        release_aggregates(canary, CRIMES, policy=noisy)
    assert ledger(canary) == before


def test_the_dry_run_says_why_no_aggregate_is_in_the_share_set(cli, scenario: Path,  # noqa: ANN001
                                                                 tmp_path: Path) -> None:
    policy = tmp_path / "secure.toml"
    policy.write_text(POLICY.format(release='release = "secure-sum"', interval=""))
    shown = cli("node", "share", "--dir", scenario, "--policy", policy, "--dry-run")
    assert shown.code == 0, shown
    assert "only inside the national secure sum" in " ".join(shown.out.split())
    as_json = cli("node", "share", "--dir", scenario, "--policy", policy, "--dry-run", "--json")
    assert json.loads(as_json.out)["aggregates_release"] == "secure-sum"
    plain = cli("node", "share", "--dir", scenario, "--policy", policy.with_name("x.toml"),
                "--dry-run")
    assert plain.code == 2 and "x.toml" in plain.err


def test_a_second_release_within_the_interval_is_refused(canary: Path) -> None:
    """Two sums over different sets of forces, subtracted, would give one force's vector
    away: by default a force releases into a secure sum once a day per purpose."""
    first = release_aggregates(canary, CRIMES, policy=ONCE_A_DAY)
    assert first.ledger_entry is not None
    before = ledger(canary)
    for attempt in (lambda: check_aggregates(canary, CRIMES, policy=ONCE_A_DAY),
                    lambda: release_aggregates(canary, CRIMES, policy=ONCE_A_DAY)):
        with pytest.raises(AggregatesRefused, match=r"already released its aggregates into "
                           r"a secure sum for TEST-SECURE-SUM at .* one release every 1 "
                           r"day\(s\) \(\[aggregates\] release_interval_days\)"):
            attempt()
    assert ledger(canary) == before  # a refusal releases and records nothing
    assert release_aggregates(canary, CRIMES, policy=SECURE_SUM).ledger_entry is not None
