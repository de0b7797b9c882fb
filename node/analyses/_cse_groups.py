"""R3 and R4: is a child sexual offence group-based? Who counts, how are they associated?

For every crime that meets R1 the *candidates* are the persons with a counting role on it
(``[r3] roles``: suspects, offenders and, by R4, facilitators even when they abused no one)
and — with ``[r3] same_victim`` — the persons with a counting role on the force's other
child sexual offences against the same victim (offenders recorded on separate crimes are
how group-based abuse is most often missed). Two candidates are *associated* by any kind of
``[associations]``; a strong kind counts alone, a weak kind counts in pairs (two weak links
between the same two persons) or beside a strong link (a weak link to someone already in
the group). The case is group-based when the group around its own suspects has at least
``[r3] min_persons`` persons. Identifiers, addresses and vehicles linked to more than
``[hubs] max_distinct`` persons or devices (taxi firms, takeaways, hotels) associate no one.

R3 is this group test on an R2 case. The test runs on every R1 case because Beaconport
review (R7) takes group-based child sexual abuse *and* exploitation, whether or not the
force recorded what makes it CSE (R2).

Temp tables left: ``cse_cand``, ``cse_links`` (a, b, kind, strength, detail),
``cse_group_size`` (crime_id, size), ``cse_group_evidence`` (crime_id, line).
"""

from __future__ import annotations

import duckdb

from policies.definition import ASSOCIATION_KINDS, CseDefinition

_MAX_ROUNDS = 50

#: SQL of (a, b, detail) per association kind, over the candidate pairs ``cse_pairs``;
#: a and b are resolved persons (cse_who.who) with a < b
_KINDS = {
    "co_suspect": """
        SELECT x.who AS a, y.who AS b,
               'suspects together on ' || string_agg(DISTINCT x.crime_id, ', '
                                                     ORDER BY x.crime_id) AS detail
        FROM cse_roles x JOIN cse_roles y ON x.crime_id = y.crime_id AND x.who < y.who
        WHERE (x.who, y.who) IN (SELECT (a, b) FROM cse_pairs)
        GROUP BY ALL""",
    "communication": """
        SELECT least(o.who, p.who) AS a, greatest(o.who, p.who) AS b,
               count(*) || ' call(s)/message(s) between ' || any_value(o.owner) || ' and '
               || any_value(p.number) AS detail
        FROM cse_seen o JOIN cse_phones p ON p.number = o.number AND p.who <> o.who
        WHERE o.owner IS NOT NULL AND o.event
          AND (least(o.who, p.who), greatest(o.who, p.who)) IN (SELECT (a, b) FROM cse_pairs)
        GROUP BY ALL""",
    "shared_contact": """
        SELECT x.who AS a, y.who AS b, 'contact ' || x.number || ' on both seized devices'
        FROM (SELECT DISTINCT who, number FROM cse_seen) x
        JOIN (SELECT DISTINCT who, number FROM cse_seen) y
          ON x.number = y.number AND x.who < y.who
        WHERE x.number NOT IN (SELECT number FROM cse_hub_numbers)
          AND x.number NOT IN (SELECT number FROM cse_phones WHERE who IN (x.who, y.who))
          AND (x.who, y.who) IN (SELECT (a, b) FROM cse_pairs)""",
    "shared_address": """
        SELECT x.who AS a, y.who AS b,
               'same address ' || any_value(x.label) || ' at the same time' AS detail
        FROM cse_places x JOIN cse_places y ON x.place = y.place AND x.who < y.who
        WHERE x.place NOT IN (SELECT place FROM cse_hub_places)
          AND x.valid_from <= y.valid_to AND y.valid_from <= x.valid_to
          AND (x.who, y.who) IN (SELECT (a, b) FROM cse_pairs)
        GROUP BY ALL""",
    "co_location": """
        SELECT x.who AS a, y.who AS b,
               'addresses in ' || any_value(x.postcode) || ' within $days days' AS detail
        FROM cse_places x JOIN cse_places y
          ON x.postcode = y.postcode AND x.place <> y.place AND x.who < y.who
        WHERE x.postcode NOT IN (SELECT postcode FROM cse_hub_postcodes)
          AND x.valid_from <= y.valid_to + $days AND y.valid_from <= x.valid_to + $days
          AND (x.who, y.who) IN (SELECT (a, b) FROM cse_pairs)
        GROUP BY ALL""",
    "shared_vehicle": """
        SELECT x.who AS a, y.who AS b, 'same vehicle ' || x.vrm AS detail
        FROM cse_vrms x JOIN cse_vrms y ON x.vrm = y.vrm AND x.who < y.who
        WHERE x.vrm NOT IN (SELECT vrm FROM cse_vrms GROUP BY vrm
                            HAVING count(DISTINCT who) > $max)
          AND (x.who, y.who) IN (SELECT (a, b) FROM cse_pairs)""",
    "intelligence": """
        SELECT x.who AS a, y.who AS b,
               'intelligence ' || x.intel_id || ' (graded ' || x.grade || ') links both'
        FROM cse_intel x JOIN cse_intel y ON x.intel_id = y.intel_id AND x.who < y.who
        WHERE (x.who, y.who) IN (SELECT (a, b) FROM cse_pairs)""",
}
_STRENGTH = {"strong": "strong", "weak": "weak"}


