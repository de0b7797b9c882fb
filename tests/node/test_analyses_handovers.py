"""`node analyse handovers`: a number stops and another starts with the same contacts.

The node: two suspects' phones (D1, D2) call number A every day from 1 to 10 January 2023,
then number B every day from 13 to 22 January; D1 saved them as "Ali" and "Ali new". A
taxi firm is called by six devices all month; D3's own number is used 1-10 January and
D4's 13-22 January, and the two share nothing but the taxi firm. D7 and D8 are one handset
(one IMEI) with two numbers; D9 and D10 two handsets with one number.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from analysis_nodes import (
    DEVICE_COLUMNS,
    analyse,
    calls,
    days,
    load,
    only_the_ledger_grows,
    refused,
)

A, B, TAXI = "07700 900101", "07700 900102", "01632 960000"
F3, F4 = "07700 900203", "07700 900204"


def own(i: int) -> str:
    return f"07700 9000{i:02d}"


@pytest.fixture
def handover_node(cli, node: Path, write) -> Path:
    rows = []
    for dev, hour in (("D1", 10), ("D2", 11)):
        rows += [(dev, t, "outgoing", A) for t in days(1, 10, hour)]
        rows += [(dev, t, "outgoing", B) for t in days(13, 22, hour)]
    for dev in ("D1", "D2", "D5", "D6"):
        rows += [(dev, t, "outgoing", TAXI) for t in days(1, 22, 15)]
    rows += [("D3", t, "outgoing", n) for n, h in ((TAXI, 15), (F3, 12))
             for t in days(1, 10, h)]
    rows += [("D4", t, "outgoing", n) for n, h in ((TAXI, 15), (F4, 12))
             for t in days(13, 22, h)]
    devices = DEVICE_COLUMNS + "".join(
        f"D{i},P{i},,{own(i)},Europe/London,GB\n" for i in range(1, 7))
    devices += ("D7,P7,490154203237518,07700 900007,Europe/London,GB\n"
                "D8,P7,490154203237518,07700 900008,Europe/London,GB\n"
                "D9,P9,356938035643809,07700 900009,Europe/London,GB\n"
                "D10,P9,353918057777779,07700 900009,Europe/London,GB\n")
    load(cli, node, write, {
        "persons": "person_id,given_names,family_name\n" + "".join(
            f"P{i},Given{i},Family{i}\n" for i in range(1, 10)),
        "identifiers": f"person_id,kind,value\nP1,phone,{own(1)}\n",
        "devices": devices,
        "calls": calls(rows),
        "contacts": f"device_id,contact_id,name,number\nD1,K1,Ali,{A}\nD1,K2,Ali new,{B}\n",
    })
    return node


def test_a_number_replaced_by_another_with_the_same_contacts_is_found(
        cli, handover_node: Path) -> None:
    out = analyse(cli, handover_node, "handovers")
    (found,) = out["tables"]["handovers, strongest first"]
    assert (found["old"], found["new"], found["switch"]) == ("+447700900101",
                                                            "+447700900102", "2023-01-13")
    # each number is seen only through the seized devices D1 and D2: 2 contacts each, both
    # shared → Jaccard 2 / (2 + 2 - 2) = 1; D1's and D2's own numbers are seen with one
    # device each, weight 1 / log2(2) = 1, so the weighted Jaccard is 1 too
    assert (found["old_contacts"], found["new_contacts"], found["shared"]) == (2, 2, 2)
    assert found["jaccard"] == 1.0 and found["weighted_jaccard"] == 1.0
    assert (found["old_events"], found["new_events"]) == (20, 20)
    assert found["order"] == 1.0 and found["p_value"] < 0.01
    # last A: 10 Jan 11:00, first B: 13 Jan 10:00 → gap 2 days 23 h = 2.9583 days;
    # closeness 1 / (1 + 2.9583 / 30) = 0.9102; one clue (saved as Ali / Ali new) halves
    # the doubt: 1 - (1 - 0.9102) / 2 = 0.9551
    assert found["gap_days"] == 3 and found["parallel_days"] == 0
    assert math.isclose(found["closeness"], 0.910, abs_tol=1e-3)
    assert math.isclose(found["strength"], 0.955, abs_tol=1e-3)
    assert "saved as 'Ali' / 'Ali new' on D1" in found["clues"]
    assert found["explanation"].startswith("old last used 2023-01-10, new first 2023-01-13 "
                                           "(3 days later); shares 2 of 2 / 2 seized devices")


def test_a_taxi_firm_shared_by_many_devices_makes_no_handover(cli, handover_node: Path
                                                              ) -> None:
    out = analyse(cli, handover_node, "handovers")
    hubs = out["tables"]["hubs (weigh nothing in the overlap)"]
    # the taxi firm is seen with D1, D2, D3, D4, D5, D6: 6 devices, the default hub size
    # max(6, 10 devices / 4)
    assert [(h["contact"], h["devices"]) for h in hubs] == [("+441632960000", 6)]
    pairs = [(f["old"], f["new"]) for f in out["tables"]["handovers, strongest first"]]
    assert ("+447700900003", "+447700900004") not in pairs
    # without the hub rule the pair is a candidate: plain Jaccard {taxi, F3} vs {taxi, F4}
    # = 1/3, but weighted by rarity the taxi (6 devices) counts 1 / log2(7) = 0.356 and
    # F3, F4 (one device each) count 1: 0.356 / (1.356 + 1.356 - 0.356) = 0.151
    out = analyse(cli, handover_node, "handovers", "--hub", 100, "--min-overlap", 0.1,
                  "--min-strength", 0)
    (taxi_pair,) = [f for f in out["tables"]["handovers, strongest first"]
                    if f["old"] == "+447700900003"]
    assert taxi_pair["new"] == "+447700900004"
    assert math.isclose(taxi_pair["jaccard"], 1 / 3, abs_tol=1e-3)
    assert math.isclose(taxi_pair["weighted_jaccard"], 0.151, abs_tol=1e-3)
    out = analyse(cli, handover_node, "handovers", "--hub", 100)  # default --min-overlap 0.3
    assert all(f["old"] != "+447700900003" for f in
               out["tables"]["handovers, strongest first"])


def test_one_handset_with_two_numbers_and_one_number_in_two_handsets(
        cli, handover_node: Path) -> None:
    out = analyse(cli, handover_node, "handovers")
    (imei,) = out["tables"]["handsets (IMEI) seen with several numbers"]
    assert imei["imei"] == "490154203237518"
    assert imei["numbers"] == "+447700900007|+447700900008" and imei["devices"] == "D7|D8"
    (number,) = out["tables"]["numbers seen in several handsets"]
    assert number["number"] == "+447700900009" and number["devices"] == "D10|D9"
    assert number["imeis"] == "353918057777779|356938035643809"


def test_person_filter_keeps_the_persons_numbers_only(cli, handover_node: Path) -> None:
    # P1's recorded number is D1's own: no handover starts or ends there
    out = analyse(cli, handover_node, "handovers", "--person", "P1")
    assert out["tables"]["handovers, strongest first"] == []
    out = analyse(cli, handover_node, "handovers", "--number", A)
    assert len(out["tables"]["handovers, strongest first"]) == 1


@pytest.mark.parametrize(("args", "message"), [
    (["--person", "P99"], "no person 'P99' on this node"),
    (["--number", "07700 900999"], "--number 07700 900999: no call, message or device"),
    (["--from", "2023-02-01", "--to", "2023-01-01"], "is before --from"),
    (["--from", "2024-01-01"], "no calls or messages between 2024-01-01"),
    (["--device", "D77"], "no device 'D77' on this node"),
])
def test_bad_input_is_one_line_and_exit_2(cli, handover_node: Path, args: list[str],
                                          message: str) -> None:
    assert message in refused(cli, handover_node, "handovers", *args)


def test_a_node_with_no_devices_is_told_to_load_one(cli, node: Path) -> None:
    assert "holds no seized devices" in refused(cli, node, "handovers")


def test_the_store_is_unchanged_but_for_one_ledger_entry(cli, handover_node: Path,
                                                         query) -> None:
    assert only_the_ledger_grows(cli, query, handover_node, "handovers") == (
        "consultation", "analysis:handovers")
