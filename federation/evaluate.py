"""Score what the federation found against a synthetic scenario's planted truth.

Only a synthetic scenario has a truth, so this is for the demo, tests and benches: it
joins each force's *resolved* hits (its own person ids with the national entity and
network ids the coordinator sent back) with ``truth/persons.csv``. Pairwise scores, as
record-linkage evaluations usually report them:

- **person links**: pairs of person records in *different* forces that are the same real
  person. Predicted = both records resolved to the same national entity.
- **network membership**: pairs of person records (any forces) in the same planted
  network. Predicted = both records resolved into the same cross-force network.

Both are restricted to the records in scope, i.e. the persons the forces shared.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

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


def score(
    truth_dir: Path, resolved: pa.Table, scope: pa.Table
) -> dict[str, Score]:
    """Person-link and network-membership scores.

    ``resolved``: (force, person_id, entity_id, network_id) for every hit the forces
    resolved; ``scope``: (force, person_id) of every person record the forces shared.
    """
    missing = [c for c in RESOLVED_COLUMNS if c not in resolved.column_names]
    if missing:
        raise ValueError(f"resolved hits lack columns {missing}")
    con = duckdb.connect()
    try:
        con.register("resolved_in", resolved)
        con.register("scope_in", scope)
        con.execute(
            "CREATE TEMP TABLE truth AS SELECT force, person_id, real_id, network_id "
            "FROM read_csv(?, header = true, all_varchar = true)",
            [str(truth_dir / "persons.csv")],
        )
        con.execute("""
            CREATE TEMP TABLE rec AS
            SELECT s.force, s.person_id, t.real_id, t.network_id AS true_network,
                   r.entity_id, r.network_id AS found_network
            FROM (SELECT DISTINCT force, person_id FROM scope_in) s
            JOIN truth t USING (force, person_id)
            LEFT JOIN (SELECT force, person_id, any_value(entity_id) AS entity_id,
                              any_value(network_id) AS network_id
                       FROM resolved_in GROUP BY ALL) r USING (force, person_id)
        """)
        links = _pair_score(con, "real_id", "entity_id", cross_force=True)
        membership = _pair_score(con, "true_network", "found_network", cross_force=False)
    finally:
        con.close()
    return {"person_links": links, "network_membership": membership}


def _pair_score(con: duckdb.DuckDBPyConnection, truth_col: str, found_col: str,
                cross_force: bool) -> Score:
    """Count record pairs that agree in truth and/or in the findings, without listing
    all pairs: pairs sharing a value = sum over groups of n·(n-1)/2 (minus same-force)."""
    def pairs(group_cols: str) -> int:
        cols = [c.strip() for c in group_cols.split(",")]
        where = " AND ".join(f"{c} IS NOT NULL" for c in cols)
        total = con.execute(
            f"SELECT coalesce(sum(n * (n - 1) // 2), 0) FROM "
            f"(SELECT count(*) AS n FROM rec WHERE {where} GROUP BY {group_cols})"
        ).fetchall()[0][0]
        if not cross_force:
            return int(total)
        same_force = con.execute(
            f"SELECT coalesce(sum(n * (n - 1) // 2), 0) FROM "
            f"(SELECT count(*) AS n FROM rec WHERE {where} GROUP BY {group_cols}, force)"
        ).fetchall()[0][0]
        return int(total - same_force)

    in_truth = pairs(truth_col)
    found = pairs(found_col)
    both = pairs(f"{truth_col}, {found_col}")
    return Score.from_counts(both, found - both, in_truth - both)
