"""R7 (Operation Beaconport eligibility) and the ranking of eligible closed cases by the
evidence that has appeared *since* each was closed — in SQL, after ``_cse_rules.evaluate``.

Beaconport reviews group-based child sexual abuse *and* exploitation closed with no further
action, so a case is in scope when it is a group-based child sexual offence (R1 and R3's
group test, ``cse_cases.group_based``) whether or not the force recorded what makes it CSE
(R2: a CSE flag, an exchange, a CSE-specific offence). A missing flag is the recording
failure the review exists to look past; ``recorded_cse`` says which cases lack it.

Temp tables left:

``cse_review``    one row per group-based case closed with no further action: each R7
                  criterion's outcome, ``eligible``, ``score`` (the sum of the weights),
                  ``other_forces`` (the part of it from other forces) and ``rank``;
``cse_new``       (crime_id, kind, weight, line): one line per piece of new evidence.

Weights (:data:`WEIGHTS`) are the node's, stated beside every line, so a reviewer sees why a
case ranks where it does; they are not part of the national definition (ranking is a work
queue, not a finding). A hit whose reason is ``network`` only (the suspect sits in a
cross-force network but no other force holds the suspect or their identifiers) weighs far
less than a direct one: the coordinator does not say how far away the other forces' part
is, and on the generated scenario it is often reached through a chain of one force's own
calls. Such a suspect counts half a direct hit when the force's own records make them a
co-suspect (on any crime) of a person another force holds in that network: that tie is
the force's own evidence, not a chain. Shared evidence — a later case, an intelligence
report, a network — counts once per case, naming every suspect it concerns, not once per
suspect.

Ranking: a case with evidence from other forces (:data:`OTHER_FORCE_KINDS`) ranks above
every case without, then by score. The force could act on its own later evidence at any
time; what only other forces hold is what a review exists to bring in, and no sum of local
lines should bury it.
"""

from __future__ import annotations

import re

import duckdb

from policies.definition import CseDefinition

#: weight of one piece of new evidence, by kind
WEIGHTS = {
    "cross_force": 10,     # per suspect, per other force holding the suspect or their
                           # identifiers (a direct hit: reason entity or entity+network)
    "network_associate": 5,  # per suspect, per other force: a suspect no other force
                             # holds, in a national network, who was a co-suspect on one of
                             # this force's crimes with a person another force holds in it
    "network_member": 2,   # per other force of a national network the case's suspects sit
                           # in without any direct hit or co-suspect tie in it (network-only)
    "network": 1,          # per other person of this force in a national network where a
                           # suspect of the case has a direct hit (its size, as seen here)
    "later_case": 2,       # suspects of the case are suspects on a case recorded after
                           # the closure (once per later case)
    "later_group_case": 1,  # ... and that case is group-based (a network in the force)
    "device": 2,           # a suspect's phone extracted after the closure
    "shared_identifier": 1,  # a suspect's phone now held by a person in another case
    "intelligence": 1,     # intelligence dated after the closure links a suspect (once
                           # per report)
}
SUSPECT_ROLES = ("suspect", "offender")
#: evidence that only exists in other forces: a case with any ranks above every case
#: without (then by score)
OTHER_FORCE_KINDS = ("cross_force", "network_associate")


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
               c.outcome_date, coalesce(c.r2, false) AS recorded_cse,
               coalesce(s.suspects, 0) AS suspects,
               c.outcome_date BETWEEN $from AND $to AS in_window,
               coalesce(s.suspects, 0) >= $min AS enough_suspects,
               NOT coalesce(s.any_deceased, false) AS alive,
               NOT coalesce(c.previously_reviewed, false) AS not_reviewed,
               coalesce(v.child, false) AS child_victim
        FROM cse_cases c LEFT JOIN s USING (crime_id) LEFT JOIN v USING (crime_id)
        WHERE c.group_based AND list_contains($nfa, c.outcome_code)""",
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
        ALTER TABLE cse_review ADD COLUMN other_forces INTEGER;
        ALTER TABLE cse_review ADD COLUMN rank INTEGER;""")
    con.execute("""
        UPDATE cse_review r SET score = coalesce(
            (SELECT sum(weight) FROM cse_new n WHERE n.crime_id = r.crime_id), 0),
            other_forces = coalesce(
            (SELECT sum(weight) FROM cse_new n WHERE n.crime_id = r.crime_id
             AND list_contains($kinds, n.kind)), 0)""", {"kinds": list(OTHER_FORCE_KINDS)})
    con.execute("""
        UPDATE cse_review r SET rank = o.rank FROM (
            SELECT crime_id, row_number() OVER (ORDER BY other_forces > 0 DESC, score DESC,
                                                outcome_date, crime_id) AS rank
            FROM cse_review WHERE eligible) o WHERE o.crime_id = r.crime_id""")


