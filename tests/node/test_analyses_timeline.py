"""`node analyse timeline` on a hand-built store (analyses_worlds.timeline_world): calls,
messages, a crime and an intelligence report in one order; the hour x weekday matrix."""

from __future__ import annotations

from pathlib import Path

import pytest
from analyses_worlds import build, run, store_tables, timeline_world


@pytest.fixture(scope="module")
def world(template_node: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(template_node, tmp_path_factory.mktemp("timeline"), timeline_world())


def brief(out: dict) -> list[tuple]:
    return [(r["when"], r["kind"], r["who"], r["with"]) for r in out["tables"]["timeline"]]


def test_a_persons_timeline_mixes_calls_a_crime_and_intelligence_in_order(cli, world) -> None:
    out = run(cli, world, "timeline", "--person", "P1", "--from", "2024-01-01",
              "--to", "2024-01-31")
    # P1's crime starts on the 5th; D1 calls on the 10th and messages on the 11th; P9's D9
    # calls P1's recorded phone on the 12th; the report on P1 is dated the 15th.
    # P9's own crime and report are not P1's.
    assert brief(out) == [
        ("2024-01-05", "crime", "P1", "CR/9"),
        ("2024-01-10 12:00", "call", "D1", "+447700900500"),
        ("2024-01-11 09:00", "message", "D1", "+447700900500"),
        ("2024-01-12 10:00", "call", "D9", "+447700900011"),
        ("2024-01-15", "intel", "P1", "I1"),
    ]
    crime, call, message, _, intel = out["tables"]["timeline"]
    assert (crime["role"], crime["date_to"], crime["outcome"], crime["outcome_date"]) == (
        "suspect", "2024-01-20", "OC16", "2024-03-01")
    assert (call["direction"], call["duration_s"]) == ("outgoing", 65)
    assert intel["grading"] == "2/B/P"
    # no text unless asked for
    assert intel["text"] is None and message["text"] is None
    shown = run(cli, world, "timeline", "--person", "P1", "--to", "2024-01-31",
                "--show-text")
    texts = {r["kind"]: r["text"] for r in shown["tables"]["timeline"]}
    assert texts["intel"] == "seen at the shop" and texts["message"] == "see you"


def test_device_and_identifier_select_their_calls_and_messages(cli, world) -> None:
    assert brief(run(cli, world, "timeline", "--device", "D9")) == [
        ("2024-01-12 10:00", "call", "D9", "+447700900011")]
    # the identifier as a user might type it
    assert brief(run(cli, world, "timeline", "--identifier", "07700 900011")) == [
        ("2024-01-12 10:00", "call", "D9", "+447700900011")]


def test_the_summer_call_is_shown_in_london_time(cli, world) -> None:
    out = run(cli, world, "timeline", "--device", "D1", "--from", "2024-07-01")
    # 23:30 UTC on Saturday 6 July is 00:30 British Summer Time on Sunday 7 July
    assert brief(out) == [("2024-07-07 00:30", "call", "D1", "+447700900500")]


def test_heat_matrix_counts_by_local_hour_and_weekday(cli, world) -> None:
    out = run(cli, world, "timeline", "--device", "D1", "--heat")
    matrix = {r["hour"]: r for r in out["tables"]["contact by hour and weekday"]}
    # Wednesday 10 January 12:00, Thursday 11 January 09:00, Sunday 7 July 00:30
    assert matrix["12"]["Wed"] == 1 and matrix["09"]["Thu"] == 1 and matrix["00"]["Sun"] == 1
    assert matrix["all"]["all"] == 3 and sum(matrix["12"][d] for d in (
        "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")) == 1


def test_timeline_changes_nothing_but_one_ledger_entry(cli, world, query) -> None:
    before = store_tables(query, world)
    ledger = query(world, "SELECT count(*) FROM ledger")[0][0]
    run(cli, world, "timeline", "--person", "P1", "--show-text")
    assert store_tables(query, world) == before
    assert query(world, "SELECT count(*) FROM ledger")[0][0] == ledger + 1