def build_groups(con: duckdb.DuckDBPyConnection, d: CseDefinition) -> None:
    """Candidates, association links and group sizes of every R1 case (see module doc)."""
    params = {"roles": d.r3.roles}
    con.execute("""
        CREATE OR REPLACE TEMP TABLE cse_roles AS
        SELECT DISTINCT r.crime_id, w.who, w.unidentified, r.role
        FROM roles r JOIN cse_who w USING (person_id)
        WHERE list_contains($roles, r.role)""", params)
    victim_cases = ("""
        UNION
        SELECT a.crime_id, r.who, false, any_value(r.unidentified),
               'suspect on ' || string_agg(DISTINCT r.crime_id, ', ') || ', against the '
               || 'same victim ' || string_agg(DISTINCT va.who, ', ') AS via
        FROM cse_cases a
        JOIN (SELECT v.crime_id, w.who FROM cse_victims v JOIN cse_who w USING (person_id))
             va ON va.crime_id = a.crime_id
        JOIN (SELECT v.crime_id, w.who FROM cse_victims v JOIN cse_who w USING (person_id))
             vb ON vb.who = va.who AND vb.crime_id <> a.crime_id
        JOIN cse_cases b ON b.crime_id = vb.crime_id AND b.r1
        JOIN cse_roles r ON r.crime_id = b.crime_id
        WHERE a.r1 AND r.who NOT IN (SELECT who FROM cse_roles x WHERE x.crime_id = a.crime_id)
        GROUP BY a.crime_id, r.who""" if d.r3.same_victim else "")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE cse_cand AS
        SELECT crime_id, who, true AS direct, any_value(unidentified) AS unidentified,
               string_agg(DISTINCT role, '/' ORDER BY role) AS via
        FROM cse_roles WHERE crime_id IN (SELECT crime_id FROM cse_cases WHERE r1)
        GROUP BY crime_id, who
        {victim_cases}""")
    con.execute("""
        CREATE OR REPLACE TEMP TABLE cse_pairs AS
        SELECT DISTINCT x.who AS a, y.who AS b
        FROM cse_cand x JOIN cse_cand y ON x.crime_id = y.crime_id AND x.who < y.who""")
    _sources(con, d)
    _links(con, d)
    _components(con)
    _evidence(con, d)


def _run(con: duckdb.DuckDBPyConnection, script: str, params: dict | None = None) -> None:
    """Run a script of ';'-ended statements, each given the parameters it names."""
    for statement in script.split(";\n"):
        if statement.strip():
            used = {k: v for k, v in (params or {}).items() if f"${k}" in statement}
            con.execute(statement, used or None)


def _sources(con: duckdb.DuckDBPyConnection, d: CseDefinition) -> None:
    """Each candidate's phones, numbers seen on their devices, places, VRMs and intel."""
    _run(con, """
        CREATE OR REPLACE TEMP TABLE cse_people AS
        SELECT DISTINCT w.person_id, w.who FROM cse_who w
        WHERE w.who IN (SELECT a FROM cse_pairs UNION SELECT b FROM cse_pairs);
        CREATE OR REPLACE TEMP TABLE cse_phones AS
        SELECT DISTINCT p.who, i.value_norm AS number
        FROM identifiers i JOIN cse_people p USING (person_id)
        WHERE i.kind = 'phone' AND i.normalised AND i.value_norm IS NOT NULL
        UNION
        SELECT p.who, d.owner_number_e164 FROM devices d JOIN cse_people p USING (person_id)
        WHERE d.owner_number_e164 IS NOT NULL;
        CREATE OR REPLACE TEMP TABLE cse_seen AS
        SELECT p.who, d.device_id, d.owner_number_e164 AS owner, x.number, x.event
        FROM devices d JOIN cse_people p USING (person_id)
        JOIN (SELECT device_id, number_e164 AS number, true AS event FROM calls
              WHERE number_e164 IS NOT NULL
              UNION ALL SELECT device_id, number_e164, true FROM messages
              WHERE number_e164 IS NOT NULL
              UNION ALL SELECT device_id, number_e164, false FROM contacts
              WHERE number_e164 IS NOT NULL) x USING (device_id);""")
    # hubs are counted over the whole store, not only the candidates
    con.execute("""
        CREATE OR REPLACE TEMP TABLE cse_hub_numbers AS
        WITH seen AS (
            SELECT DISTINCT number_e164 AS number, 'd:' || device_id AS holder FROM (
                SELECT device_id, number_e164 FROM calls UNION ALL
                SELECT device_id, number_e164 FROM messages UNION ALL
                SELECT device_id, number_e164 FROM contacts)
            WHERE number_e164 IS NOT NULL
            UNION SELECT value_norm, 'p:' || person_id FROM identifiers
            WHERE kind = 'phone' AND value_norm IS NOT NULL),
        n AS (SELECT count(*) AS devices FROM devices)
        SELECT number FROM seen, n GROUP BY number, n.devices
        HAVING count(*) > $max
            OR (n.devices >= 10 AND count(*) FILTER (WHERE holder LIKE 'd:%')
                > $share * n.devices)""",
                {"max": d.hubs.max_distinct, "share": d.hubs.max_device_share})
    _run(con, """
        CREATE OR REPLACE TEMP TABLE cse_all_places AS
        SELECT w.who, coalesce(CAST(a.uprn AS VARCHAR), lower(trim(a.address)) || '|'
                               || coalesce(a.postcode_norm, '')) AS place,
               coalesce(a.address, 'UPRN ' || a.uprn) || coalesce(', ' || a.postcode_norm, '')
                   AS label,
               a.postcode_norm AS postcode,
               coalesce(a.valid_from, DATE '1900-01-01') AS valid_from,
               coalesce(a.valid_to, DATE '2999-12-31') AS valid_to
        FROM addresses a JOIN cse_who w USING (person_id)
        WHERE a.address IS NOT NULL OR a.uprn IS NOT NULL;
        CREATE OR REPLACE TEMP TABLE cse_hub_places AS
        SELECT place FROM cse_all_places GROUP BY place HAVING count(DISTINCT who) > $max;
        CREATE OR REPLACE TEMP TABLE cse_hub_postcodes AS
        SELECT postcode FROM cse_all_places WHERE postcode IS NOT NULL GROUP BY postcode
        HAVING count(DISTINCT who) > $max;
        CREATE OR REPLACE TEMP TABLE cse_places AS
        SELECT * FROM cse_all_places
        WHERE who IN (SELECT who FROM cse_people);
        CREATE OR REPLACE TEMP TABLE cse_vrms AS
        SELECT DISTINCT w.who, v.vrm_norm AS vrm FROM vehicles v JOIN cse_who w USING (person_id)
        WHERE v.vrm_norm IS NOT NULL;
        CREATE OR REPLACE TEMP TABLE cse_intel AS
        SELECT DISTINCT l.intel_id, w.who, upper(trim(i.intelligence_assessment)) AS grade
        FROM intel_links l JOIN intel i USING (intel_id) JOIN cse_people w USING (person_id)
        WHERE list_contains($grades, upper(trim(i.intelligence_assessment)));""",
                {"max": d.hubs.max_distinct, "grades": d.r3.intel_grades})


