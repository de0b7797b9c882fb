"""Child victims of the node's crimes and the identifiers recorded against them.

A person is a child victim of a crime when the node records them as its victim and they were
under 18 on the crime's ``date_from``: by date of birth where there is one (a year-only
date of birth is stored as 1 January, so the age it gives is never below the true age and
"under 18" stays true), else by the recorded upper age bound ``age_max``. Identifiers come
from every record of the person as the force's last resolution (``node resolve``) joins
them, so a phone recorded on a duplicate nominal still counts.
"""

from __future__ import annotations

import duckdb


def define_child_victims(con: duckdb.DuckDBPyConnection) -> None:
    """Temp table ``child_victim_ids (party, kind, victim, crime_id, crime_ref, date_from,
    age, age_basis)``: one row per identifier of a child victim per crime."""
    con.execute("""
        CREATE OR REPLACE TEMP TABLE child_victim_ids AS
        WITH victims AS (
            SELECT r.person_id AS victim, c.crime_id, coalesce(c.crime_ref, c.crime_id)
                   AS crime_ref, c.date_from, p.age_max,
                   CASE WHEN p.dob <= c.date_from THEN date_sub('year', p.dob, c.date_from)
                   END AS age_dob
            FROM roles r JOIN crimes c USING (crime_id) JOIN persons p USING (person_id)
            WHERE r.role = 'victim'),
        children AS (
            SELECT victim, crime_id, crime_ref, date_from,
                   coalesce(age_dob, age_max) AS age,
                   CASE WHEN age_dob IS NOT NULL THEN 'date of birth'
                        ELSE 'recorded age range' END AS age_basis
            FROM victims WHERE coalesce(age_dob, age_max) < 18),
        records AS (
            SELECT c.victim, coalesce(r2.person_id, c.victim) AS record
            FROM (SELECT DISTINCT victim FROM children) c
            LEFT JOIN person_resolution r1 ON r1.person_id = c.victim
            LEFT JOIN person_resolution r2 ON r2.local_person = r1.local_person
            UNION SELECT DISTINCT victim, victim FROM children)
        SELECT DISTINCT coalesce(i.value_norm, trim(i.value)) AS party, i.kind, c.victim,
               c.crime_id, c.crime_ref, c.date_from, c.age, c.age_basis
        FROM children c JOIN records USING (victim)
        JOIN identifiers i ON i.person_id = records.record
        WHERE i.kind IN ('phone', 'email', 'handle')
          AND coalesce(i.value_norm, trim(i.value)) IS NOT NULL""")
