"""R7 (Operation Beaconport eligibility) and the ranking of eligible closed cases by the
evidence that has appeared *since* each was closed — in SQL, after ``_cse_rules.evaluate``.

Temp tables left:

``cse_review``    one row per group-based (R3) case closed with no further action: each R7
                  criterion's outcome, ``eligible``, and ``score`` (the sum of the weights);
``cse_new``       (crime_id, kind, weight, line): one line per piece of new evidence.

Weights (:data:`WEIGHTS`) are the node's, stated beside every line, so a reviewer sees why a
case ranks where it does; they are not part of the national definition (ranking is a work
queue, not a finding).
"""

from __future__ import annotations

import duckdb

from policies.definition import CseDefinition

#: weight of one piece of new evidence, by kind
WEIGHTS = {
    "cross_force": 10,     # per other force named in a hit the node received
    "network": 1,          # per other record of the force in the same national network
    "later_case": 2,       # a suspect is a suspect on a case recorded after the closure
    "later_group_case": 1,  # ... and that case meets R3 (a network in the force)
    "device": 2,           # a suspect's phone extracted after the closure
    "shared_identifier": 1,  # a suspect's phone now held by a person in another case
    "intelligence": 1,     # intelligence dated after the closure links a suspect
}
SUSPECT_ROLES = ("suspect", "offender")


def build_review(con: duckdb.DuckDBPyConnection, d: CseDefinition) -> None:
    """``cse_review`` and ``cse_new`` (see the module doc)."""
    r7 = d.r7
    con.execute("""
        CREATE OR REPLACE TEMP TABLE cse_review_suspects AS
        SELECT DISTINCT r.crime_id, w.who
        FROM roles r JOIN cse_who w USING (person_id)
        WHERE list_contains($roles, r.role)""", {"roles": list(SUSPECT_ROLES)})
    con.execute("""
        CREATE OR REPLACE TEMP TABLE cse_review AS
        WITH s AS (
            SELECT s.crime_id, count(DISTINCT s.who) AS suspects,
                   bool_or(coalesce(p.deceased, false)) AS any_deceased
            FROM cse_review_suspects s JOIN cse_who w ON w.who = s.who
            JOIN persons p ON p.person_id = w.person_id GROUP BY s.crime_id),
        v AS (SELECT crime_id, bool_or(coalesce(child, false)) AS child FROM cse_victims
              GROUP BY crime_id)
        SELECT c.crime_id, c.crime_ref, c.ho_offence_code, c.date_from, c.outcome_code,
               c.outcome_date, coalesce(s.suspects, 0) AS suspects,
               c.outcome_date BETWEEN $from AND $to AS in_window,
               coalesce(s.suspects, 0) >= $min AS enough_suspects,
               NOT coalesce(s.any_deceased, false) AS alive,
               NOT coalesce(c.previously_reviewed, false) AS not_reviewed,
               coalesce(v.child, false) AS child_victim
        FROM cse_cases c LEFT JOIN s USING (crime_id) LEFT JOIN v USING (crime_id)
        WHERE c.r3 AND list_contains($nfa, c.outcome_code)""",
                {"from": r7.closed_from, "to": r7.closed_to, "min": r7.min_suspects,
                 "nfa": r7.nfa_outcomes})
    victim = "AND child_victim" if r7.victim_criterion else ""
    con.execute(f"""
        ALTER TABLE cse_review ADD COLUMN eligible BOOLEAN;
        UPDATE cse_review SET eligible = coalesce(in_window AND enough_suspects AND alive
                                                  AND not_reviewed {victim}, false);""")
    _new_evidence(con)
    con.execute("""
        ALTER TABLE cse_review ADD COLUMN score INTEGER;
        UPDATE cse_review r SET score = coalesce(
            (SELECT sum(weight) FROM cse_new n WHERE n.crime_id = r.crime_id), 0);""")