def _links(con: duckdb.DuckDBPyConnection, d: CseDefinition) -> None:
    parts = []
    for kind in ASSOCIATION_KINDS:
        strength = d.strength(kind)
        if strength == "off":
            continue
        sql = _KINDS[kind].replace("$days", str(int(d.r3.co_location_days)))
        parts.append(f"SELECT a, b, '{kind}' AS kind, '{_STRENGTH[strength]}' AS strength, "
                     f"detail FROM ({sql}) AS k(a, b, detail)")
    body = " UNION ALL ".join(parts) if parts else (
        "SELECT NULL::VARCHAR a, NULL::VARCHAR b, NULL::VARCHAR kind, NULL::VARCHAR strength, "
        "NULL::VARCHAR detail WHERE false")
    con.execute(f"CREATE OR REPLACE TEMP TABLE cse_links AS {body}",
                {"max": d.hubs.max_distinct} if "$max" in body else None)


def _components(con: duckdb.DuckDBPyConnection) -> None:
    """Per crime, the groups its candidates form: strong links and weak pairs count; a
    weak link counts beside them (it joins someone already in a group)."""
    _run(con, """
        CREATE OR REPLACE TEMP TABLE cse_pair_weight AS
        SELECT a, b, count(*) FILTER (WHERE strength = 'strong') AS strong,
               count(*) FILTER (WHERE strength = 'weak') AS weak
        FROM cse_links GROUP BY a, b;
        CREATE OR REPLACE TEMP TABLE cse_edges AS
        WITH e AS (
            SELECT x.crime_id, w.a, w.b, w.strong > 0 OR w.weak >= 2 AS counts
            FROM cse_pair_weight w
            JOIN cse_cand x ON x.who = w.a JOIN cse_cand y ON y.who = w.b
             AND y.crime_id = x.crime_id),
        grouped AS (SELECT crime_id, a AS who FROM e WHERE counts
                    UNION SELECT crime_id, b FROM e WHERE counts)
        SELECT e.crime_id, e.a, e.b, e.counts
                   OR EXISTS (SELECT 1 FROM grouped g WHERE g.crime_id = e.crime_id
                              AND g.who IN (e.a, e.b)) AS counts
        FROM e;
        CREATE OR REPLACE TEMP TABLE cse_labels AS
        SELECT crime_id, who, who AS label FROM cse_cand;""")
    for _ in range(_MAX_ROUNDS):
        changed = con.execute("""
            UPDATE cse_labels l SET label = best.label
            FROM (SELECT crime_id, who, min(label) AS label FROM (
                      SELECT e.crime_id, e.a AS who, l.label FROM cse_edges e
                      JOIN cse_labels l ON l.crime_id = e.crime_id AND l.who = e.b
                      WHERE e.counts
                      UNION ALL
                      SELECT e.crime_id, e.b, l.label FROM cse_edges e
                      JOIN cse_labels l ON l.crime_id = e.crime_id AND l.who = e.a
                      WHERE e.counts) GROUP BY ALL) best
            WHERE l.crime_id = best.crime_id AND l.who = best.who AND best.label < l.label
            """).fetchall()
        if not changed or not changed[0][0]:
            break
    con.execute("""
        CREATE OR REPLACE TEMP TABLE cse_group_size AS
        WITH sizes AS (SELECT crime_id, label, count(*) AS size,
                              list(who ORDER BY who) AS members
                       FROM cse_labels GROUP BY crime_id, label)
        SELECT s.crime_id, s.label, s.size, s.members FROM sizes s
        WHERE EXISTS (SELECT 1 FROM cse_labels l JOIN cse_cand c
                      ON c.crime_id = l.crime_id AND c.who = l.who AND c.direct
                      WHERE l.crime_id = s.crime_id AND l.label = s.label)""")


