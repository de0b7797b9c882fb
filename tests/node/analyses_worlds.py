"""Small hand-built stores for the contact analyses, with every count chosen so the expected
answers can be worked out by hand (the tests say how)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

CALL_HEADER = "device_id,call_id,timestamp_utc,direction,number,name,duration_s,app\n"
DEVICES_HEADER = "device_id,person_id,owner_number,timezone,region\n"

# the numbers of the contacts world (E.164 as the store holds them)
V = "+447700900100"   # a child victim's phone
A = "+447700900200"   # an adult victim's phone, called by day
B = "+447700900300"
C = "+447700900400"   # two calls, both at night
T = "+441632960001"   # a taxi firm


def calls(device: str, number: str, night: int, day: int, duration: int,
          directions: Iterable[str] | None = None, prefix: str = "") -> list[str]:
    """``night`` calls at 23:MM then ``day`` calls at 12:MM, the i-th on 1 + i % 28 January
    2024 (a Monday; GMT, so UTC is local time), MM = i; all ``duration`` seconds long."""
    dirs = list(directions or ["outgoing"] * (night + day))
    rows = []
    for i in range(night + day):
        hour = 23 if i < night else 12
        ts = f"2024-01-{1 + i % 28:02d} {hour}:{i % 60:02d}:00"
        rows.append(f"{device},{prefix}{number[-3:]}-{i},{ts},{dirs[i]},{number},,"
                    f"{duration},Phone")
    return rows


def contacts_world() -> dict[str, str]:
    """P1 (suspect) holds D1 and D2. D1 calls: V 10 (8 at night), A 30 (3 at night),
    B 10 (2 at night), C 2 (both at night), T 2 (by day): 54 calls, 15 at night.
    D2 messages a child victim's e-mail (twice, by day) and Snapchat handle (once, at night).
    Victims: P2 (V's holder) born 2008-03-01, 15 when crime CR/1 began on 2023-06-01;
    P3 (A's holder) an adult; P4 (e-mail and handle) no date of birth, age 14-16."""
    d1 = (calls("D1", V, 8, 2, 60, ["outgoing"] * 6 + ["incoming"] * 3 + ["missed"])
          + calls("D1", A, 3, 27, 10) + calls("D1", B, 2, 8, 120) + calls("D1", C, 2, 0, 30)
          + calls("D1", T, 0, 2, 5))
    return {
        "persons": "person_id,given_names,family_name,dob,age_min,age_max\n"
                   "P1,Adam,Suspect,1980-01-01,,\nP2,Bella,Child,2008-03-01,,\n"
                   "P3,Cara,Adult,1990-05-05,,\nP4,Dana,Young,,14,16\n",
        "crimes": "crime_id,crime_ref,ho_offence_code,date_from\n"
                  "C1,CR/1,88A,2023-06-01\nC2,CR/2,19C,2023-07-01\n",
        "roles": "crime_id,person_id,role\nC1,P1,suspect\nC1,P2,victim\n"
                 "C2,P3,victim\nC2,P4,victim\n",
        "identifiers": "person_id,kind,value,platform\nP2,phone,07700 900100,\n"
                       "P3,phone,07700900200,\nP4,email,Kid@Example.com,\n"
                       "P4,handle,jay.k,snapchat\n",
        "devices": DEVICES_HEADER + "D1,P1,07700 900001,Europe/London,GB\n"
                                    "D2,P1,07700 900002,Europe/London,GB\n",
        "calls": CALL_HEADER + "\n".join(d1) + "\n",
        "messages": "device_id,message_id,timestamp_utc,direction,number,app,body\n"
                    "D2,m1,2024-02-01 10:00:00,outgoing,KID@example.com ,Email,hi\n"
                    "D2,m2,2024-02-02 10:00:00,incoming,kid@example.com,Email,hello\n"
                    "D2,m3,2024-02-03 23:00:00,outgoing,@Jay.K,Snapchat,u up\n",
    }


def build(template: Path, folder: Path, tables: dict[str, str]) -> Path:
    """A node (a copy of the session's empty template) holding ``tables``, written as CSV
    files in the node input layout and ingested as a user would: the analyses change
    nothing but the ledger, so one world serves a whole test module."""
    from federation.cli import main

    node, data = folder / "node", folder / "in"
    shutil.copytree(template, node)
    data.mkdir()
    for table, text in tables.items():
        (data / f"{table}.csv").write_text(text)
    assert main(["node", "ingest", "--dir", str(node), str(data)]) == 0
    return node


def run(cli: Callable[..., Any], node: Path, analysis: str, *args: object) -> dict[str, Any]:
    """``crossforce node analyse ANALYSIS --json`` → the parsed result."""
    r = cli("node", "analyse", analysis, "--dir", node, *args, "--json")
    assert r.code == 0, r
    return json.loads(r.out)


def by(rows: list[dict[str, Any]], *keys: str) -> dict[Any, dict[str, Any]]:
    """Rows keyed by one column (or a tuple of several)."""
    if len(keys) == 1:
        return {r[keys[0]]: r for r in rows}
    return {tuple(r[k] for k in keys): r for r in rows}


def store_tables(query: Callable[[Path, str], list[tuple[Any, ...]]], node: Path
                 ) -> dict[str, list[tuple[Any, ...]]]:
    """Every table of the store but the ledger, sorted: to show an analysis changed none."""
    names = [r[0] for r in query(node, "SELECT table_name FROM duckdb_tables() "
                                       "WHERE NOT temporary ORDER BY 1")]
    return {n: sorted(map(repr, query(node, f'SELECT * FROM "{n}"'))) for n in names
            if n != "ledger"}


# the numbers of the common-contacts world
TAXI = "+441632960001"
X = "+447700900500"
Y = "+447700900600"
Z = "+447700900700"
ORG = "+447700901000"


def common_world() -> dict[str, str]:
    """Eight phones of eight people. D1..D6 each call a taxi firm (TAXI) once; D1, D2 and
    D3 call X; D1 and D2 call Y; D1 calls Z, which D2 and D3 hold only in their address
    books; D4 and D5 call W, D5 and D6 call Q. D7 and D8 both call ORG, and D7 calls D8's
    own number: they are related."""
    call = [("D1", TAXI), ("D2", TAXI), ("D3", TAXI), ("D4", TAXI), ("D5", TAXI),
            ("D6", TAXI), ("D1", X), ("D2", X), ("D3", X), ("D1", Y), ("D2", Y), ("D1", Z),
            ("D4", "+447700900800"), ("D5", "+447700900800"), ("D5", "+447700900900"),
            ("D6", "+447700900900"), ("D7", ORG), ("D8", ORG), ("D7", "+447700900008")]
    rows = [f"{d},c{i},2024-01-{1 + i % 28:02d} 12:00:00,outgoing,{n},,30,Phone"
            for i, (d, n) in enumerate(call)]
    return {
        "persons": "person_id,given_names,family_name\n"
                   + "".join(f"P{i},Given{i},Family{i}\n" for i in range(1, 9)),
        "devices": DEVICES_HEADER + "".join(f"D{i},P{i},07700 90000{i},Europe/London,GB\n"
                                            for i in range(1, 9)),
        "calls": CALL_HEADER + "\n".join(rows) + "\n",
        "contacts": "device_id,contact_id,name,number\nD2,k1,Zed,07700 900700\n"
                    "D3,k1,Zed,+44 7700 900700\n",
    }


def timeline_world() -> dict[str, str]:
    """P1 holds D1 and also the phone 07700 900011, which P9's D9 calls. One crime of P1
    (5-20 January 2024), one intelligence report on P1 (15 January), and a crime and a
    report of P9 only. D1's July call is at 23:30 UTC: 00:30 on Sunday 7 July in London."""
    return {
        "persons": "person_id,given_names,family_name\nP1,Adam,Suspect\nP9,Other,Person\n",
        "crimes": "crime_id,crime_ref,ho_offence_code,offence_description,date_from,date_to,"
                  "outcome_code,outcome_date\n"
                  "C1,CR/9,88A,Sexual grooming,2024-01-05,2024-01-20,OC16,2024-03-01\n"
                  "C2,CR/10,49,Other theft,2024-01-06,,,\n",
        "roles": "crime_id,person_id,role\nC1,P1,suspect\nC2,P9,suspect\n",
        "identifiers": "person_id,kind,value\nP1,phone,07700 900011\n",
        "intel": "intel_id,report_date,source_evaluation,intelligence_assessment,"
                 "handling_code,text\nI1,2024-01-15,2,B,P,seen at the shop\n"
                 "I2,2024-01-16,1,A,P,not about P1\n",
        "intel_links": "intel_id,person_id\nI1,P1\nI2,P9\n",
        "devices": DEVICES_HEADER + "D1,P1,07700 900001,Europe/London,GB\n"
                                    "D9,P9,07700 900009,Europe/London,GB\n",
        "calls": CALL_HEADER
        + "D1,c1,2024-01-10 12:00:00,outgoing,07700 900500,Xan,65,Phone\n"
          "D9,c1,2024-01-12 10:00:00,outgoing,07700 900011,Adam,20,Phone\n"
          "D1,c2,2024-07-06 23:30:00,incoming,07700 900500,Xan,10,Phone\n",
        "messages": "device_id,message_id,timestamp_utc,direction,number,app,body\n"
                    "D1,m1,2024-01-11 09:00:00,outgoing,07700 900500,SMS,see you\n",
    }
