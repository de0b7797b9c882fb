"""`node analyse timeline`: one time-ordered list of calls, messages, crimes, intelligence
reports and device locations for persons, devices or identifiers; or, with --heat, when in
the week they are in contact (hour x weekday, the device's local time)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import typer

from federation.errors import CrossforceError
from node.analyses import (
    CsvOption,
    DirOption,
    JsonOption,
    Result,
    Table,
    consult,
    define_person_records,
    emit,
    parse_period,
    prepare_events,
    require_person,
    resolve_devices,
)
from node.analyses._events import (
    FromOption,
    ToOption,
    define_parties,
    describe_period,
    identifier_option,
    period_sql,
    working,
)
from node.analyses._text import SearchOption, define_translations, search_events

COLUMNS = ["time", "kind", "device", "person", "party", "name", "ref", "detail", "direction",
           "duration_s", "app", "role", "offence_code", "date_to", "outcome", "outcome_date",
           "grading", "marking", "text", "language", "translation", "when", "who", "with"]
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def command(
    dir: Path = DirOption,
    person: list[str] = typer.Option([], "--person", help="A person: calls and messages of "
                                     "the person's devices and with the person's recorded "
                                     "identifiers, crimes with a role, intelligence linked "
                                     "(all records of the person; repeatable)."),
    device: list[str] = typer.Option([], "--device", help="A seized device: its calls and "
                                     "messages (repeatable)."),
    identifier: list[str] = typer.Option([], "--identifier", help="A phone number, e-mail "
                                         "or platform:handle: every call and message with it "
                                         "(repeatable)."),
    start: str = FromOption,
    end: str = ToOption,
    show_text: bool = typer.Option(False, "--show-text", help="Include message bodies and "
                                   "intelligence report text (left out by default)."),
    heat: bool = typer.Option(False, "--heat", help="Instead of the list: calls and "
                              "messages per hour and weekday, device-local time."),
    search: str = SearchOption,
    top: int = typer.Option(50, "--top", min=1, help="Rows shown in the terminal."),
    as_json: bool = JsonOption,
    csv: Path = CsvOption,
) -> None:
    """Calls, messages, crimes (from, to, role, outcome) and intelligence reports (date,
    3x5x2 grading) in one time-ordered list; several --person/--device/--identifier give
    everything about any of them. No selector: the whole node in the period. Report text
    and message bodies only with --show-text, each message's translation (node translate)
    beside its original; --search keeps the messages (and reports) whose text or
    translation contains a text."""
    period = parse_period(start, end)
    params = {"person": person, "device": device, "identifier": identifier, "from": start,
              "to": end, "show_text": show_text, "heat": heat, "search": bool(search)}
    with consult(dir, "timeline", params) as (con, counts), working("building the timeline"):
        result = timeline(con, person, device, identifier, period, show_text, heat, search)
        result.params = params
        counts.update({k: v for k, v in result.summary.items() if isinstance(v, int)})
    emit(result, as_json, csv, limit=top if not heat else 25)


def timeline(con: Any, persons: list[str], devices: list[str], identifiers: list[str],
             period: tuple[dt.datetime | None, dt.datetime | None], show_text: bool = False,
             heat: bool = False, search: str | None = None) -> Result:
    """The timeline analysis on an open store (the command's work)."""
    prepare_events(con)
    define_parties(con)
    search_events(con, search)
    define_translations(con)
    _define_places(con)
    _select(con, persons, devices, identifiers)
    everything = not (persons or devices or identifiers)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE chosen_events AS
        SELECT e.* FROM contact_events e
        WHERE {period_sql('e.local_ts', period)} AND ({'true' if everything else '''
              e.device_id IN (SELECT device_id FROM tl_devices)
              OR e.party IN (SELECT party FROM tl_parties)'''})""")
    n_events = con.execute("SELECT count(*) FROM chosen_events").fetchone()[0]
    if heat:
        return _heat(con, n_events, period)
    text = "e.body" if show_text else "NULL"
    translation = "t.translation" if show_text else "NULL"
    intel_text = "i.text" if show_text else "NULL"
    # with --search, only messages and reports whose text matches: no crimes or places
    searching = "false" if search else "true"
    intel_match = "contains(lower(i.text), lower($q))" if search else "true"
    start, end = period
    crime_period = "true"
    if start:
        crime_period += f" AND coalesce(c.date_to, c.date_from) >= DATE '{start.date()}'"
    if end:
        crime_period += f" AND c.date_from <= DATE '{end.date()}'"
    chosen_persons = "true" if everything else "r.person_id IN (SELECT person_id FROM tl_records)"
    rows = con.execute(f"""
        SELECT e.local_ts AS time, e.event_kind AS kind, e.device_id, e.device_person,
               e.party, e.name, e.event_id,
               e.direction || CASE WHEN e.event_kind = 'call' AND e.duration_s > 0
                   THEN ' ' || to_seconds(e.duration_s)::VARCHAR ELSE '' END
                   || coalesce(' ' || e.app, ''),
               e.direction, e.duration_s, e.app, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
               {text}, m.language, {translation}
        FROM chosen_events e
        LEFT JOIN messages m ON e.event_kind = 'message' AND m.device_id = e.device_id
                            AND m.message_id = e.event_id
        LEFT JOIN message_translations t ON e.event_kind = 'message'
             AND t.device_id = e.device_id AND t.message_id = e.event_id
        UNION ALL
        SELECT c.date_from::TIMESTAMP, 'crime', NULL, r.person_id, NULL,
               c.offence_description, coalesce(c.crime_ref, c.crime_id),
               r.role || ' · ' || c.ho_offence_code
                   || coalesce(' · to ' || c.date_to, '')
                   || coalesce(' · ' || c.outcome_code, ' · open')
                   || coalesce(' ' || c.outcome_date, ''),
               NULL, NULL, NULL, r.role, c.ho_offence_code, c.date_to, c.outcome_code,
               c.outcome_date, NULL, NULL, NULL, NULL, NULL
        FROM roles r JOIN crimes c USING (crime_id)
        WHERE {chosen_persons} AND {crime_period} AND {searching}
        UNION ALL
        SELECT i.report_date::TIMESTAMP, 'intel', NULL, r.person_id, NULL, i.submitter,
               i.intel_id,
               'graded ' || i.source_evaluation || '/' || i.intelligence_assessment
                   || '/' || i.handling_code || coalesce(' · ' || i.gsc_marking, ''),
               NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
               i.source_evaluation || '/' || i.intelligence_assessment || '/'
                   || i.handling_code,
               i.gsc_marking, {intel_text}, NULL, NULL
        FROM intel_links r JOIN intel i USING (intel_id)
        WHERE {chosen_persons} AND {period_sql('i.report_date', period)} AND {intel_match}
        UNION ALL
        SELECT l.local_ts, 'location', l.device_id, l.device_person, NULL, l.name,
               l.location_id, l.detail, NULL, NULL, l.app, NULL, NULL, NULL, NULL, NULL,
               NULL, NULL, NULL, NULL, NULL
        FROM device_places l
        WHERE {period_sql('l.local_ts', period)} AND ({'true' if everything else
              'l.device_id IN (SELECT device_id FROM tl_devices)'}) AND {searching}
        ORDER BY 1, 2, 7""", {"q": search} if search else {}).fetchall()
    rows = [(*r, _when(r[0], r[1]), r[2] or r[3], r[4] or r[6]) for r in rows]
    kinds = {k: sum(1 for r in rows if r[1] == k) for k in ("call", "message", "crime",
                                                                "intel", "location")}
    if not rows:
        raise CrossforceError(f"nothing recorded for this selection {describe_period(period)}"
                              ": widen --from/--to or choose another --person/--device/"
                              "--identifier")
    summary = {"rows": len(rows), "calls": kinds["call"], "messages": kinds["message"],
               "crimes": kinds["crime"], "intel": kinds["intel"],
               "locations": kinds["location"],
               "period": describe_period(period)}
    notes = ["Calls and messages are in each device's local time; crimes sit at their "
             "first day (date_from), intelligence at its report date. who: the device that "
             "recorded a call or message, or the person of a crime or report; with: the "
             "other party, or the crime or report reference. Grading is 3x5x2: source "
             "(1-3) / intelligence (A-E) / handling (P/C). A location from a cell tower "
             "places the device in the cell's area, never at a point."]
    if not show_text:
        notes.append("Message bodies and report text are left out: --show-text adds them.")
    else:
        notes.append("translation: what node translate made of the message, newest first — "
                     "'MT <model>:' machine translation, 'glossary <file>:' the force's "
                     "words glossed; never evidence: the original text is beside it.")
    brief = ["when", "kind", "who", "with", "detail"] + (
        ["text", "translation"] if show_text else ["name"])
    table = Table("timeline", COLUMNS, rows, brief=brief)
    return Result("timeline", {}, [table], summary, notes)


def _define_places(con: Any) -> None:
    """Temp view ``device_places``: the devices' locations in device-local time, each
    described with its precision (a cell is an area, never a point)."""
    con.execute("""
        CREATE OR REPLACE TEMP VIEW device_places AS
        SELECT l.device_id, z.person_id AS device_person, l.location_id, l.name, l.app,
               CASE WHEN z.zone IS NOT NULL
                    THEN timezone(z.zone, l.timestamp_utc::TIMESTAMPTZ)
                    WHEN z.offset_min IS NOT NULL
                    THEN l.timestamp_utc + to_minutes(z.offset_min)
                    ELSE l.timestamp_utc END AS local_ts,
               CASE WHEN l.precision = 'cell'
                    THEN 'in the area of ' || coalesce('cell ' || nullif(concat_ws('/',
                         l.cell_mcc, l.cell_mnc, l.cell_lac, l.cell_id), ''), 'a cell')
                         || coalesce(' near ' || round(l.latitude, 4)
                         || ',' || round(l.longitude, 4), '') || ' (an area, not a point)'
                    ELSE round(l.latitude, 5) || ',' || round(l.longitude, 5)
                         || coalesce(' ±' || round(l.accuracy_m)::INTEGER || ' m', '')
                         || ' (' || coalesce(l.precision, 'unknown') || ')' END
               || coalesce(' · ' || l.address, '') AS detail
        FROM device_locations l LEFT JOIN device_zone z USING (device_id)
        WHERE l.timestamp_utc IS NOT NULL""")


def _when(time: dt.datetime, kind: str) -> str:
    return f"{time:%Y-%m-%d}" if kind in ("crime", "intel") else f"{time:%Y-%m-%d %H:%M}"


def _select(con: Any, persons: list[str], devices: list[str], identifiers: list[str]
            ) -> None:
    """Temp tables tl_records (person records), tl_devices and tl_parties (identifiers)
    for the selectors; a one-line error for an unknown id."""
    if devices:
        resolve_devices(con, devices)
    for p in persons:
        require_person(con, p)
    define_person_records(con)
    con.execute("CREATE OR REPLACE TEMP TABLE tl_records (person_id VARCHAR)")
    for p in persons:
        con.execute("INSERT INTO tl_records SELECT person_id FROM person_records(?)", [p])
    parties = []
    for text in identifiers:
        party = identifier_option(text)
        known = con.execute("""
            SELECT EXISTS (SELECT 1 FROM contact_events WHERE party = $p)
                OR EXISTS (SELECT 1 FROM book_entries WHERE party = $p)
                OR EXISTS (SELECT 1 FROM identifiers WHERE value_norm = $p)
                OR EXISTS (SELECT 1 FROM devices WHERE owner_number_e164 = $p)""",
                            {"p": party}).fetchone()[0]
        if not known:
            raise CrossforceError(f"--identifier {text!r} (read as {party}): no call, "
                                  "message, contact entry or record on this node has it")
        parties.append(party)
    # a person's devices, the devices named, and the devices whose own number was named
    con.execute("CREATE OR REPLACE TEMP TABLE tl_devices AS SELECT device_id FROM devices "
                "WHERE person_id IN (SELECT person_id FROM tl_records) "
                "OR list_contains($d, device_id) OR list_contains($p, owner_number_e164)",
                {"d": list(devices), "p": parties})
    con.execute("""
        CREATE OR REPLACE TEMP TABLE tl_parties AS
        SELECT unnest(?::VARCHAR[]) AS party
        UNION SELECT coalesce(value_norm, trim(value)) FROM identifiers
        WHERE kind IN ('phone', 'email', 'handle')
          AND person_id IN (SELECT person_id FROM tl_records)""", [parties])


def _heat(con: Any, n_events: int, period: tuple[dt.datetime | None, dt.datetime | None]
          ) -> Result:
    """Calls and messages per hour of day (rows) and weekday (columns), local time."""
    if not n_events:
        raise CrossforceError(f"no calls or messages for this selection "
                              f"{describe_period(period)}: widen --from/--to or choose "
                              "another --person/--device/--identifier")
    cells = con.execute("""SELECT hour(local_ts) AS h, isodow(local_ts) - 1 AS d, count(*) AS n
                           FROM chosen_events GROUP BY ALL""").fetchnumpy()
    matrix = np.zeros((24, 7), dtype=np.int64)
    matrix[cells["h"].astype(int), cells["d"].astype(int)] = cells["n"]
    rows = [(f"{h:02d}", *matrix[h].tolist(), int(matrix[h].sum())) for h in range(24)]
    rows.append(("all", *matrix.sum(axis=0).tolist(), int(matrix.sum())))
    peak_h, peak_d = np.unravel_index(int(matrix.argmax()), matrix.shape)
    summary = {"events": int(n_events), "peak": f"{WEEKDAYS[peak_d]} {peak_h:02d}:00 "
               f"({int(matrix.max())})", "period": describe_period(period)}
    notes = ["Rows are the hour the call or message began, in the device's local time."]
    return Result("timeline", {}, [Table("contact by hour and weekday",
                                         ["hour", *WEEKDAYS, "all"], rows)], summary, notes)
