"""Who holds which contact across the node's devices, and which contacts are hubs.

A hub (taxi firm, takeaway, helpline) is a number that many *unrelated* devices contact.
Its degree alone does not tell it from a network's organiser, whom every member's phone
calls too; what differs is that a hub's callers have nothing else to do with each other.
So for each contact the devices in touch with it are split into groups of related
devices — two devices are related when they are attributed to one person (after the
force's resolution) or when one holds the other's own number or an identifier of its
owner, in calls, messages or the address book — and ``unrelated`` counts the groups.

The threshold comes from the data: a hub is more than three robust standard deviations
(1.4826 x the median absolute deviation) above the median of ``unrelated`` over every
contact shared by two or more unrelated groups — far above what chance sharing gives —
and reaches at least ``HUB_FLOOR`` groups (a contact of three unrelated phones is a lead,
not a hub). ``--hub-min`` replaces it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from node.analyses._events import period_sql

#: the fewest unrelated device groups a hub has, whatever the data says
HUB_FLOOR = 4


def define_device_parties(con: Any, period: tuple[Any, Any]) -> None:
    """Temp table ``device_party (device_id, party, events, in_book, name)``: every device of
    the node and every contact it holds, by calls and messages in the period (``events``)
    and in its address book (``in_book``). A device's own number is left out."""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE device_party AS
        WITH ev AS (
            SELECT device_id, party, count(*) AS events,
                   arg_max(name, local_ts) FILTER (WHERE name IS NOT NULL) AS name
            FROM contact_events
            WHERE party IS NOT NULL AND {period_sql('local_ts', period)}
            GROUP BY device_id, party),
        book AS (SELECT device_id, party, any_value(name) AS name FROM book_entries
                 WHERE party IS NOT NULL GROUP BY device_id, party),
        j AS (SELECT device_id, party, coalesce(ev.events, 0) AS events,
                     book.party IS NOT NULL AS in_book, coalesce(ev.name, book.name) AS name
              FROM ev FULL JOIN book USING (device_id, party))
        SELECT j.* FROM j ANTI JOIN devices d
        ON d.device_id = j.device_id AND d.owner_number_e164 = j.party""")


def define_unrelated(con: Any) -> None:
    """Temp table ``party_spread (party, devices, unrelated)``: for each contact, the
    devices of the node holding it and the groups of related devices among them."""
    con.execute("""
        CREATE OR REPLACE TEMP TABLE device_records AS
        SELECT d.device_id, coalesce(r2.person_id, d.person_id) AS person_id,
               coalesce(r1.local_person, d.person_id, d.device_id) AS who
        FROM devices d
        LEFT JOIN person_resolution r1 ON r1.person_id = d.person_id
        LEFT JOIN person_resolution r2 ON r2.local_person = r1.local_person""")
    con.execute("""
        CREATE OR REPLACE TEMP TABLE device_links AS
        WITH own AS (
            SELECT device_id, owner_number_e164 AS party FROM devices
            WHERE owner_number_e164 IS NOT NULL
            UNION
            SELECT r.device_id, coalesce(i.value_norm, trim(i.value))
            FROM device_records r JOIN identifiers i USING (person_id)
            WHERE i.kind IN ('phone', 'email', 'handle'))
        SELECT DISTINCT least(a, b) AS a, greatest(a, b) AS b FROM (
            SELECT dp.device_id AS a, own.device_id AS b
            FROM device_party dp JOIN own USING (party) WHERE own.device_id <> dp.device_id
            UNION ALL
            SELECT x.device_id, y.device_id FROM device_records x JOIN device_records y
            ON x.who = y.who AND x.device_id < y.device_id)""")
    # labels: each (party, device) starts as its own group; groups merge along links
    # between two devices that both hold the party, until nothing changes
    con.execute("""
        CREATE OR REPLACE TEMP TABLE induced AS
        SELECT p.party, l.a, l.b FROM device_links l
        JOIN device_party p ON p.device_id = l.a
        JOIN device_party q ON q.device_id = l.b AND q.party = p.party""")
    con.execute("""
        CREATE OR REPLACE TEMP TABLE labels AS
        SELECT DISTINCT party, a AS device_id, a AS label FROM induced
        UNION SELECT DISTINCT party, b, b FROM induced""")
    while True:
        con.execute("""
            CREATE OR REPLACE TEMP TABLE next_labels AS
            SELECT l.party, l.device_id, least(l.label, min(n.label)) AS label
            FROM labels l
            JOIN (SELECT party, a AS device_id, b AS other FROM induced
                  UNION ALL SELECT party, b, a FROM induced) e USING (party, device_id)
            JOIN labels n ON n.party = e.party AND n.device_id = e.other
            GROUP BY l.party, l.device_id, l.label""")
        moved = con.execute("""SELECT count(*) FROM next_labels x JOIN labels l
            USING (party, device_id) WHERE x.label <> l.label""").fetchone()[0]
        con.execute("CREATE OR REPLACE TEMP TABLE labels AS SELECT * FROM next_labels")
        if not moved:
            break
    con.execute("""
        CREATE OR REPLACE TEMP TABLE party_spread AS
        SELECT p.party, count(*) AS devices,
               count(*) - coalesce(any_value(m.merged), 0) AS unrelated
        FROM device_party p
        LEFT JOIN (SELECT party, count(*) - count(DISTINCT label) AS merged FROM labels
                   GROUP BY party) m USING (party)
        GROUP BY p.party""")


def hub_threshold(con: Any, hub_min: int | None) -> tuple[int, str]:
    """(fewest unrelated groups that make a hub, how it was set)."""
    if hub_min is not None:
        return hub_min, f"set by --hub-min {hub_min}"
    u = np.asarray(con.execute("SELECT unrelated FROM party_spread WHERE unrelated >= 2"
                               ).fetchnumpy()["unrelated"], dtype=np.float64)
    if not len(u):
        return HUB_FLOOR, f"the floor {HUB_FLOOR} (no contact is shared by unrelated devices)"
    median = float(np.median(u))
    fence = median + 3 * 1.4826 * float(np.median(np.abs(u - median)))
    threshold = max(HUB_FLOOR, math.floor(fence) + 1)
    return threshold, (f"more than median + 3 x 1.4826 MAD = {fence:.3g} over the "
                       f"{len(u):,} contacts shared by unrelated devices, and at least "
                       f"{HUB_FLOOR}")
