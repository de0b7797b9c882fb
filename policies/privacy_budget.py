"""Differential privacy for aggregate counts, with a per-purpose budget that is spent on record.

Noise comes from OpenDP's discrete Laplace mechanism (``make_laplace`` over integer vectors),
never from hand-written sampling. One aggregate table is one query: it costs the
``epsilon`` the policy sets, with L1 sensitivity ``max_contributions`` (how many cells of the
table one person can change), so the noise scale is ``max_contributions / epsilon``.

The budget of a purpose is the policy's ``[privacy] budget``; every release is a row in the
``privacy_budget`` table on the connection passed in (the node passes its store connection).
The row is written *before* the noisy counts are returned, and with no commit of its own, so
a release and its charge commit or roll back together in the caller's transaction. A query
that would take the spending over budget is refused with :class:`BudgetExceeded`.
"""

from __future__ import annotations

import math

import duckdb
import numpy as np
import opendp.prelude as dp

from federation.errors import CrossforceError
from policies.model import SharePolicy

dp.enable_features("contrib")

#: slack for float sums of epsilons (0.1 + 0.2 must fit a budget of 0.3)
_TOLERANCE = 1e-9


class BudgetExceeded(CrossforceError):
    """A differentially private release would spend more than the purpose's budget."""


class PrivacyBudget:
    """The privacy budget of one purpose, recorded in the ``privacy_budget`` table."""

    def __init__(self, con: duckdb.DuckDBPyConnection, purpose: str, total: float) -> None:
        if total <= 0:
            raise ValueError("a privacy budget must be positive")
        self.con, self.purpose, self.total = con, purpose, float(total)
        con.execute(
            """
            CREATE TABLE IF NOT EXISTS privacy_budget (
                spent_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
                purpose VARCHAR NOT NULL,
                query VARCHAR NOT NULL,
                epsilon DOUBLE NOT NULL CHECK (epsilon > 0),
                policy_version VARCHAR
            )
            """
        )

    @classmethod
    def for_policy(cls, con: duckdb.DuckDBPyConnection, policy: SharePolicy) -> PrivacyBudget:
        if policy.privacy is None:
            raise CrossforceError(
                f"policy for purpose {policy.purpose.code} has no [privacy] section, so it "
                "has no differential-privacy budget")
        return cls(con, policy.purpose.code, policy.privacy.budget)

    def spent(self) -> float:
        (row,) = self.con.execute(
            "SELECT coalesce(sum(epsilon), 0) FROM privacy_budget WHERE purpose = ?",
            [self.purpose],
        ).fetchall()
        return float(row[0])

    def remaining(self) -> float:
        return max(0.0, self.total - self.spent())

    def check(self, epsilon: float, query: str) -> None:
        """Raise :class:`BudgetExceeded` if ``epsilon`` more would go over; record nothing."""
        spent = self.spent()
        if spent + epsilon > self.total + _TOLERANCE:
            raise BudgetExceeded(
                f"privacy budget for purpose {self.purpose} exhausted: query '{query}' needs "
                f"epsilon {epsilon:g} but only {max(0.0, self.total - spent):g} of "
                f"{self.total:g} is left ({spent:g} spent); no counts were released")

    def charge(self, epsilon: float, query: str, policy_version: str | None = None) -> None:
        """Record spending ``epsilon`` on ``query``, or refuse if it would go over budget."""
        if not (epsilon > 0 and math.isfinite(epsilon)):
            raise ValueError(f"epsilon must be a positive number, got {epsilon!r}")
        self.check(epsilon, query)
        self.con.execute(
            "INSERT INTO privacy_budget (purpose, query, epsilon, policy_version) "
            "VALUES (?, ?, ?, ?)",
            [self.purpose, query, float(epsilon), policy_version],
        )


def laplace_measurement(epsilon: float, max_contributions: int = 1) -> dp.Measurement:
    """OpenDP discrete Laplace over a vector of counts, calibrated to ``epsilon``."""
    if epsilon <= 0 or max_contributions < 1:
        raise ValueError("epsilon must be positive and max_contributions at least 1")
    space = dp.vector_domain(dp.atom_domain(T="i64")), dp.l1_distance(T="i64")
    return dp.m.make_laplace(*space, scale=max_contributions / epsilon)


def noisy_counts(budget: PrivacyBudget, counts: np.ndarray, *, epsilon: float,
                 max_contributions: int = 1, query: str,
                 policy_version: str | None = None) -> np.ndarray:
    """Charge the budget, then return the counts with discrete Laplace noise (clamped at 0).

    The charge is the epsilon OpenDP's privacy map reports for the measurement, so float
    rounding in the scale can never make a release cost more than was recorded.
    """
    measurement = laplace_measurement(epsilon, max_contributions)
    cost = float(measurement.map(max_contributions))
    budget.charge(cost, query, policy_version)
    values = np.asarray(counts, dtype=np.int64)
    if values.size == 0:
        return values
    noisy = np.asarray(measurement(values.tolist()), dtype=np.int64)
    return np.maximum(noisy, 0)  # post-processing: a count is never negative
