"""R1, R2 and R5 of the national definition (DOMAIN.md §2) over the node store, in SQL.

:func:`evaluate` leaves temp tables the CSE analyses (and egress's national aggregates)
read; R3's associations are built by ``_cse_groups``. Every crime is evaluated:

``cse_who``       (person_id, who, unidentified): each record's person as the force's last
                  resolution has them (``who``); an unidentified suspect (no usable name) is
                  always a person of their own — a placeholder that still counts;
``cse_victims``   (crime_id, person_id, age, source, child, problem): each victim's age on
                  the offence's first day — from the date of birth, else the age range,
                  else the age the offence code implies — and why none could be found;
``cse_cases``     one row per crime: r1 / r2 / r3 (NULL: cannot evaluate), ``reason`` for a
                  crime that cannot be evaluated, group size, ``group_based`` (R1 and R3's
                  group test without R2: what Beaconport reviews), flags and the mis-flag
                  (R5);
``cse_evidence``  (crime_id, rule, line): one readable line per piece of evidence.
"""

from __future__ import annotations

import duckdb

from node.analyses._cse_groups import build_groups
from policies.definition import CseDefinition

#: R5 outcomes
NOT_FLAGGED = "R3, not flagged"
FLAGGED_FAILS_R1 = "flagged, fails R1"

_NAMELESS = ("", "ns", "unk", "n/k", "nk", "unknown", "not stated", "not known", "-", "?",
             "unidentified", "unknown suspect")


def evaluate(con: duckdb.DuckDBPyConnection, d: CseDefinition,
             person_map: str | None = None) -> None:
    """Evaluate every crime of the store against ``d`` into the temp tables above.
    ``person_map``: a table of (person_id, local_person) to use instead of the stored
    resolution (egress passes the one it shares under)."""
    con.execute("SET TimeZone = 'UTC'")
    _who(con, person_map)
    _victims(con, d)
    _cases(con, d)
    build_groups(con, d)
    _finish(con, d)


def _who(con: duckdb.DuckDBPyConnection, person_map: str | None) -> None:
    source = person_map or "person_resolution"
    nameless = ", ".join(f"'{n}'" for n in _NAMELESS)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE cse_who AS
        SELECT p.person_id,
               coalesce(lower(trim(p.given_names)), '') IN ({nameless})
                 AND coalesce(lower(trim(p.family_name)), '') IN ({nameless}) AS unidentified,
               CASE WHEN coalesce(lower(trim(p.given_names)), '') IN ({nameless})
                     AND coalesce(lower(trim(p.family_name)), '') IN ({nameless})
                    THEN p.person_id ELSE coalesce(m.local_person, p.person_id) END AS who
        FROM persons p LEFT JOIN {source} m USING (person_id)""")


def _victims(con: duckdb.DuckDBPyConnection, d: CseDefinition) -> None:
    implied = [(k, v) for k, v in d.implied_ages.items()] or [("", 0)]
    con.execute("CREATE OR REPLACE TEMP TABLE cse_implied (code VARCHAR, under INTEGER)")
    con.executemany("INSERT INTO cse_implied VALUES (?, ?)", implied)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE cse_victims AS
        WITH v AS (
            SELECT DISTINCT r.crime_id, r.person_id, c.date_from, c.ho_offence_code,
                   p.dob, p.dob_precision, p.age_min, p.age_max, i.under
            FROM roles r JOIN crimes c USING (crime_id) JOIN persons p USING (person_id)
            LEFT JOIN cse_implied i ON i.code = c.ho_offence_code
            WHERE r.role = 'victim' AND list_contains($sexual, c.ho_offence_code)),
        aged AS (
            SELECT *, CASE WHEN dob IS NOT NULL AND date_from IS NOT NULL
                      THEN date_diff('year', dob, date_from)
                           - CASE WHEN strftime(date_from, '%m%d') < strftime(dob, '%m%d')
                                  THEN 1 ELSE 0 END END AS dob_age
            FROM v)
        SELECT crime_id, person_id,
               CASE WHEN dob_age >= 0 THEN dob_age WHEN dob IS NULL THEN age_max END AS age,
               CASE WHEN dob IS NOT NULL AND dob_age >= 0 THEN
                        'date of birth ' || strftime(dob, '%Y-%m-%d')
                        || CASE WHEN dob_precision IN ('month', 'year')
                                THEN ' (' || dob_precision || ' only: oldest possible age)'
                                ELSE '' END
                    WHEN dob IS NULL AND (age_max < $age OR age_min >= $age) THEN
                        'age range ' || coalesce(CAST(age_min AS VARCHAR), '?') || '-'
                        || age_max
                    WHEN dob IS NULL AND under IS NOT NULL THEN
                        CASE WHEN age_max IS NOT NULL
                             THEN 'age range ' || coalesce(CAST(age_min AS VARCHAR), '?')
                                  || '-' || age_max || ' straddles ' || $age || '; '
                             ELSE 'no date of birth or age range; ' END
                        || 'offence ' || ho_offence_code || ' implies under ' || under
                    END AS source,
               CASE WHEN dob IS NOT NULL AND dob_age >= 0 THEN dob_age < $age
                    WHEN dob IS NOT NULL THEN NULL
                    WHEN age_max < $age THEN true
                    WHEN age_min >= $age THEN false
                    WHEN under IS NOT NULL THEN under <= $age END AS child,
               CASE WHEN dob IS NOT NULL AND date_from IS NOT NULL AND dob_age < 0 THEN
                        'victim ' || person_id || ' born ' || strftime(dob, '%Y-%m-%d')
                        || ', after the offence'
                    WHEN dob IS NULL AND age_max IS NOT NULL AND under IS NULL
                         AND NOT (age_max < $age OR age_min >= $age) THEN
                        'victim ' || person_id || ' has an age range ('
                        || coalesce(CAST(age_min AS VARCHAR), '?') || '-' || age_max
                        || ') that straddles ' || $age
                    WHEN dob IS NULL AND age_max IS NULL AND under IS NULL THEN
                        'victim ' || person_id || ' has no date of birth or age range'
                    END AS problem
        FROM aged""", {"sexual": d.offences.sexual, "age": d.r1.age_threshold})


