"""A generated seized phone written as a Cellebrite UFDR, in the shape an older or a current
version of the tool writes, so an analyst can try `node ingest` on an extraction without a
real one.

The device's calls, messages and contacts come from a generated force folder (its
devices/calls/messages/contacts files). ``current`` writes ``DeviceInfo…`` header names,
``Direction``, device-local times with their offset in ``formattedTimestamp``, a naive
``10/10/2020 13:37:00`` extraction date, app messages inside chats; ``older`` writes the
old header names ("Selected Manufacturer", "Extraction start date/time", "Unit Version"),
the call direction only in ``Type`` and times as ``3/16/2012 1:44:08 PM(UTC+0)``.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal
from xml.sax.saxutils import escape, quoteattr
from zoneinfo import ZoneInfo

import duckdb

from federation.errors import CrossforceError

Version = Literal["current", "older"]
NS = "http://pa.cellebrite.com/report/2.0"
_TYPE = {"incoming": "Incoming", "outgoing": "Outgoing", "missed": "Missed"}


def _table(folder: Path, name: str) -> str:
    for ending in (".parquet", ".csv", ".jsonl", ".json"):
        path = folder / f"{name}{ending}"
        if path.exists():
            return f"'{path}'"
    raise CrossforceError(f"{folder}: no {name} file (is this a generated force folder?)")


def _field(name: str, value: Any, type_: str = "String", formatted: str | None = None
           ) -> str:
    if value is None or value == "":
        return f'<field name="{name}" type="{type_}"/>'
    attr = f" formattedTimestamp={quoteattr(formatted)}" if formatted else ""
    return (f'<field name="{name}" type="{type_}"><value type="{type_}"{attr}>'
            f"{escape(str(value))}</value></field>")


def _party(identifier: str | None, name: str | None, role: str | None, owner: bool) -> str:
    return ('<model type="Party">' + _field("Identifier", identifier) + _field("Name", name)
            + _field("Role", role, "PartyRole")
            + _field("IsPhoneOwner", "True" if owner else "False", "Boolean") + "</model>")


class _Clock:
    """How one version writes a UTC time from the generated data."""

    def __init__(self, version: Version, zone: str) -> None:
        self.version, self.zone = version, ZoneInfo(zone)

    def field(self, name: str, utc: dt.datetime | None) -> str:
        if utc is None:
            return _field(name, None, "TimeStamp")
        local = utc.replace(tzinfo=dt.UTC).astimezone(self.zone)
        if self.version == "older":
            text = f"{utc.month}/{utc.day}/{utc.year} {utc.strftime('%I:%M:%S %p').lstrip('0')}"
            return _field(name, text + "(UTC+0)", "TimeStamp")
        naive = local.strftime("%Y-%m-%dT%H:%M:%S.000")
        return _field(name, naive, "TimeStamp", formatted=local.isoformat(timespec="seconds"))


def write_ufdr(folder: Path, device_id: str, out: Path, version: Version = "current") -> dict:
    """Write ``device_id`` of the generated force ``folder`` as a UFDR at ``out``; returns
    counts of what was written."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    dev = con.execute(f"SELECT make, model, imei, owner_number, timezone, extraction_date "
                      f"FROM {_table(folder, 'devices')} WHERE device_id = ?",
                      [device_id]).fetchall()
    if not dev:
        known = [r[0] for r in con.execute(
            f"SELECT device_id FROM {_table(folder, 'devices')} ORDER BY 1 LIMIT 5").fetchall()]
        raise CrossforceError(f"{folder}: no device {device_id!r} (e.g. {', '.join(known)})")
    make, model, imei, owner, zone, extracted = dev[0]
    zone = zone or "Europe/London"
    calls = con.execute(f"SELECT call_id, timestamp_utc, direction, number, name, duration_s, "
                        f"app, deleted FROM {_table(folder, 'calls')} WHERE device_id = ? "
                        "ORDER BY timestamp_utc", [device_id]).fetchall()
    messages = con.execute(f"SELECT message_id, timestamp_utc, direction, number, name, app, "
                           f"chat_id, body, deleted FROM {_table(folder, 'messages')} "
                           "WHERE device_id = ? ORDER BY timestamp_utc", [device_id]).fetchall()
    contacts = con.execute(f"SELECT contact_id, name, number, times_contacted, source_app "
                           f"FROM {_table(folder, 'contacts')} WHERE device_id = ? "
                           "ORDER BY contact_id", [device_id]).fetchall()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z, \
            z.open("report.xml", "w") as f:
        for chunk in _report(version, zone, (make, model, imei, owner, extracted), calls,
                             messages, contacts):
            f.write(chunk.encode())
    tmp.replace(out)
    return {"calls": len(calls), "messages": len(messages), "contacts": len(contacts)}


