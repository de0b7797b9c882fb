"""The planted truth is consistent and makes the linkage problem genuinely hard."""

from __future__ import annotations

import jellyfish
import phonenumbers


def test_every_planted_network_spans_two_to_five_neighbouring_forces(scenario, db):
    _, summary = scenario
    rows = db.execute("SELECT network_id, forces FROM truth_networks").fetchall()
    assert rows
    for network_id, forces in rows:
        spanned = forces.split("|")
        assert 2 <= len(spanned) <= 5, network_id
        positions = [summary.forces.index(f) for f in spanned]
        assert positions == list(range(positions[0], positions[0] + len(spanned)))


def test_network_members_are_recorded_in_every_force_the_network_spans(db):
    missing = db.execute("""
        WITH spans AS (SELECT network_id, unnest(string_split(forces, '|')) AS force
                       FROM truth_networks)
        SELECT s.network_id, s.force FROM spans s
        WHERE (SELECT count(DISTINCT real_id) FROM truth_persons p
               WHERE p.network_id = s.network_id AND p.force = s.force) < 2
    """).fetchall()
    assert missing == []


def test_cross_force_people_appear_with_corrupted_variants(db):
    groups = db.execute("""
        SELECT t.real_id, count(DISTINCT t.force) AS forces,
               count(DISTINCT p.given_names || '|' || p.family_name || '|' ||
                     coalesce(CAST(p.dob AS VARCHAR), '-')) AS variants
        FROM truth_persons t JOIN persons p USING (force, person_id)
        WHERE t.network_id IS NOT NULL
        GROUP BY t.real_id HAVING count(DISTINCT t.force) >= 2
    """).fetchall()
    assert len(groups) >= 10
    varied = sum(1 for _, _, variants in groups if variants >= 2)
    assert varied / len(groups) > 0.6, "most cross-force people should be recorded differently"
    # and the same real phone written differently in different forces
    written = db.execute("""
        SELECT t.real_id, i.value FROM truth_persons t
        JOIN identifiers i USING (force, person_id)
        WHERE t.network_id IS NOT NULL AND i.kind = 'phone'
    """).fetchall()
    by_number: dict[str, set[str]] = {}
    for _, value in written:
        e164 = phonenumbers.format_number(phonenumbers.parse(value, "GB"),
                                          phonenumbers.PhoneNumberFormat.E164)
        by_number.setdefault(e164, set()).add(value)
    assert any(len(v) >= 2 for v in by_number.values())


def test_lookalikes_are_different_people_with_similar_names_and_the_same_birth_year(db):
    rows = db.execute("""
        SELECT l.real_id, l.lookalike_of, lp.given_names, lp.family_name, o.given_names,
               o.family_name, year(lp.dob), year(o.dob)
        FROM truth_persons l JOIN persons lp USING (force, person_id)
        JOIN truth_persons ot ON ot.real_id = l.lookalike_of
        JOIN persons o ON o.force = ot.force AND o.person_id = ot.person_id
        WHERE l.is_lookalike
    """).fetchall()
    assert rows, "the scenario must contain look-alikes"
    assert all(r[0] != r[1] for r in rows)
    close = [r for r in rows if jellyfish.jaro_winkler_similarity(
        f"{r[2]} {r[3]}".lower(), f"{r[4]} {r[5]}".lower()) > 0.75]
    assert len(close) / len(rows) > 0.5
    same_year = [r for r in rows if r[6] is not None and r[6] == r[7]]
    assert same_year


def test_about_37_percent_of_group_based_cse_cases_are_flagged_correctly(db):
    total, correct = db.execute(
        "SELECT count(*), count(*) FILTER (flagged_correctly) FROM truth_cases WHERE group_cse"
    ).fetchone()
    assert total >= 100
    assert abs(correct / total - 0.37) < 0.03
    # and the recorded flags say the same as the truth claims
    mismatch = db.execute("""
        SELECT count(*) FROM truth_cases t JOIN crimes c USING (force, crime_id)
        WHERE t.group_cse AND t.flagged_correctly
              AND NOT (coalesce(c.flag_cse, false) AND coalesce(c.flag_group, false))
    """).fetchone()[0]
    assert mismatch == 0


