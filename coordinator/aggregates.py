"""National aggregates: per-category counts summed over forces, never one force's count shown.

Two sources, one table shape (purpose, table, cell, count, forces, forces_suppressed, method):

- **share-sets** — the aggregate tables forces put in their signed share sets, after their
  own gate's disclosure control (suppressed below the threshold, rounded). Summed on read
  over each force's current submission, so a superseded or withdrawn payload never counts.
  A cell some force suppressed is a lower bound: ``forces_suppressed`` says how many.
- **secure-sum** — what a SecAgg+ round produced (``record_secure_sum``): the coordinator
  only ever saw the national vector, so that is all it can store. The latest round per
  purpose replaces the one before.

Either way the sums are of counts that already passed a force's gate, so the national
figures add no disclosure risk a force's own release did not already accept.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from federation.errors import CrossforceError

SHARE_SETS, SECURE_SUM = "share-sets", "secure-sum"
METHODS = (SHARE_SETS, SECURE_SUM)

NATIONAL_SQL = f"""
SELECT s.purpose, a.name, a.cell,
       CAST(sum(a.count) AS BIGINT) AS count,
       CAST(count(a.count) AS INTEGER) AS forces,
       CAST(count(*) FILTER (WHERE a.count IS NULL) AS INTEGER) AS forces_suppressed,
       '{SHARE_SETS}' AS method
FROM aggregates a JOIN submissions s USING (payload_id)
WHERE s.superseded_by IS NULL
GROUP BY ALL
UNION ALL
SELECT purpose, name, cell, count, contributors AS forces,
       CAST(NULL AS INTEGER) AS forces_suppressed, '{SECURE_SUM}' AS method