def _cases(con: duckdb.DuckDBPyConnection, d: CseDefinition) -> None:
    """cse_cases with R1, R2 and the reason a crime cannot be evaluated."""
    r2_flags = " OR ".join(f"coalesce(c.flag_{f}, false)" for f in d.r2.flags) or "false"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE cse_cases AS
        WITH vs AS (
            SELECT crime_id, count(*) AS victims,
                   bool_or(coalesce(child, false)) AS any_child,
                   string_agg(problem, '; ' ORDER BY person_id)
                       FILTER (WHERE problem IS NOT NULL) AS problems
            FROM cse_victims GROUP BY crime_id),
        base AS (
            SELECT c.*, list_contains($sexual, c.ho_offence_code) AS sexual,
                   coalesce(vs.victims, 0) AS victims, coalesce(vs.any_child, false)
                       AS any_child, vs.problems, i.under AS implied_under,
                   CASE WHEN c.date_from IS NULL THEN 'no offence date (date_from)'
                        WHEN c.date_from > current_date THEN
                            'offence date ' || strftime(c.date_from, '%Y-%m-%d')
                            || ' is in the future'
                        WHEN c.date_to < c.date_from THEN
                            'offence ends ' || strftime(c.date_to, '%Y-%m-%d')
                            || ' before it starts ' || strftime(c.date_from, '%Y-%m-%d')
                        WHEN c.outcome_date < c.date_from THEN
                            'outcome dated ' || strftime(c.outcome_date, '%Y-%m-%d')
                            || ' before the offence ' || strftime(c.date_from, '%Y-%m-%d')
                        END AS date_problem
            FROM crimes c LEFT JOIN vs USING (crime_id)
            LEFT JOIN cse_implied i ON i.code = c.ho_offence_code)
        SELECT crime_id, crime_ref, ho_offence_code, offence_description, date_from,
               outcome_code, outcome_date, previously_reviewed,
               CASE WHEN NOT sexual THEN NULL
                    WHEN date_problem IS NOT NULL THEN date_problem
                    WHEN any_child THEN NULL
                    WHEN victims = 0 AND implied_under IS NULL THEN 'no victim recorded'
                    WHEN problems IS NOT NULL THEN problems END AS reason,
               CASE WHEN NOT sexual THEN false
                    WHEN date_problem IS NOT NULL THEN NULL
                    WHEN any_child THEN true
                    WHEN victims = 0 AND implied_under IS NOT NULL THEN implied_under <= $age
                    WHEN victims = 0 OR problems IS NOT NULL THEN NULL
                    ELSE false END AS r1,
               ({r2_flags}) AS r2_flag,
               list_contains($exchange, lower(trim(exchange_indicator))) AS r2_exchange,
               list_contains($cse_codes, ho_offence_code) AS r2_code,
               exchange_indicator,
               {" AND ".join(f"coalesce(flag_{f}, false)" for f in d.r5.flags)} AS flagged,
               {" OR ".join(f"coalesce(flag_{f}, false)" for f in d.r5.flags)} AS any_flag,
               {", ".join(f"flag_{f}" for f in ("cse", "csa", "cce", "online", "group"))}
        FROM base c""", {"sexual": d.offences.sexual, "age": d.r1.age_threshold,
                         "exchange": d.r2.exchange_indicators,
                         "cse_codes": d.offences.cse_specific})
    con.execute("""
        ALTER TABLE cse_cases ADD COLUMN r2 BOOLEAN;
        UPDATE cse_cases SET r2 = CASE WHEN r1 IS NULL THEN NULL
            ELSE r1 AND (r2_flag OR coalesce(r2_exchange, false) OR r2_code) END;""")


def _finish(con: duckdb.DuckDBPyConnection, d: CseDefinition) -> None:
    """R3 from the groups, R5's mis-flags, and the evidence lines of R1, R2 and R5."""
    con.execute("""
        ALTER TABLE cse_cases ADD COLUMN group_size INTEGER;
        ALTER TABLE cse_cases ADD COLUMN group_based BOOLEAN;
        ALTER TABLE cse_cases ADD COLUMN r3 BOOLEAN;
        ALTER TABLE cse_cases ADD COLUMN misflag VARCHAR;""")
    con.execute("""
        UPDATE cse_cases c SET group_size = g.size
        FROM (SELECT crime_id, max(size) AS size FROM cse_group_size GROUP BY crime_id) g
        WHERE g.crime_id = c.crime_id""")
    # group_based: R1 and R3's group test, whatever R2 says (what R7 reviews); R3 adds R2
    con.execute(f"""
        UPDATE cse_cases SET
            group_based = CASE WHEN r1 IS NULL THEN NULL
                               ELSE r1 AND coalesce(group_size, 0) >= {int(d.r3.min_persons)}
                               END""")
    con.execute("UPDATE cse_cases SET r3 = CASE WHEN r2 IS NULL THEN NULL "
                "ELSE r2 AND group_based END")
    con.execute(f"""
        UPDATE cse_cases SET misflag = CASE WHEN r3 AND NOT flagged THEN '{NOT_FLAGGED}'
                                            WHEN any_flag AND r1 = false
                                            THEN '{FLAGGED_FAILS_R1}' END""")
    con.execute("""
        CREATE OR REPLACE TEMP TABLE cse_evidence AS
        SELECT crime_id, 'R1' AS rule,
               'victim ' || person_id || CASE WHEN age IS NOT NULL
                   THEN ' aged ' || age ELSE '' END || ' on the offence date: ' || source
               || CASE WHEN child THEN ' -> under ' || $age ELSE ' -> not shown under '
                       || $age END AS line
        FROM cse_victims WHERE source IS NOT NULL
        UNION ALL
        SELECT crime_id, 'R1', 'no victim linked; offence ' || ho_offence_code
               || ' implies a victim under ' || i.under
        FROM cse_cases c JOIN cse_implied i ON i.code = c.ho_offence_code
        WHERE r1 AND crime_id NOT IN (SELECT crime_id FROM cse_victims)
        UNION ALL
        SELECT crime_id, 'R2', 'flag set: ' || $flags FROM cse_cases WHERE r1 AND r2_flag
        UNION ALL
        SELECT crime_id, 'R2', 'exchange recorded: ' || exchange_indicator FROM cse_cases
        WHERE r1 AND r2_exchange
        UNION ALL
        SELECT crime_id, 'R2', 'offence ' || ho_offence_code || ' is CSE-specific'
        FROM cse_cases WHERE r1 AND r2_code
        UNION ALL
        SELECT crime_id, 'R3', line FROM cse_group_evidence
        WHERE crime_id IN (SELECT crime_id FROM cse_cases WHERE r2 OR group_based)
        UNION ALL
        SELECT crime_id, 'R3', 'group-based, but not R3: R2 fails (no ' || $flags
               || ' flag, exchange or CSE-specific offence recorded); still a group-based '
               || 'child sexual offence for Beaconport review (R7)'
        FROM cse_cases WHERE group_based AND NOT r2
        UNION ALL
        SELECT crime_id, 'R5', misflag || ' (flags: ' || $r5 || ' = '
               || concat_ws('/', CASE WHEN flagged THEN 'all set' WHEN any_flag
                                      THEN 'some set' ELSE 'none set' END) || ')'
        FROM cse_cases WHERE misflag IS NOT NULL""",
                {"age": d.r1.age_threshold, "flags": " or ".join(d.r2.flags),
                 "r5": " + ".join(d.r5.flags)})


def recording_accuracy(con: duckdb.DuckDBPyConnection) -> tuple[int, int, float | None]:
    """(R3 cases, of them flagged, share flagged): the force's recording accuracy."""
    ((n, ok),) = con.execute("""SELECT count(*) FILTER (WHERE r3),
                                       count(*) FILTER (WHERE r3 AND flagged)
                                FROM cse_cases""").fetchall()
    return int(n), int(ok), (ok / n if n else None)


ACCURACY_DEFINITION = ("recording accuracy = cases meeting R3 that the force flagged as "
                       "group-based CSE (every r5 flag of the definition set) / cases "
                       "meeting R3")