def _new_evidence(con: duckdb.DuckDBPyConnection) -> None:
    w = {f"w_{k}": v for k, v in WEIGHTS.items()}
    con.execute("""
        CREATE OR REPLACE TEMP TABLE cse_review_people AS
        SELECT r.crime_id, r.outcome_date AS closed, s.who, p.person_id
        FROM cse_review r JOIN cse_review_suspects s USING (crime_id)
        JOIN cse_who p ON p.who = s.who WHERE r.eligible""")
    # every hit on an eligible case's suspect (their person record or an identifier);
    # direct: another force holds it, not only the network it sits in
    con.execute("""
        CREATE OR REPLACE TEMP TABLE cse_review_hits AS
        SELECT DISTINCT x.crime_id, x.who, h.network_id, h.other_forces,
               coalesce(h.reason, '') <> 'network' AS direct
        FROM (SELECT DISTINCT crime_id, who, person_id FROM cse_review_people) x
        JOIN received_hits h ON h.kind = 'person' AND h.local_id = x.person_id
                             OR list_contains(h.person_ids, x.person_id)""")
    # this force's persons another force holds, by national network (a direct hit), and
    # which forces hold them
    con.execute("""
        CREATE OR REPLACE TEMP TABLE cse_review_held AS
        WITH x AS (SELECT network_id, other_forces, unnest(person_ids) AS person_id
                   FROM received_hits
                   WHERE network_id IS NOT NULL AND coalesce(reason, '') <> 'network'
                   UNION ALL
                   SELECT network_id, other_forces, local_id FROM received_hits
                   WHERE kind = 'person' AND network_id IS NOT NULL
                     AND coalesce(reason, '') <> 'network')
        SELECT network_id, w.who, list_sort(list_distinct(flatten(list(other_forces))))
                   AS forces
        FROM x JOIN cse_who w USING (person_id) GROUP BY network_id, w.who""")
    # a suspect only in a network (no direct hit) who was a co-suspect, on any crime of
    # this force, with one of those persons: the force's own records tie the case to the
    # network's part in other forces (a chain of calls alone does not)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE cse_review_ties AS
        SELECT h.crime_id, h.who, h.network_id,
               list_sort(list_distinct(flatten(list(m.forces)))) AS forces,
               min(m.who || ' on ' || a.crime_id) AS via
        FROM (SELECT DISTINCT crime_id, who, network_id FROM cse_review_hits
              WHERE network_id IS NOT NULL AND NOT direct) h
        JOIN cse_roles a ON a.who = h.who
        JOIN cse_roles b ON b.crime_id = a.crime_id AND b.who <> a.who
        JOIN cse_review_held m ON m.who = b.who AND m.network_id = h.network_id
        WHERE NOT EXISTS (SELECT 1 FROM cse_review_hits d WHERE d.crime_id = h.crime_id
                          AND d.who = h.who AND d.direct)
        GROUP BY h.crime_id, h.who, h.network_id""")
    parts = {
        "network_associate": """
            SELECT crime_id, 'network_associate', $w_network_associate * len(forces),
                   who || ': held by no other force, but a co-suspect of ' || via
                   || ', whom ' || array_to_string(forces, ', ') || ' hold(s) (network '
                   || network_id || ')'
            FROM cse_review_ties""",
        "cross_force": """
            SELECT crime_id, 'cross_force', $w_cross_force * len(forces),
                   who || ': cross-force hit (network ' || coalesce(network_id::VARCHAR,
                   'none') || ') with ' || array_to_string(forces, ', ')
            FROM (SELECT crime_id, who, any_value(network_id) AS network_id,
                         list_sort(list_distinct(flatten(list(other_forces)))) AS forces
                  FROM cse_review_hits WHERE direct GROUP BY crime_id, who)""",
        "network_member": """
            SELECT crime_id, 'network_member', $w_network_member * len(forces),
                   array_to_string(whos, ', ') || ': in national network ' || network_id
                   || ' with ' || array_to_string(forces, ', ') || ', though no other force '
                   || 'holds them or their identifiers (linked through other records)'
            FROM (SELECT crime_id, network_id, list(DISTINCT who ORDER BY who) AS whos,
                         list_sort(list_distinct(flatten(list(other_forces)))) AS forces
                  FROM cse_review_hits h WHERE network_id IS NOT NULL
                  GROUP BY crime_id, network_id HAVING NOT bool_or(direct)
                     AND NOT EXISTS (SELECT 1 FROM cse_review_ties t
                                     WHERE t.crime_id = h.crime_id
                                       AND t.network_id = h.network_id))""",
        "network": """
            SELECT n.crime_id, 'network', $w_network * count(DISTINCT o.who),
                   'national network ' || n.network_id || ': ' || count(DISTINCT o.who)
                   || ' other person(s) of this force in it'
            FROM (SELECT DISTINCT crime_id, network_id FROM cse_review_hits
                  WHERE direct AND network_id IS NOT NULL
                  UNION SELECT crime_id, network_id FROM cse_review_ties) n
            JOIN received_hits h ON h.network_id = n.network_id AND h.kind = 'person'
            JOIN cse_who o ON o.person_id = h.local_id
            WHERE o.who NOT IN (SELECT who FROM cse_review_people x
                                WHERE x.crime_id = n.crime_id)
            GROUP BY n.crime_id, n.network_id""",
        "later_case": """
            SELECT x.crime_id, 'later_case',
                   $w_later_case + CASE WHEN c.group_based THEN $w_later_group_case ELSE 0 END,
                   string_agg(DISTINCT x.who, ', ' ORDER BY x.who) || ': suspect(s) on '
                   || c.crime_id || ' (' || c.ho_offence_code || ', '
                   || strftime(c.date_from, '%Y-%m-%d') || ')'
                   || CASE WHEN c.group_based THEN ', a group-based case' ELSE '' END
            FROM (SELECT DISTINCT crime_id, closed, who FROM cse_review_people) x
            JOIN cse_review_suspects s ON s.who = x.who AND s.crime_id <> x.crime_id
            JOIN cse_cases c ON c.crime_id = s.crime_id AND c.date_from > x.closed
            GROUP BY x.crime_id, c.crime_id, c.ho_offence_code, c.date_from, c.group_based""",
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
            SELECT x.crime_id, 'intelligence', $w_intelligence,
                   string_agg(DISTINCT x.who, ', ' ORDER BY x.who) || ': intelligence '
                   || i.intel_id || ' of ' || strftime(i.report_date, '%Y-%m-%d')
                   || ' (graded ' || i.intelligence_assessment || ')'
            FROM cse_review_people x JOIN intel_links l ON l.person_id = x.person_id
            JOIN intel i USING (intel_id)
            WHERE i.report_date > x.closed AND i.intelligence_assessment <> 'E'
            GROUP BY x.crime_id, i.intel_id, i.report_date, i.intelligence_assessment""",
    }
    con.execute("CREATE OR REPLACE TEMP TABLE cse_new (crime_id VARCHAR, kind VARCHAR, "
                "weight INTEGER, line VARCHAR)")
    for sql in parts.values():
        named = set(re.findall(r"\$(\w+)", sql))
        con.execute(f"INSERT INTO cse_new {sql}", {k: v for k, v in w.items() if k in named})