def test_group_cases_have_two_or_more_suspects_and_a_child_victim(db):
    """... or their one suspect is a suspect with others on another group case against the
    same (real) victim: a group's offender abusing the group's victim alone."""
    bad = db.execute("""
        WITH parts AS (
            SELECT r.force, r.crime_id, r.role, tp.real_id FROM roles r
            JOIN truth_persons tp USING (force, person_id))
        SELECT t.force, t.crime_id FROM truth_cases t JOIN crimes c USING (force, crime_id)
        WHERE t.group_based AND (
          ((SELECT count(*) FROM roles r WHERE r.force = t.force AND r.crime_id = t.crime_id
              AND r.role IN ('suspect', 'facilitator')) < 2
           AND NOT EXISTS (
              SELECT 1 FROM parts s JOIN parts v ON v.force = s.force
                   AND v.crime_id = s.crime_id AND v.role = 'victim'
              JOIN parts s2 ON s2.force = s.force AND s2.real_id = s.real_id
                   AND s2.role = 'suspect' AND s2.crime_id <> s.crime_id
              JOIN parts v2 ON v2.force = s.force AND v2.crime_id = s2.crime_id
                   AND v2.role = 'victim' AND v2.real_id = v.real_id
              JOIN truth_cases t2 ON t2.force = s.force AND t2.crime_id = s2.crime_id
              WHERE s.force = t.force AND s.crime_id = t.crime_id AND s.role = 'suspect'
                AND t2.group_based))
          OR NOT EXISTS (SELECT 1 FROM roles r JOIN truth_persons tp USING (force, person_id)
             WHERE r.force = t.force AND r.crime_id = t.crime_id AND r.role = 'victim'))
    """).fetchall()
    assert bad == []


def test_group_cse_cases_are_group_cases_recorded_as_cse(db):
    """R2 decides what makes a group-based case CSE: a CSE flag, an exchange or a
    CSE-specific offence on the record; a group case recording none is not group CSE in
    the truth, though Beaconport still reviews it."""
    rows = db.execute("""
        SELECT t.group_cse, t.group_based, coalesce(c.flag_cse, false)
                   OR c.exchange_indicator IS NOT NULL OR c.ho_offence_code = '88A'
        FROM truth_cases t JOIN crimes c USING (force, crime_id)""").fetchall()
    assert all(cse == (group and recorded) for cse, group, recorded in rows)
    assert any(group and not recorded for _, group, recorded in rows) or len(rows) < 200


def test_review_eligible_cases_are_closed_nfa_group_cases_in_the_beaconport_window(db):
    rows = db.execute("""
        SELECT c.outcome_code, c.outcome_date, c.previously_reviewed, t.group_based
        FROM truth_cases t JOIN crimes c USING (force, crime_id) WHERE t.review_eligible
    """).fetchall()
    assert rows
    for outcome, when, reviewed, group in rows:
        assert group and outcome in ("OC14", "OC15", "OC16", "OC18")
        assert str(when) <= "2025-03-31" and reviewed is not True


def test_review_eligibility_follows_the_deaths_the_force_recorded(db):
    """R7's "believed alive": a death no record of the force holds excludes nothing."""
    rows = db.execute("""
        WITH dead AS (SELECT DISTINCT tp.force, tp.real_id FROM persons p
                      JOIN truth_persons tp USING (force, person_id) WHERE p.deceased),
        s AS (SELECT r.force, r.crime_id, count(*) AS suspects,
                     bool_or(d.real_id IS NOT NULL) AS any_dead
              FROM roles r JOIN truth_persons tp USING (force, person_id)
              LEFT JOIN dead d ON d.force = r.force AND d.real_id = tp.real_id
              WHERE r.role = 'suspect' GROUP BY r.force, r.crime_id)
        SELECT t.review_eligible, s.any_dead
        FROM truth_cases t JOIN crimes c USING (force, crime_id) JOIN s USING (force, crime_id)
        WHERE t.group_based AND c.outcome_code IN ('OC14', 'OC15', 'OC16', 'OC18')
          AND c.outcome_date BETWEEN DATE '2010-01-01' AND DATE '2025-03-31'
          AND c.previously_reviewed IS NOT TRUE AND s.suspects >= 2""").fetchall()
    assert rows
    assert [(eligible, dead) for eligible, dead in rows if eligible == dead] == []


