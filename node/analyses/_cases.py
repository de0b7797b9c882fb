"""Subjects by case: the seized devices of everyone with a role in a crime (``--case``).

A case is named by its crime_id or its crime reference (crime_ref, "CR/1"); its devices
are those attributed to any record of any person with a role in it (the force's own
resolution joins duplicate records, as for ``--person``).
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import typer

from federation.errors import CrossforceError
from node.analyses import _suggest, resolve_devices

CaseOption = typer.Option([], "--case", help="A case (crime id or crime reference): the "
                          "devices of everyone with a role in it (repeatable).")


def case_devices(con: duckdb.DuckDBPyConnection, case: str) -> list[str]:
    """The device ids of a case, or a one-line error naming the closest known cases."""
    crime = con.execute("SELECT crime_id FROM crimes WHERE crime_id = $c OR crime_ref = $c "
                        "LIMIT 1", {"c": case}).fetchall()
    if not crime:
        known = [r[0] for r in con.execute(
            "SELECT crime_id FROM crimes UNION SELECT crime_ref FROM crimes "
            "WHERE crime_ref IS NOT NULL").fetchall()]
        raise CrossforceError(f"no case {case!r} on this node{_suggest(case, known)}")
    found = [r[0] for r in con.execute("""
        WITH people AS (SELECT person_id FROM roles WHERE crime_id = ?),
        records AS (
            SELECT person_id FROM people
            UNION SELECT b.person_id FROM person_resolution a
            JOIN person_resolution b ON a.local_person = b.local_person
            WHERE a.person_id IN (SELECT person_id FROM people))
        SELECT DISTINCT device_id FROM devices
        WHERE person_id IN (SELECT person_id FROM records) ORDER BY 1""",
                                         [crime[0][0]]).fetchall()]
    if not found:
        raise CrossforceError(f"case {case!r}: nobody with a role in it has a seized device "
                              "on this node; name a --device or --person instead")
    return found


def subjects_with_cases(con: duckdb.DuckDBPyConnection, devices: Sequence[str],
                        persons: Sequence[str], cases: Sequence[str]
                        ) -> dict[str, list[str]]:
    """``--device``/``--person``/``--case`` → {subject label: [device ids]}; none of them:
    every device, one subject each."""
    subjects = resolve_devices(con, devices, persons) if devices or persons or not cases \
        else {}
    for c in cases:
        subjects[f"case {c}"] = case_devices(con, c)
    return subjects
