"""What the national view of recording consistency counts, on the node, before egress's
gate: every child sexual offence or flagged crime in the policy's date window by the
highest rule of the national definition it meets and the force's own flags, and the R6
status of each of its suspects. Egress turns these into the ``cse_recording`` and
``cse_completeness`` aggregates (policies/national_tables.py), which pass disclosure control
like every aggregate; nothing here leaves the node as it is.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from node.analyses._cse_fill import FIELDS, build_fill
from node.analyses._cse_rules import evaluate
from policies.definition import national_definition

#: aggregate tables built from these inputs
CSE_TABLES = ("cse_recording", "cse_completeness")

RULE_SQL = """CASE WHEN r1 IS NULL THEN 'cannot_evaluate' WHEN r3 THEN 'r3' WHEN r2 THEN 'r2'
                   WHEN r1 THEN 'r1' ELSE 'none' END"""
FLAGGED_SQL = "CASE WHEN flagged THEN 'flagged' WHEN any_flag THEN 'partly' ELSE 'not_flagged' END"

#: SQL of (dims..., rid) per table, over the eg_cse_* tables
AGGREGATE_SQL = {
    "cse_recording": "SELECT rule, flagged, crime_id AS rid FROM eg_cse_cases",
    "cse_completeness": "SELECT rule, completeness, rid FROM eg_cse_completeness",
}


def build_inputs(con: duckdb.DuckDBPyConnection, person_map: str,
                 date_from: dt.date | None, date_to: dt.date | None) -> None:
    """Temp tables ``eg_cse_cases`` (crime_id, rule, flagged) and ``eg_cse_completeness``
    (rule, completeness, rid) under the national definition."""
    d = national_definition()
    evaluate(con, d, person_map=person_map)
    build_fill(con, d)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE eg_cse_cases AS
        SELECT crime_id, {RULE_SQL} AS rule, {FLAGGED_SQL} AS flagged FROM cse_cases
        WHERE (list_contains($codes, ho_offence_code) OR any_flag)
          AND ($from IS NULL OR date_from >= $from) AND ($to IS NULL OR date_from <= $to)""",
                {"codes": d.offences.sexual, "from": date_from, "to": date_to})
    statuses = " UNION ALL ".join(
        f"SELECT crime_id, person_id, '{c}:' || {c} AS completeness FROM cse_fill "
        "WHERE scope = 'cse' AND role = 'suspect'" for c, _ in FIELDS)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE eg_cse_completeness AS
        SELECT c.rule, s.completeness, s.crime_id || '|' || s.person_id AS rid
        FROM ({statuses}) s JOIN eg_cse_cases c USING (crime_id)""")