def test_seized_devices_show_a_burner_handover(db):
    """A contact saved as 'X' and 'X new': the old number stops before the new one starts."""
    rows = db.execute("""
        WITH unique_names AS (
          SELECT * FROM contacts QUALIFY count(*) OVER (PARTITION BY device_id, name) = 1),
        pairs AS (
          SELECT o.device_id, o.number AS old_no, n.number AS new_no
          FROM unique_names o JOIN unique_names n ON n.device_id = o.device_id
           AND n.name = o.name || ' new'),
        ev AS (SELECT device_id, number, timestamp_utc FROM calls
               UNION ALL SELECT device_id, number, timestamp_utc FROM messages)
        SELECT p.device_id,
               (SELECT max(timestamp_utc) FROM ev WHERE ev.device_id = p.device_id
                  AND ev.number = p.old_no) AS old_last,
               (SELECT min(timestamp_utc) FROM ev WHERE ev.device_id = p.device_id
                  AND ev.number = p.new_no) AS new_first
        FROM pairs p
    """).fetchall()
    both = [r for r in rows if r[1] is not None and r[2] is not None]
    assert both, "expected at least one handover seen on both numbers"
    assert all(old_last < new_first for _, old_last, new_first in both)


def test_taxi_and_takeaway_numbers_are_shared_by_many_devices(db):
    shared = db.execute("""
        SELECT number, count(DISTINCT device_id) AS devices FROM contacts
        WHERE name IN ('Ace Cars', 'Golden Dragon') GROUP BY ALL ORDER BY devices DESC
    """).fetchall()
    assert shared and shared[0][1] >= 5


def test_imeis_carry_a_valid_luhn_check_digit(db):
    values = [v for (v,) in db.execute(
        "SELECT replace(value, ' ', '') FROM identifiers WHERE kind = 'imei'").fetchall()]
    full = [v for v in values if len(v) == 15]
    assert full

    def luhn_ok(s: str) -> bool:
        total = 0
        for i, ch in enumerate(reversed(s)):
            d = int(ch) * (2 if i % 2 else 1)
            total += d - 9 if d > 9 else d
        return total % 10 == 0

    assert all(luhn_ok(v) for v in full)


def test_phone_numbers_are_written_many_ways_and_all_parse_as_uk_mobiles(db):
    values = [v for (v,) in db.execute(
        "SELECT value FROM identifiers WHERE kind = 'phone'").fetchall()]
    shapes = {v[:2] if v[0] != "(" else "(" for v in values}
    assert {"07", "+4", "00"} <= shapes
    for v in values[:2000]:
        n = phonenumbers.parse(v, "GB")
        assert phonenumbers.number_type(n) == phonenumbers.PhoneNumberType.MOBILE, v


def test_ethnicity_and_nationality_are_often_blank(db):
    blank_eth, blank_nat = db.execute(
        "SELECT avg((ethnicity_self IS NULL)::INT), avg((nationality IS NULL)::INT) FROM persons"
    ).fetchone()
    assert 0.3 < blank_eth < 0.8 and 0.3 < blank_nat < 0.8


def test_victims_of_group_based_cse_are_children_at_the_offence(db):
    """Recorded DOBs may be a year out, so allow under 19; the truth is under 18."""
    ages = db.execute("""
        SELECT date_diff('day', p.dob, c.date_from) / 365.25 AS age
        FROM truth_cases t JOIN crimes c USING (force, crime_id)
        JOIN roles r ON r.force = t.force AND r.crime_id = t.crime_id AND r.role = 'victim'
        JOIN persons p ON p.force = r.force AND p.person_id = r.person_id
        WHERE t.group_cse AND p.dob IS NOT NULL AND p.dob_known
    """).fetchall()
    assert len(ages) > 50
    assert all(a < 19 for (a,) in ages), max(a for (a,) in ages)
    assert sum(a < 18 for (a,) in ages) / len(ages) > 0.95


def test_a_new_number_announces_itself_to_the_old_numbers_contacts(db):
    rows = db.execute("""
        SELECT m.body FROM messages m JOIN contacts c
          ON c.device_id = m.device_id AND c.number = m.number AND c.name LIKE '% new'
        QUALIFY row_number() OVER (PARTITION BY m.device_id, m.number
                                   ORDER BY m.timestamp_utc) = 1
    """).fetchall()
    assert rows and all(body == "new number save it" for (body,) in rows)