def _new_evidence(con: duckdb.DuckDBPyConnection) -> None:
    w = {f"w_{k}": v for k, v in WEIGHTS.items()}
    con.execute("""
        CREATE OR REPLACE TEMP TABLE cse_review_people AS
        SELECT r.crime_id, r.outcome_date AS closed, s.who, p.person_id
        FROM cse_review r JOIN cse_review_suspects s USING (crime_id)
        JOIN cse_who p ON p.who = s.who WHERE r.eligible""")
    parts = {
        "cross_force": """
            SELECT x.crime_id, 'cross_force', $w_cross_force * len(h.forces),
                   x.who || ': cross-force hit (network ' || coalesce(h.network_id::VARCHAR,
                   'none') || ') with ' || array_to_string(h.forces, ', ')
            FROM (SELECT DISTINCT crime_id, who FROM cse_review_people) x
            JOIN (SELECT p.who, any_value(h.network_id) AS network_id,
                         list_sort(list_distinct(flatten(list(h.other_forces)))) AS forces
                  FROM received_hits h JOIN cse_who p
                    ON p.person_id = h.local_id AND h.kind = 'person'
                    OR list_contains(h.person_ids, p.person_id)
                  GROUP BY p.who) h ON h.who = x.who""",
        "network": """
            SELECT x.crime_id, 'network', $w_network * count(DISTINCT o.local_id),
                   x.who || ': ' || count(DISTINCT o.local_id) || ' other record(s) of this '
                   || 'force in the same national network ' || any_value(h.network_id)
            FROM (SELECT DISTINCT crime_id, who FROM cse_review_people) x
            JOIN cse_who p ON p.who = x.who
            JOIN received_hits h ON h.network_id IS NOT NULL
             AND (h.kind = 'person' AND h.local_id = p.person_id
                  OR list_contains(h.person_ids, p.person_id))
            JOIN received_hits o ON o.network_id = h.network_id AND o.kind = 'person'
             AND o.local_id NOT IN (SELECT person_id FROM cse_who WHERE who = x.who)
            GROUP BY x.crime_id, x.who""",
        "later_case": """
            SELECT x.crime_id, 'later_case',
                   $w_later_case + CASE WHEN c.r3 THEN $w_later_group_case ELSE 0 END,
                   x.who || ': suspect on ' || c.crime_id || ' (' || c.ho_offence_code || ', '
                   || strftime(c.date_from, '%Y-%m-%d') || ')'
                   || CASE WHEN c.r3 THEN ', a group-based case' ELSE '' END
            FROM (SELECT DISTINCT crime_id, closed, who FROM cse_review_people) x
            JOIN cse_review_suspects s ON s.who = x.who AND s.crime_id <> x.crime_id
            JOIN cse_cases c ON c.crime_id = s.crime_id AND c.date_from > x.closed""",
        "device": """
            SELECT x.crime_id, 'device', $w_device,
                   x.who || ': phone ' || d.device_id || ' extracted '
                   || strftime(d.extraction_date, '%Y-%m-%d') || ', after the closure'
            FROM cse_review_people x JOIN devices d ON d.person_id = x.person_id
            WHERE d.extraction_date > x.closed""",
        "shared_identifier": """
            SELECT x.crime_id, 'shared_identifier', $w_shared_identifier,
                   x.who || ': phone ' || i.value_norm || ' is now also held by '
                   || o.who || ', in ' || string_agg(DISTINCT r.crime_id, ', ')
            FROM cse_review_people x
            JOIN identifiers i ON i.person_id = x.person_id AND i.kind = 'phone'
             AND i.value_norm IS NOT NULL
            JOIN identifiers j ON j.value_norm = i.value_norm AND j.kind = 'phone'
            JOIN cse_who o ON o.person_id = j.person_id AND o.who <> x.who
            JOIN roles r ON r.person_id = j.person_id AND r.crime_id <> x.crime_id
            JOIN crimes c ON c.crime_id = r.crime_id AND c.date_from > x.closed
            GROUP BY x.crime_id, x.who, i.value_norm, o.who""",
        "intelligence": """
            SELECT DISTINCT x.crime_id, 'intelligence', $w_intelligence,
                   x.who || ': intelligence ' || i.intel_id || ' of '
                   || strftime(i.report_date, '%Y-%m-%d') || ' (graded '
                   || i.intelligence_assessment || ')'
            FROM cse_review_people x JOIN intel_links l ON l.person_id = x.person_id
            JOIN intel i USING (intel_id)
            WHERE i.report_date > x.closed AND i.intelligence_assessment <> 'E'""",
    }
    con.execute("CREATE OR REPLACE TEMP TABLE cse_new (crime_id VARCHAR, kind VARCHAR, "
                "weight INTEGER, line VARCHAR)")
    for sql in parts.values():
        con.execute(f"INSERT INTO cse_new {sql}",
                    {k: v for k, v in w.items() if f"${k}" in sql})
