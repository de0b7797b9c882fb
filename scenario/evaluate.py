"""Score what the federation found against a synthetic scenario's planted truth.

Only a synthetic scenario has a truth, so this is for the demo, tests and benches: it
joins each force's *resolved* hits (its own person ids with the national entity and
network ids the coordinator sent back) with ``truth/persons.csv``. Pairwise scores, as
record-linkage evaluations usually report them:

- **person links**: pairs of person records in *different* forces that are the same real
  person, both held openly (a record the scope marks `shown = false`, a victim's, is told
  nothing of other forces' records by design, so it is not scored here). Predicted = both
  records resolved to the same national entity.
- **network membership**: pairs of person records (any forces) in the same planted
  network. Predicted = both records resolved into the same cross-force network.

Both are restricted to the records in scope, i.e. the persons the forces shared.

A pair score says *how much* is wrong, not *who*: :func:`network_makeup` says, per found
network, which planted network most of its persons belong to and what the others are
(members of another planted network, look-alikes, or people in no planted network at all —
e.g. another group's offender glued on by an incidental contact).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

RESOLVED_COLUMNS = ("force", "person_id", "entity_id", "network_id")


@dataclass(frozen=True)
class Score:
    precision: float
    recall: float
    f1: float
    true_positives: int
    false_positives: int
    false_negatives: int

    @classmethod
    def from_counts(cls, tp: int, fp: int, fn: int) -> Score:
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + fn) if tp + fn else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return cls(precision, recall, f1, tp, fp, fn)

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


@dataclass(frozen=True)
class Makeup:
    """Who one found network's persons really are, counted as real persons (a person
    several forces recorded counts once)."""

    network_id: int
    persons: int
    main_network: str | None  # the planted network most of its persons belong to
    members: int              # persons of main_network
    other_networks: int       # persons of other planted networks
    lookalikes: int           # look-alikes of a planted person (in no network themselves)
    outsiders: int            # persons in no planted network, not look-alikes

    def as_dict(self) -> dict[str, int | str | None]:
        return asdict(self)


def score(
    truth_dir: Path, resolved: pa.Table, scope: pa.Table
) -> dict[str, Score]:
    """Person-link and network-membership scores.

    ``resolved``: (force, person_id, entity_id, network_id) for every hit the forces
    resolved; ``scope``: (force, person_id) of every person record the forces shared.
    """
    con = _records(truth_dir, resolved, scope)
    try:
        # a force hears of another force's record of the same person only when both hold
        # it openly: a victim-only record is never named to anyone (DESIGN.md §1.3)
        con.execute("CREATE TEMP VIEW rec_open AS SELECT * FROM rec WHERE shown")
        links = _pair_score(con, "real_id", "entity_id", cross_force=True, table="rec_open")
        membership = _pair_score(con, "true_network", "found_network", cross_force=False)
    finally:
        con.close()
    return {"person_links": links, "network_membership": membership}


def network_makeup(truth_dir: Path, resolved: pa.Table, scope: pa.Table) -> list[Makeup]:
    """Per found network (largest first), the planted truth of the persons in it; same
    inputs as :func:`score`."""
    con = _records(truth_dir, resolved, scope)
    try:
        rows = con.execute("""
            WITH persons AS (
                SELECT DISTINCT found_network, real_id, true_network, is_lookalike
                FROM rec WHERE found_network IS NOT NULL),
            main AS (  -- the planted network with most persons here; a tie: the first id
                SELECT found_network, true_network AS main_network
                FROM (SELECT found_network, true_network, count(*) AS n FROM persons
                      WHERE true_network IS NOT NULL GROUP BY found_network, true_network)
                QUALIFY row_number() OVER (PARTITION BY found_network
                                           ORDER BY n DESC, true_network) = 1)
            SELECT p.found_network, count(*), any_value(m.main_network),
                   count(*) FILTER (WHERE p.true_network = m.main_network),
                   count(*) FILTER (WHERE p.true_network <> m.main_network),
                   count(*) FILTER (WHERE p.true_network IS NULL AND p.is_lookalike),
                   count(*) FILTER (WHERE p.true_network IS NULL AND NOT p.is_lookalike)
            FROM persons p LEFT JOIN main m USING (found_network)
            GROUP BY p.found_network ORDER BY count(*) DESC, p.found_network""").fetchall()
    finally:
        con.close()
    return [Makeup(*row) for row in rows]


def _records(truth_dir: Path, resolved: pa.Table, scope: pa.Table
             ) -> duckdb.DuckDBPyConnection:
    """A connection holding `rec`: each person record in scope with its truth (real
    person, planted network, look-alike flag) and what was found (entity, network)."""
    missing = [c for c in RESOLVED_COLUMNS if c not in resolved.column_names]
    if missing:
        raise ValueError(f"resolved hits lack columns {missing}")
    con = duckdb.connect()
    try:
        con.register("resolved_in", resolved)
        con.register("scope_in", scope)
        con.execute(
            "CREATE TEMP TABLE truth AS SELECT force, person_id, real_id, network_id, "
            "coalesce(is_lookalike = 'true', false) AS is_lookalike "
            "FROM read_csv(?, header = true, all_varchar = true)",
            [str(truth_dir / "persons.csv")],
        )
        shown = "bool_or(shown)" if "shown" in scope.column_names else "true"
        con.execute(f"""
            CREATE TEMP TABLE rec AS
            SELECT s.force, s.person_id, s.shown, t.real_id, t.network_id AS true_network,
                   t.is_lookalike, r.entity_id, r.network_id AS found_network
            FROM (SELECT force, person_id, {shown} AS shown FROM scope_in
                  GROUP BY force, person_id) s
            JOIN truth t USING (force, person_id)
            LEFT JOIN (SELECT force, person_id, any_value(entity_id) AS entity_id,
                              any_value(network_id) AS network_id
                       FROM resolved_in GROUP BY ALL) r USING (force, person_id)
        """)
    except BaseException:
        con.close()
        raise
    return con


def _pair_score(con: duckdb.DuckDBPyConnection, truth_col: str, found_col: str,
                cross_force: bool, table: str = "rec") -> Score:
    """Count record pairs that agree in truth and/or in the findings, without listing
    all pairs: pairs sharing a value = sum over groups of n·(n-1)/2 (minus same-force)."""
    def pairs(group_cols: str) -> int:
        cols = [c.strip() for c in group_cols.split(",")]
        where = " AND ".join(f"{c} IS NOT NULL" for c in cols)
        total = con.execute(
            f"SELECT coalesce(sum(n * (n - 1) // 2), 0) FROM "
            f"(SELECT count(*) AS n FROM {table} WHERE {where} GROUP BY {group_cols})"
        ).fetchall()[0][0]
        if not cross_force:
            return int(total)
        same_force = con.execute(
            f"SELECT coalesce(sum(n * (n - 1) // 2), 0) FROM "
            f"(SELECT count(*) AS n FROM {table} WHERE {where} GROUP BY {group_cols}, "
            "force)"
        ).fetchall()[0][0]
        return int(total - same_force)

    in_truth = pairs(truth_col)
    found = pairs(found_col)
    both = pairs(f"{truth_col}, {found_col}")
    return Score.from_counts(both, found - both, in_truth - both)


def score_cse(con: duckdb.DuckDBPyConnection, cases_csv: Path, force: str) -> dict[str, Any]:
    """The national CSE definition's outcomes (the temp tables ``cse_cases`` and
    ``cse_review`` a node analysis leaves on ``con``) against ``truth/cases.csv`` for one
    force: R3 true/false positives and misses against truly group-based cases, the truth's
    recording accuracy, review eligibility disagreements. Leaves the temp table ``truth``."""
    con.execute("CREATE OR REPLACE TEMP TABLE truth AS SELECT * FROM read_csv(?) "
                "WHERE force = ?", [str(cases_csv), force])
    ((tp, fp, fn, flag_tp, truth_accuracy, eligible, mismatches),) = con.execute("""
        SELECT count(*) FILTER (WHERE c.r3 AND t.group_cse),
               count(*) FILTER (WHERE c.r3 AND NOT coalesce(t.group_cse, false)),
               count(*) FILTER (WHERE NOT coalesce(c.r3, false) AND t.group_cse),
               count(*) FILTER (WHERE t.group_cse AND t.flagged_correctly),
               avg(t.flagged_correctly::INT) FILTER (WHERE t.group_cse),
               count(*) FILTER (WHERE t.review_eligible),
               count(*) FILTER (WHERE coalesce(t.review_eligible, false)
                                <> coalesce(r.eligible, false))
        FROM cse_cases c FULL JOIN truth t USING (crime_id)
        LEFT JOIN cse_review r USING (crime_id)""").fetchall()
    return {"tp": tp, "fp": fp, "fn": fn, "flag_tp": flag_tp,
            "truth_accuracy": truth_accuracy or 0.0, "eligible": eligible,
            "eligibility_mismatches": mismatches}
