"""`node analyse common`: the contacts two or more seized phones (or persons) share, rarest
first, with hubs (taxi firms, takeaways, helplines) found from the data and listed apart."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import typer

from federation.errors import CrossforceError
from node.analyses import (
    CsvOption,
    DirOption,
    JsonOption,
    Result,
    Table,
    consult,
    emit,
    parse_period,
    resolve_devices,
)
from node.analyses._events import (
    DeviceOption,
    FromOption,
    PersonOption,
    ToOption,
    define_subjects,
    describe_period,
    refuse_empty,
    subjects_label,
    working,
)
from node.analyses._hubs import (
    define_device_parties,
    define_unrelated,
    hub_threshold,
)

#: how much an address-book entry alone weighs against a call or message when ranking
BOOK_WEIGHT = 0.5
COLUMNS = ["contact", "name", "subjects", "by_communication", "by_contact_book_only",
           "evidence", "shared_by", "events", "devices_on_node", "rarity_idf", "held_by",
           "unrelated_groups", "hub"]


def command(
    dir: Path = DirOption,
    device: list[str] = DeviceOption,
    person: list[str] = PersonOption,
    start: str = FromOption,
    end: str = ToOption,
    hub_min: int = typer.Option(None, "--hub-min", min=2, help="Treat as a hub any contact "
                                "of at least this many unrelated device groups (default: "
                                "found from the data)."),
    top: int = typer.Option(25, "--top", min=1, help="Rows shown per table."),
    as_json: bool = JsonOption,
    csv: Path = CsvOption,
) -> None:
    """Contacts shared by two or more of the chosen devices or persons (no --device/--person:
    every device of the node), ranked by how many share them, then by rarity (IDF over all
    the node's devices). Calls and messages are the evidence; an address-book entry alone is
    weaker and labelled 'contact book'. Hubs — contacts of many unrelated devices, such as
    taxi firms — are listed apart, never dropped. Also: which subjects share most."""
    period = parse_period(start, end)
    params = {"device": device, "person": person, "from": start, "to": end,
              "hub_min": hub_min}
    with consult(dir, "common", params) as (con, counts), working("finding common contacts"):
        subjects = resolve_devices(con, device, person)
        result = common(con, subjects, period, hub_min)
        result.params = params
        counts.update({k: result.summary[k] for k in (
            "subjects", "devices", "common_contacts", "hubs")})
    emit(result, as_json, csv, limit=top)


def common(con: Any, subjects: dict[str, list[str]],
           period: tuple[dt.datetime | None, dt.datetime | None],
           hub_min: int | None = None) -> Result:
    """The common-contacts analysis on an open store (the command's work)."""
    if len(subjects) < 2:
        raise CrossforceError(f"common contacts need two or more subjects, got only "
                              f"{subjects_label(subjects)}: name another --device or "
                              "--person (or none, for every device)")
    define_subjects(con, subjects)
    define_device_parties(con, period)
    define_unrelated(con)
    threshold, how = hub_threshold(con, hub_min)
    n_devices = con.execute("SELECT count(*) FROM devices").fetchone()[0]
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE subject_party AS
        SELECT s.subject, dp.party, sum(dp.events)::BIGINT AS events,
               bool_or(dp.in_book) AS in_book, any_value(dp.name) AS name
        FROM device_party dp JOIN subject_devices s USING (device_id)
        GROUP BY s.subject, dp.party;
        CREATE OR REPLACE TEMP TABLE shared AS
        WITH holders AS (
            SELECT party, string_agg(DISTINCT person_id, ', ' ORDER BY person_id) AS held_by
            FROM (SELECT coalesce(value_norm, trim(value)) AS party, person_id
                  FROM identifiers WHERE kind IN ('phone', 'email', 'handle')
                  UNION SELECT owner_number_e164, person_id FROM devices)
            GROUP BY party)
        SELECT sp.party AS contact, max(sp.name) AS name,
               count(*) AS subjects,
               count(*) FILTER (WHERE sp.events > 0) AS by_communication,
               count(*) FILTER (WHERE sp.events = 0) AS by_contact_book_only,
               string_agg(sp.subject || CASE WHEN sp.events > 0 THEN ' (' || sp.events || ')'
                          ELSE ' (book)' END, ', ' ORDER BY sp.subject) AS shared_by,
               list(sp.subject ORDER BY sp.subject) AS subject_list,
               sum(sp.events)::BIGINT AS events, any_value(ps.devices) AS devices_on_node,
               ln({n_devices} / any_value(ps.devices)) AS rarity_idf,
               any_value(h.held_by) AS held_by, any_value(ps.unrelated) AS unrelated_groups,
               any_value(ps.unrelated) >= {threshold} AS hub
        FROM subject_party sp JOIN party_spread ps USING (party)
        LEFT JOIN holders h USING (party)
        GROUP BY sp.party HAVING count(*) >= 2""")
    if any(period):
        events = con.execute("SELECT coalesce(sum(events), 0) FROM subject_party").fetchone()
        refuse_empty(int(events[0]), subjects_label(subjects), period)
    order = (f"by_communication + {BOOK_WEIGHT} * by_contact_book_only DESC, "
             "rarity_idf DESC, events DESC, contact")
    evidence = """CASE WHEN by_communication >= 2 AND by_contact_book_only = 0
                       THEN 'calls/messages'
                       WHEN by_communication >= 2 THEN 'calls/messages + contact book'
                       ELSE 'contact book' END"""
    select = f"""SELECT contact, name, subjects, by_communication, by_contact_book_only,
                        {evidence}, shared_by, events, devices_on_node, rarity_idf, held_by,
                        unrelated_groups, hub,
                        CASE WHEN len(subject_list) <= 2 THEN array_to_string(subject_list, ', ')
                             ELSE subject_list[1] || ' +' || (len(subject_list) - 1) END
                 FROM shared"""
    rows = con.execute(f"{select} WHERE NOT hub ORDER BY {order}").fetchall()
    hubs = con.execute(f"{select} WHERE hub ORDER BY unrelated_groups DESC, {order}"
                       ).fetchall()
    pairs = _subject_pairs(con)
    columns = [*COLUMNS, "shared by"]
    tables = [
        Table("common contacts", columns, rows,
              brief=["contact", "name", "subjects", "evidence", "shared by",
                     "devices_on_node"]),
        Table("hubs (contacts of many unrelated devices), listed apart", columns, hubs,
              brief=["contact", "name", "subjects", "shared by", "devices_on_node",
                     "unrelated_groups"]),
        Table("subjects sharing most", ["subject_a", "subject_b", "shared", "jaccard",
                                        "shared_contacts"], pairs,
              brief=["subject_a", "subject_b", "shared", "jaccard"]),
    ]
    devices = len({d for ds in subjects.values() for d in ds})
    summary = {"subjects": len(subjects), "devices": devices, "common_contacts": len(rows),
               "hubs": len(hubs), "hub_threshold": threshold,
               "period": describe_period(period)}
    notes = [
        "Ranked by the subjects sharing a contact (an address-book entry alone counts "
        f"{BOOK_WEIGHT}), then by rarity: IDF = ln(devices on the node / devices holding "
        "the contact), so a number on few of the node's phones ranks above a common one.",
        "shared_by: each subject with its calls and messages with the contact, or (book) "
        "when the contact is only in its address book. held_by: persons of this node "
        "recorded with that identifier.",
        f"Hubs: contacts of at least {threshold} groups of unrelated devices ({how}). "
        "Devices are related when attributed to one person or when one holds the other's "
        "own number or its owner's identifiers. --hub-min sets the threshold.",
    ]
    return Result("common", {}, tables, summary, notes)


def _subject_pairs(con: Any) -> list[tuple[Any, ...]]:
    """Pairs of subjects by the non-hub contacts they share (Jaccard over their contacts)."""
    return con.execute("""
        WITH sp AS (SELECT subject, party FROM subject_party
                    ANTI JOIN shared ON shared.contact = subject_party.party AND shared.hub),
        sizes AS (SELECT subject, count(*) AS n FROM sp GROUP BY subject),
        common AS (
            SELECT a.subject AS subject_a, b.subject AS subject_b, count(*) AS shared,
                   string_agg(a.party, ', ' ORDER BY a.party) AS contacts
            FROM sp a JOIN sp b ON a.party = b.party AND a.subject < b.subject
            GROUP BY ALL)
        SELECT c.subject_a, c.subject_b, c.shared,
               round(c.shared / (x.n + y.n - c.shared), 3) AS jaccard, c.contacts
        FROM common c JOIN sizes x ON x.subject = c.subject_a
        JOIN sizes y ON y.subject = c.subject_b
        ORDER BY c.shared DESC, jaccard DESC, c.subject_a, c.subject_b""").fetchall()
