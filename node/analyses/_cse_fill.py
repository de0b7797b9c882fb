"""R6: who in a CSE case carries ethnicity and nationality — shared by the completeness
analysis and the national aggregates egress sends (so both count alike).

A value is *recorded* (a code, or any other value kept as written), *not stated* (an
explicit NS/UNK-style code: the person was asked, or it was not known) or *blank* (nothing
written) — Casey's audit found the blanks, so they are counted apart.
"""

from __future__ import annotations

import duckdb

from federation.layout import NOT_STATED_CODES
from policies.definition import CseDefinition

#: the fields R6 asks for, as (column, label)
FIELDS = (("ethnicity_self", "ethnicity (self)"), ("ethnicity_officer", "ethnicity (officer)"),
          ("nationality", "nationality"))
STATUSES = ("recorded", "not_stated", "blank")
#: the two scopes: cases meeting R3, and every CSE case (R2, or flagged CSE by the force)
SCOPES = ("r3", "cse")


def status_sql(column: str) -> str:
    """SQL: 'recorded', 'not_stated' or 'blank' for ``column``."""
    codes = ", ".join(f"'{c}'" for c in NOT_STATED_CODES)
    return (f"CASE WHEN nullif(trim({column}), '') IS NULL THEN 'blank' "
            f"WHEN upper(trim({column})) IN ({codes}) THEN 'not_stated' ELSE 'recorded' END")


def build_fill(con: duckdb.DuckDBPyConnection, d: CseDefinition) -> None:
    """Temp table ``cse_fill`` (scope, crime_id, year, role, person_id, <field> status...):
    each suspect (the definition's counting roles) and victim of each case in scope, after
    :func:`node.analyses._cse_rules.evaluate`."""
    fields = ", ".join(f"{status_sql('p.' + c)} AS {c}" for c, _ in FIELDS)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE cse_fill AS
        WITH cases AS (
            SELECT 'r3' AS scope, crime_id, date_from FROM cse_cases WHERE r3
            UNION ALL
            SELECT 'cse', crime_id, date_from FROM cse_cases
            WHERE r2 OR coalesce(flag_cse, false)),
        people AS (
            SELECT DISTINCT r.crime_id, r.person_id,
                   CASE WHEN r.role = 'victim' THEN 'victim' ELSE 'suspect' END AS role
            FROM roles r WHERE r.role = 'victim' OR list_contains($roles, r.role))
        SELECT c.scope, c.crime_id, year(c.date_from) AS year, x.role, x.person_id, {fields}
        FROM cases c JOIN people x USING (crime_id) JOIN persons p USING (person_id)""",
                {"roles": d.r3.roles})