def _header(version: Version, zone: str, device: tuple) -> str:
    make, model, imei, owner, extracted = device
    local = extracted.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(zone)) if extracted else None
    if version == "older":
        items = {"Selected Manufacturer": make, "Selected Device Name": model, "IMEI": imei,
                 "MSISDN": owner, "Unit Version": "4.2.3.7",
                 "Extraction start date/time": f"{extracted.month}/{extracted.day}/"
                 f"{extracted.year} {extracted.strftime('%I:%M:%S %p').lstrip('0')}(UTC+0)"
                 if extracted else None}
    else:  # the naive local extraction date the current tool writes, and the zone
        items = {"DeviceInfoSelectedManufacturer": make, "DeviceInfoDetectedModel": model,
                 "IMEI": imei, "MSISDN": owner, "DeviceInfoUnitVersion": "7.60.0.48",
                 "DeviceInfoTimeZone": zone,
                 "DeviceInfoExtractionStartDateTime":
                     local.strftime("%d/%m/%Y %H:%M:%S") if local else None}
    body = "".join(f"<item name={quoteattr(k)}>{escape(str(v))}</item>"
                   for k, v in items.items() if v)
    return (f'<?xml version="1.0" encoding="utf-8"?><project id="generated" '
            f'extractionType="Logical" xmlns="{NS}"><metadata section="Device Info">'
            f"{body}</metadata><decodedData>")


def _report(version: Version, zone: str, device: tuple, calls: list, messages: list,
            contacts: list) -> Iterator[str]:
    clock = _Clock(version, zone)
    owner = device[3]
    yield _header(version, zone, device)
    yield '<modelType type="Call">'
    for cid, when, direction, number, name, duration, app, deleted in calls:
        mine, theirs = ("From", "To") if direction == "outgoing" else ("To", "From")
        kind = (_field("Type", _TYPE.get(direction, "Unknown")) if version == "older" else
                _field("Direction", "Outgoing" if direction == "outgoing" else "Incoming")
                + _field("Status", "Missed" if direction == "missed" else "Established"))
        yield (f'<model type="Call" id={quoteattr(cid)} deleted_state='
               f'"{"Deleted" if deleted else "Intact"}">' + _field("Source", app) + kind
               + clock.field("TimeStamp", when)
               + _field("Duration", str(dt.timedelta(seconds=int(duration or 0))), "TimeSpan")
               + '<multiModelField name="Parties">' + _party(owner, None, mine, True)
               + _party(number, name, theirs, False) + "</multiModelField></model>")
    chats: dict[str, list] = {}
    sms = [r for r in messages if r[5] in (None, "SMS")]
    apps = [r for r in messages if r[5] not in (None, "SMS")]
    if version == "current":  # app messages inside their chats
        for row in apps:
            chats.setdefault(row[6] or f"{row[5]}:{row[3]}", []).append(row)
        apps = []
    for kind, rows in (("SMS", sms), ("InstantMessage", apps)):
        yield f'</modelType><modelType type="{kind}">'
        for mid, when, direction, number, name, app, _, body, deleted in rows:
            sender, to = ((owner, number) if direction == "outgoing" else (number, owner))
            yield (f'<model type="{kind}" id={quoteattr(mid)} deleted_state='
                   f'"{"Deleted" if deleted else "Intact"}">' + clock.field("TimeStamp", when)
                   + _field("Body", body) + _field("Source", app)
                   + _field("Folder", "Sent" if direction == "outgoing" else "Inbox")
                   + '<multiModelField name="Parties">'
                   + _party(sender, None if sender == owner else name, "From", sender == owner)
                   + _party(to, None if to == owner else name, "To", to == owner)
                   + "</multiModelField></model>")
    yield '</modelType><modelType type="Chat">'
    for n, (chat, rows) in enumerate(sorted(chats.items()), 1):
        app, number, name = rows[0][5], rows[0][3], rows[0][4]
        yield (f'<model type="Chat" id="chat{n}">' + _field("Id", chat) + _field("Source", app)
               + _field("Name", name) + '<multiModelField name="Participants">'
               + _party(owner, None, None, True) + _party(number, name, None, False)
               + '</multiModelField><multiModelField name="Messages">')
        for mid, when, direction, number, name, app, _, body, deleted in rows:
            sender, to = ((owner, number) if direction == "outgoing" else (number, owner))
            yield (f'<model type="InstantMessage" id={quoteattr(mid)} deleted_state='
                   f'"{"Deleted" if deleted else "Intact"}">' + clock.field("TimeStamp", when)
                   + _field("Body", body) + _field("SourceApplication", app)
                   + '<modelField name="From">'
                   + _party(sender, None if sender == owner else name, None, sender == owner)
                   + '</modelField><multiModelField name="To">'
                   + _party(to, None if to == owner else name, None, to == owner)
                   + "</multiModelField></model>")
        yield "</multiModelField></model>"
    yield '</modelType><modelType type="Contact">'
    for kid, name, number, times, app in contacts:
        yield (f'<model type="Contact" id={quoteattr(kid)}>' + _field("Name", name)
               + _field("Source", app) + _field("TimesContacted", times)
               + '<multiModelField name="Entries"><model type="PhoneNumber">'
               + _field("Value", number) + "</model></multiModelField></model>")
    yield "</modelType></decodedData></project>"
