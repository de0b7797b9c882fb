"""Differential privacy: OpenDP noise, and a per-purpose budget that is spent on record."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest

from federation.errors import CrossforceError
from policies.model import parse_policy
from policies.privacy_budget import (
    BudgetExceeded,
    PrivacyBudget,
    laplace_measurement,
    noisy_counts,
)

POLICY = """\
[purpose]
code = "TOEX-CSE"
lawful_basis = "DPA 2018 Part 3 s.31, a test purpose"

[privacy]
epsilon = 0.5
budget = 1.0
"""


@pytest.fixture
def con():
    connection = duckdb.connect()
    yield connection
    connection.close()


def test_each_release_is_recorded_against_its_purpose(con) -> None:
    budget = PrivacyBudget.for_policy(con, parse_policy(POLICY))
    noisy_counts(budget, np.array([120, 45, 33]), epsilon=0.5, query="offences_by_year",
                 policy_version="abc")
    rows = con.execute("SELECT purpose, query, epsilon, policy_version "
                       "FROM privacy_budget").fetchall()
    assert rows == [("TOEX-CSE", "offences_by_year", 0.5, "abc")]
    assert budget.spent() == pytest.approx(0.5)
    assert budget.remaining() == pytest.approx(0.5)


def test_a_query_over_budget_is_refused_and_nothing_is_recorded(con) -> None:
    budget = PrivacyBudget(con, "TOEX-CSE", total=1.0)
    noisy_counts(budget, np.array([50]), epsilon=0.5, query="q1")
    noisy_counts(budget, np.array([50]), epsilon=0.5, query="q2")
    with pytest.raises(BudgetExceeded) as refused:
        noisy_counts(budget, np.array([50]), epsilon=0.5, query="q3")
    assert str(refused.value) == (
        "privacy budget for purpose TOEX-CSE exhausted: query 'q3' needs epsilon 0.5 but only "
        "0 of 1 is left (1 spent); no counts were released")
    assert isinstance(refused.value, CrossforceError)  # the CLI shows it as a one-line error
    assert con.execute("SELECT count(*) FROM privacy_budget").fetchall() == [(2,)]


def test_budgets_are_per_purpose(con) -> None:
    cse = PrivacyBudget(con, "TOEX-CSE", total=0.5)
    lines = PrivacyBudget(con, "TOEX-COUNTY-LINES", total=0.5)
    noisy_counts(cse, np.array([10]), epsilon=0.5, query="q")
    with pytest.raises(BudgetExceeded):
        cse.check(0.1, "q")
    lines.check(0.5, "q")  # untouched


def test_spending_survives_reopening_the_node_store(tmp_path) -> None:
    path = tmp_path / "node.duckdb"
    with duckdb.connect(str(path)) as first:
        PrivacyBudget(first, "TOEX-CSE", 1.0).charge(0.75, "q1")
    with duckdb.connect(str(path)) as second:
        budget = PrivacyBudget(second, "TOEX-CSE", 1.0)
        assert budget.spent() == pytest.approx(0.75)
        with pytest.raises(BudgetExceeded):
            budget.charge(0.5, "q2")


def test_a_charge_rolls_back_with_the_callers_transaction(con) -> None:
    budget = PrivacyBudget(con, "TOEX-CSE", 1.0)
    con.execute("BEGIN")
    budget.charge(0.5, "q1")
    con.execute("ROLLBACK")
    assert budget.spent() == 0


def test_float_sums_of_epsilons_fit_an_equal_budget(con) -> None:
    budget = PrivacyBudget(con, "P", 0.3)
    budget.charge(0.1, "a")
    budget.charge(0.2, "b")  # 0.1 + 0.2 = 0.30000000000000004
    with pytest.raises(BudgetExceeded):
        budget.charge(0.01, "c")


def test_a_policy_without_privacy_has_no_budget(con) -> None:
    plain = parse_policy(POLICY.split("[privacy]")[0])
    with pytest.raises(CrossforceError, match="has no \\[privacy\\] section"):
        PrivacyBudget.for_policy(con, plain)


def test_noise_is_calibrated_by_opendp_to_epsilon_and_sensitivity() -> None:
    assert laplace_measurement(0.5).map(1) == pytest.approx(0.5)
    # a person in up to 3 cells needs three times the noise for the same epsilon
    assert laplace_measurement(0.5, max_contributions=3).map(3) == pytest.approx(0.5)


def test_noisy_counts_are_unbiased_and_never_negative(con) -> None:
    budget = PrivacyBudget(con, "P", 10.0)
    truth = np.full(20_000, 100, dtype=np.int64)
    noisy = noisy_counts(budget, truth, epsilon=1.0, query="big")
    # scale 1: sd of the mean is ~0.01, so 0.2 is a 20-sigma bound — never flaky
    assert abs(noisy.mean() - 100) < 0.2
    assert (noisy != 100).mean() > 0.3  # noise really was added (P(zero) ~ 0.46 at scale 1)
    zeros = noisy_counts(budget, np.zeros(5_000, dtype=np.int64), epsilon=1.0, query="zeros")
    assert zeros.min() == 0 and zeros.max() > 0


def test_bad_epsilon_is_rejected(con) -> None:
    budget = PrivacyBudget(con, "P", 1.0)
    with pytest.raises(ValueError, match="epsilon"):
        budget.charge(0.0, "q")
    with pytest.raises(ValueError, match="epsilon"):
        laplace_measurement(-1.0)