def _evidence(con: duckdb.DuckDBPyConnection, d: CseDefinition) -> None:
    con.execute("""
        CREATE OR REPLACE TEMP TABLE cse_group_evidence AS
        SELECT crime_id, who || ': ' || CASE WHEN direct THEN via || ' on this crime'
                                            ELSE via END
               || CASE WHEN unidentified THEN ' (unidentified: counted as a placeholder)'
                       ELSE '' END
               || CASE WHEN direct AND via = 'facilitator'
                       THEN ' (R4: a facilitator counts without alleged abuse)' ELSE '' END
               AS line, 0 AS ord
        FROM cse_cand
        UNION ALL
        SELECT e.crime_id, l.a || ' + ' || l.b || ': ' || l.detail || ' (' || l.strength
               || CASE WHEN l.strength = 'strong' THEN ''
                       WHEN NOT e.counts THEN ', alone: does not count'
                       WHEN w.strong = 0 AND w.weak < 2 THEN ', counts beside a strong link'
                       WHEN w.strong = 0 THEN ', counts as one of a pair of weak links'
                       ELSE '' END || ')', 1
        FROM cse_edges e JOIN cse_links l ON l.a = e.a AND l.b = e.b
        JOIN cse_pair_weight w ON w.a = e.a AND w.b = e.b
        UNION ALL
        SELECT crime_id, 'group of ' || size || ' associated person(s): '
               || array_to_string(members, ', ') || ' (needs ' || $min || ')', 2
        FROM (SELECT *, row_number() OVER (PARTITION BY crime_id ORDER BY size DESC, label)
                  AS rn FROM cse_group_size) WHERE rn = 1""", {"min": d.r3.min_persons})
