"""`node analyse contacts` on a hand-built store (analyses_worlds.contacts_world): every
expected number below is worked out from the world's description, not read off a run."""

from __future__ import annotations

from math import comb
from pathlib import Path

import pytest
from analyses_worlds import A, B, C, T, V, build, by, contacts_world, run, store_tables


@pytest.fixture(scope="module")
def world(template_node: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(template_node, tmp_path_factory.mktemp("contacts"), contacts_world())


def tail(n: int, k: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), from the definition."""
    return sum(comb(n, j) * p ** j * (1 - p) ** (n - j) for j in range(k, n + 1))


def test_top_contacts_by_count_and_by_duration_with_direction_balance(cli, world) -> None:
    out = run(cli, world, "contacts", "--device", "D1")
    pairs = by(out["tables"]["contacts"], "contact")
    assert set(pairs) == {V, A, B, C, T}
    # ties (V and B; T and C) in order of the number
    assert [r["contact"] for r in out["tables"]["top contacts by count"]] == [A, V, B, T, C]
    # calls are 60 s to V, 10 s to A, 120 s to B, 30 s to C, 5 s to T
    assert [(r["contact"], r["duration_s"]) for r in
            out["tables"]["top contacts by call duration"]] == [
        (B, 1200), (V, 600), (A, 300), (C, 60), (T, 10)]
    v = pairs[V]
    assert (v["events"], v["calls"], v["messages"]) == (10, 10, 0)
    assert (v["incoming"], v["outgoing"], v["missed"]) == (3, 6, 1)
    # V's calls are on 1..10 January: eight at 23:MM (MM = 0..7), then two at 12:08, 12:09
    assert v["first_contact"] == "2024-01-01 23:00:00"
    assert v["last_contact"] == "2024-01-10 12:09:00"
    assert out["summary"]["events"] == 54 and out["summary"]["pairs"] == 5


def test_weekly_series_counts_monday_weeks_from_the_first_contact(cli, world) -> None:
    out = run(cli, world, "contacts", "--device", "D1", "--top", "2")
    weekly = by(out["tables"]["weekly frequency"], "contact")
    # top 2 by count: A and V. 1 January 2024 is a Monday: V's days 1-7, then 8-10
    assert set(weekly) == {A, V}
    assert weekly[V]["first_week"] == "2024-01-01" and weekly[V]["weekly"] == [7, 3]
    # A: days 1..28 then 1 and 2 again: 9 in the first week, 7 in each of the next three
    assert weekly[A]["weekly"] == [9, 7, 7, 7]


def test_a_mostly_night_pair_is_unusual_and_a_small_one_is_not(cli, world) -> None:
    out = run(cli, world, "contacts", "--device", "D1")
    pairs = by(out["tables"]["contacts"], "contact")
    # 54 calls, 15 at night. V: 8 of 10 at night; D1's other calls: 7 of 44 at night
    v = pairs[V]
    assert v["night"] == 8 and v["night_share"] == 0.8
    assert v["baseline_night_share"] == pytest.approx(7 / 44, abs=1e-4)
    p_v = tail(10, 8, 7 / 44)
    assert v["p_value"] == pytest.approx(p_v, rel=1e-3)
    # Holm over D1's 5 pairs: the smallest p-value is multiplied by 5
    assert v["p_holm"] == pytest.approx(5 * p_v, rel=1e-3) and v["unusual_night"] is True
    # C: both calls at night, but only two: baseline 13/52 = 1/4, p = (1/4)^2 = 0.0625;
    # second smallest, so Holm multiplies by 4: 0.25, not unusual at 0.05
    c = pairs[C]
    assert c["night_share"] == 1.0 and c["baseline_night_share"] == 0.25
    assert c["p_value"] == pytest.approx(0.0625) and c["p_holm"] == pytest.approx(0.25)
    assert c["unusual_night"] is False
    # B: 2 of 10 at night is below D1's other contact (13 of 44): nothing unusual
    assert pairs[B]["p_value"] == pytest.approx(tail(10, 2, 13 / 44), rel=1e-3)
    assert pairs[B]["unusual_night"] is False
    assert out["summary"]["unusual_night_pairs"] == 1
    (subject,) = out["tables"]["night-time share"]
    assert (subject["events"], subject["night"]) == (54, 15)


def test_the_night_window_is_the_analysts_choice(cli, world) -> None:
    # 12:00-13:00 holds the day calls instead: V has 2 of 10 then
    out = run(cli, world, "contacts", "--device", "D1", "--night", "12:00-13:00")
    assert by(out["tables"]["contacts"], "contact")[V]["night"] == 2


def test_contact_with_child_victims_names_the_victim_crime_and_age(cli, world) -> None:
    out = run(cli, world, "contacts", "--device", "D1")
    # V is the phone of P2, born 2008-03-01: 15 on 2023-06-01 when CR/1 began.
    # A is the phone of P3, a victim too, but an adult: not listed.
    assert [(r["contact"], r["victim"], r["crime_refs"], r["youngest_age"], r["age_basis"])
            for r in out["tables"]["contact with child victims"]] == [
        (V, "P2", "CR/1 (15)", 15, "date of birth")]


def test_a_persons_devices_together_meet_victims_by_email_and_handle(cli, world) -> None:
    out = run(cli, world, "contacts", "--person", "P1")
    # P1 holds D1 and D2; D2 wrote to P4's e-mail (written two ways) and Snapchat handle.
    # P4 has no date of birth, and at most 16: a child by the recorded range
    victims = {(r["contact"], r["victim"], r["crime_refs"], r["age_basis"])
               for r in out["tables"]["contact with child victims"]}
    assert victims == {(V, "P2", "CR/1 (15)", "date of birth"),
                       ("kid@example.com", "P4", "CR/2 (<=16)", "recorded age range"),
                       ("snapchat:jay.k", "P4", "CR/2 (<=16)", "recorded age range")}
    pairs = by(out["tables"]["contacts"], "contact")
    assert pairs["kid@example.com"]["messages"] == 2
    assert out["summary"]["devices"] == 2 and out["summary"]["events"] == 57


def test_the_terminal_view_and_csv_hold_the_same_pairs(cli, world, tmp_path) -> None:
    path = tmp_path / "pairs.csv"
    r = cli("node", "analyse", "contacts", "--dir", world, "--device", "D1", "--csv", path)
    assert r.code == 0, r
    assert "subject: D1" in r.out and "top contacts by count" in r.out
    lines = path.read_text().splitlines()
    assert lines[0].startswith("subject,contact,kind,name,events") and len(lines) == 1 + 5
    assert all(len(line) <= 100 for line in r.out.splitlines())


def test_contacts_changes_nothing_but_one_ledger_entry(cli, world, query) -> None:
    before = store_tables(query, world)
    ledger = query(world, "SELECT count(*) FROM ledger")[0][0]
    run(cli, world, "contacts", "--person", "P1")
    assert store_tables(query, world) == before
    assert query(world, "SELECT count(*) FROM ledger")[0][0] == ledger + 1
    (action, purpose, counts), = query(
        world, "SELECT action, purpose, counts FROM ledger ORDER BY seq DESC LIMIT 1")
    assert (action, purpose) == ("consultation", "analysis:contacts")
    assert '"child_victim_pairs":3' in counts.replace(" ", "")