FROM secure_sums
"""


@dataclass(frozen=True)
class NationalSummary:
    """How much a national aggregate read holds (counts of cells, never their values)."""

    purpose: str
    tables: int
    cells: int
    forces: int
    cells_with_suppression: int
    by_method: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return {"purpose": self.purpose, "tables": self.tables, "cells": self.cells,
                "forces": self.forces, "cells_with_suppression": self.cells_with_suppression,
                "cells_by_method": dict(self.by_method)}


def national_aggregates(con: duckdb.DuckDBPyConnection, *, purpose: str | None = None,
                        table: str | None = None, method: str | None = None) -> pa.Table:
    """National counts per (purpose, table, cell, method), ordered for reading."""
    if method is not None and method not in METHODS:
        raise CrossforceError(f"unknown aggregation method {method!r}; one of "
                              f"{', '.join(METHODS)}")
    return con.sql(
        f"""SELECT * FROM ({NATIONAL_SQL})
            WHERE ($purpose IS NULL OR purpose = $purpose)
              AND ($table IS NULL OR name = $table)
              AND ($method IS NULL OR method = $method)
            ORDER BY purpose, method, name, cell""",
        params={"purpose": purpose, "table": table, "method": method}).to_arrow_table()


def summarise(con: duckdb.DuckDBPyConnection, purpose: str) -> NationalSummary:
    """Counts of what the national aggregates for ``purpose`` hold."""
    ((tables, cells, suppressed, by_method, forces),) = con.execute(
        f"""SELECT count(DISTINCT name), count(*),
                   count(*) FILTER (WHERE forces_suppressed > 0),
                   coalesce(histogram(method), MAP {{}}),
                   greatest(
                       (SELECT count(DISTINCT a.force) FROM aggregates a
                        JOIN submissions s USING (payload_id)
                        WHERE s.superseded_by IS NULL AND s.purpose = $purpose),
                       (SELECT coalesce(max(contributors), 0) FROM secure_sums
                        WHERE purpose = $purpose))
            FROM ({NATIONAL_SQL}) WHERE purpose = $purpose""",
        {"purpose": purpose}).fetchall()
    return NationalSummary(purpose, int(tables), int(cells), int(forces), int(suppressed),
                           {str(k): int(v) for k, v in sorted(dict(by_method).items())})


def record_secure_sum(con: duckdb.DuckDBPyConnection, *, purpose: str, epoch: int,
                      cells: Sequence[tuple[str, str]], counts: Sequence[int],
                      contributors: int) -> int:
    """Store one secure-sum round's national vector (replacing the purpose's last one).

    ``cells`` is the layout the nodes filled, ``counts`` the summed vector in that order.
    Call it inside the transaction that also writes the ledger entry."""
    if len(cells) != len(counts):
        raise CrossforceError(f"secure sum has {len(counts)} counts for {len(cells)} cells")
    if contributors < 2:
        raise CrossforceError("a secure sum needs at least 2 contributing forces (one force's "
                              "vector would be its own counts)")
    names, cell_json = zip(*cells, strict=True) if cells else ((), ())
    rows = pa.table({"name": pa.array(names, pa.string()), "cell": pa.array(cell_json,
                                                                            pa.string()),
                     "count": pa.array(np.asarray(counts, dtype=np.int64))})
    con.register("_secure_sum_in", rows)
    try:
        bad = con.execute("""
            SELECT name, cell FROM _secure_sum_in
            WHERE NOT CASE WHEN json_valid(cell) THEN json_type(cell) = 'OBJECT' ELSE false END
            LIMIT 1""").fetchall()
        if bad:
            raise CrossforceError(f"secure-sum cell {bad[0][1]!r} of {bad[0][0]} is not a "
                                  "JSON object")
        if con.execute("SELECT count(*) FROM _secure_sum_in WHERE count < 0").fetchall()[0][0]:
            raise CrossforceError("secure sum holds a negative count (the masks did not "
                                  "cancel)")
        con.execute("DELETE FROM secure_sums WHERE purpose = ?", [purpose])
        con.execute(
            """INSERT INTO secure_sums
               SELECT $purpose, $epoch, name, cell, count, $contributors,
                      now()::TIMESTAMP FROM _secure_sum_in""",
            {"purpose": purpose, "epoch": epoch, "contributors": contributors})
    finally:
        con.unregister("_secure_sum_in")
    return rows.num_rows


def rows_for_reading(table: pa.Table) -> list[dict[str, Any]]:
    """Rows with ``cell`` parsed into its dimensions (what the CLI and JSON show)."""
    rows = table.to_pylist()
    for row in rows:
        row["table"] = row.pop("name")
        row["cell"] = json.loads(row["cell"])
    return rows


# --------------------------------------------------------------------------- recording

#: the national view of recording consistency: columns -> (table, cells summed); a cell is
#: "dimension=value,..." and every listed cell is summed
_RECORDING_PARTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "r3_cases": ("cse_recording", ("rule=r3",)),
    "r3_flagged": ("cse_recording", ("rule=r3,flagged=flagged",)),
    "r3_not_flagged": ("cse_recording", ("rule=r3,flagged=partly",
                                         "rule=r3,flagged=not_flagged")),
    "flagged_failing_r1": ("cse_recording", ("rule=none,flagged=flagged",
                                             "rule=none,flagged=partly")),
    "r3_suspect_ethnicity": ("cse_completeness", ("rule=r3,completeness=ethnicity_self:",)),
    "r3_suspect_ethnicity_blank": ("cse_completeness",
                                   ("rule=r3,completeness=ethnicity_self:blank",)),
    "r3_suspect_nationality": ("cse_completeness", ("rule=r3,completeness=nationality:",)),
    "r3_suspect_nationality_blank": ("cse_completeness",
                                     ("rule=r3,completeness=nationality:blank",)),
}


def recording_consistency(con: duckdb.DuckDBPyConnection,
                          purpose: str | None = None) -> list[dict[str, Any]]:
    """Per force (from its current share set) and nationally: cases meeting R3 of the
    national CSE definition, how many the force flagged (recording accuracy), mis-flags and
    the blank rates of R3 suspects' ethnicity and nationality. Counts are the forces' own
    released ones (suppressed under their threshold, rounded), so a figure with a
    suppressed part is a lower bound (``suppressed`` lists which); shares of rounded counts
    are approximate."""
    rows = con.sql("""
        SELECT a.force, a.name, a.cell, a.count FROM aggregates a
        JOIN submissions s USING (payload_id)
        WHERE s.superseded_by IS NULL AND ($purpose IS NULL OR s.purpose = $purpose)
          AND a.name IN ('cse_recording', 'cse_completeness')""",
                   params={"purpose": purpose}).fetchall()
    cells: dict[str, list[tuple[str, str, int | None]]] = {}
    for force, name, cell, count in rows:
        flat = ",".join(f"{k}={v}" for k, v in json.loads(cell).items())
        cells.setdefault(force, []).append((name, flat, count))
    out = [_recording_row(force, cells[force]) for force in sorted(cells)]
    if out:
        national = [c for force in sorted(cells) for c in cells[force]]
        out.append(_recording_row("national (all forces)", national))
    return out


def _recording_row(force: str, cells: list[tuple[str, str, int | None]]) -> dict[str, Any]:
    row: dict[str, Any] = {"force": force, "suppressed": []}
    for column, (table, wanted) in _RECORDING_PARTS.items():
        parts = [count for name, flat, count in cells if name == table
                 and any(flat.startswith(w) for w in wanted)]
        row[column] = sum(c for c in parts if c is not None) if parts else None
        if any(c is None for c in parts):
            row["suppressed"].append(column)

    def share(part: str, whole: str) -> float | None:
        if part in row["suppressed"] or whole in row["suppressed"] or not row[whole]:
            return None
        return round(row[part] / row[whole], 3)

    row["recording_accuracy"] = share("r3_flagged", "r3_cases")
    row["r3_suspect_ethnicity_blank_rate"] = share("r3_suspect_ethnicity_blank",
                                                   "r3_suspect_ethnicity")
    row["r3_suspect_nationality_blank_rate"] = share("r3_suspect_nationality_blank",
                                                     "r3_suspect_nationality")
    return row
