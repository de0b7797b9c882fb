"""Cellebrite reports (UFDR: a ZIP holding ``report.xml``), every version the tool writes.

The XML is streamed: each decoded model becomes rows (``node.extraction.rows``) when its
element closes, then the element is cleared and dropped from its parent, so memory stays
flat however large the report. What differs between report versions is read here:

- header items under old and new names ("Selected Manufacturer" and
  "DeviceInfoSelectedManufacturer", "Extraction start date/time", "Unit Version", ...);
  a header value that cannot be read is kept raw and flagged, never refusing the report;
- call direction from ``Direction``, or from ``Type`` in older reports, or from which
  party is the phone's owner; missed and rejected calls;
- parties as ``Party`` models (From/To/Cc/Bcc, Parties with roles) or as plain fields and
  multi-fields (MMS ``From``/``To``/``Cc``);
- times with their offset, the ``formattedTimestamp`` attribute, or naive (device-local);
- SMS, MMS, instant messages, e-mail, chats (their participants, name and id: a message
  inside a chat takes the chat's id), contacts (each entry by kind), user accounts,
  locations and cell towers, SIM data;
- what the report says about the device's country (own number, IMSI, ICCID, locale, the
  country codes of numbers), gathered for ``node.extraction.region``.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from xml.etree.ElementTree import Element, ParseError

from federation.errors import CrossforceError
from node.extraction.bounded import REPORT, Bounded, TooBig, UfdrLimits, check_sizes, events
from node.extraction.device import DeviceState, Party, direction_of, precision, seconds
from node.extraction.parties import ENTRY_TYPES, kind_of
from node.extraction.rows import Rows, stamp

TOOL = "Cellebrite UFED"
#: report header item names (lower case, letters and digits only, any "deviceinfo" prefix
#: dropped) → device column; old and new report versions
HEADER = {
    "selectedmanufacturer": "make", "detectedmanufacturer": "make", "manufacturer": "make",
    "selecteddevicename": "model", "detectedmodel": "model", "model": "model",
    "detecteddevicename": "model",
    "imei": "imei", "imei1": "imei",
    "msisdn": "owner_number", "lastusedmsisdn": "owner_number", "phonenumber": "owner_number",
    "ownnumber": "owner_number",
    "ufedpaversion": "tool_version", "unitversion": "tool_version",
    "physicalanalyzerversion": "tool_version", "ufedversion": "tool_version",
    "extractionstartdatetime": "extraction_date", "extractiondatetime": "extraction_date",
    "extractionstartdate": "extraction_date",
    "timezone": "timezone", "devicetimezone": "timezone",
    "imsi": "imsi", "lastusedimsi": "imsi", "iccid": "iccid", "lastusediccid": "iccid",
    "locale": "locale", "devicelocale": "locale", "language": "locale",
}
#: model types read as rows when their element closes
MODELS = {"Call", "SMS", "MMS", "InstantMessage", "Email", "Chat", "Contact", "UserAccount",
          "Location", "CellTower", "SIMData"}
MESSAGE_KIND = {"SMS": "sms", "MMS": "mms", "InstantMessage": "im", "Email": "email"}
_DEFAULT_APP = {"SMS": "SMS", "MMS": "MMS", "Email": "Email"}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def header_key(name: str) -> str:
    key = re.sub(r"[^a-z0-9]", "", name.lower())
    return key[len("deviceinfo"):] if key.startswith("deviceinfo") else key


@dataclass
class Model:
    """One decoded model, read from its (complete) element."""

    kind: str
    id: str
    deleted: bool
    fields: dict[str, str] = field(default_factory=dict)
    formatted: dict[str, str] = field(default_factory=dict)
    multi: dict[str, list[str]] = field(default_factory=dict)
    models: dict[str, list[Model]] = field(default_factory=dict)

    def party(self) -> Party:
        f = self.fields
        return Party(f.get("Identifier"), f.get("Name"), f.get("Role"),
                     f.get("IsPhoneOwner", "").lower() == "true")


def read_model(el: Element) -> Model:
    m = Model(el.get("type", ""), el.get("id", ""),
              el.get("deleted_state", "").lower() == "deleted")
    for child in el:
        tag, name = _local(child.tag), child.get("name", "")
        if tag == "field":
            for v in child:
                if _local(v.tag) == "value":
                    text = (v.text or "").strip()
                    if text:
                        m.fields[name] = text
                    if v.get("formattedTimestamp"):
                        m.formatted[name] = v.get("formattedTimestamp", "")
                    break
        elif tag == "multiField":
            m.multi[name] = [(v.text or "").strip() for v in child
                             if _local(v.tag) == "value" and (v.text or "").strip()]
        elif tag in ("modelField", "multiModelField"):
            m.models[name] = [read_model(s) for s in child if _local(s.tag) == "model"]
    return m


class Report(DeviceState):
    """State while one report.xml streams by: the device row, its region evidence, chats."""

    def __init__(self, rows: Rows, device_id: str) -> None:
        super().__init__(rows, device_id, TOOL)
        self.chat_messages: dict[str, int] = {}
        self.seen: dict[str, int] = {}

    def header_item(self, name: str, text: str) -> None:
        col = HEADER.get(header_key(name))
        if col:
            self.set_header(col, text)

    def header_where(self) -> str:
        return f"{REPORT} <project> header"

    # ----------------------------------------------------------------- models
    def model(self, m: Model, chat_ref: str | None) -> None:
        self.seen[m.kind] = self.seen.get(m.kind, 0) + 1
        where = f'{REPORT} <model type="{m.kind}" id="{m.id}"> (#{self.seen[m.kind]})'
        if m.kind == "Call":
            self.call(m, where)
        elif m.kind in MESSAGE_KIND:
            self.message(m, where, chat_ref)
        elif m.kind == "Chat":
            self.chat(m, where)
        elif m.kind == "Contact":
            self.contact(m, where)
        elif m.kind == "UserAccount":
            self.account(m, where)
        elif m.kind in ("Location", "CellTower"):
            self.location(m, where)
        elif m.kind == "SIMData":
            self.sim(m, where)

    def _time(self, m: Model, name: str = "TimeStamp") -> dict[str, str | None]:
        return stamp(m.fields.get(name), m.formatted.get(name), self.month_first)

    def _parties(self, m: Model, event_kind: str, where: str,
                 parties: list[tuple[str, Party]]) -> None:
        self.add_parties(event_kind, m.id, where, parties)

    def call(self, m: Model, where: str) -> None:
        f = m.fields
        parties = [(_role(p.role, "Parties"), p)
                   for p in (x.party() for x in m.models.get("Parties", []))]
        parties += [(name.lower(), x.party()) for name in ("From", "To")
                    for x in m.models.get(name, [])]
        others = [p for _, p in parties if not p.owner]
        other = others[0] if others else Party(f.get("Number") or f.get("PhoneNumber"),
                                               f.get("Name"))
        direction = direction_of(f.get("Direction")) or direction_of(f.get("Type"))
        if direction is None:  # from which party is the owner
            owner = next((r for r, p in parties if p.owner), None)
            direction = {"from": "outgoing", "to": "incoming"}.get(owner or "", "unknown")
        status = f.get("Status")
        if (status or "").lower() in ("missed", "rejected", "unanswered"):
            direction = "missed"
        if f.get("CountryCode"):
            self.evidence.call_countries[f["CountryCode"].strip().upper()[:2]] += 1
        self.evidence.add_call_number(other.identifier)
        self.rows.add("calls", {
            "device_id": self.device_id, "call_id": m.id, **self._time(m),
            "direction": direction, "number": other.identifier, "name": other.name,
            "duration_s": seconds(f.get("Duration")), "app": f.get("Source") or "Phone",
            "deleted": str(m.deleted).lower(), "status": status or f.get("Type"),
            "party_kind": kind_of(other.identifier)}, where)
        self._parties(m, "call", where, parties)

    def message(self, m: Model, where: str, chat_ref: str | None) -> None:
        f = m.fields
        senders = [x.party() for x in m.models.get("From", [])] + [
            Party(v) for v in ([f["From"]] if f.get("From") else [])]
        recipients: list[tuple[str, Party]] = []
        for name in ("To", "Cc", "Bcc"):
            recipients += [(name.lower(), x.party()) for x in m.models.get(name, [])]
            recipients += [(name.lower(), Party(v)) for v in m.multi.get(name, [])]
            if f.get(name) and name != "From":
                recipients.append((name.lower(), Party(f[name])))
        for x in m.models.get("Parties", []):  # SMS style: Parties with roles
            p = x.party()
            if (p.role or "").lower() == "from":
                senders.append(p)
            else:
                recipients.append((_role(p.role, "to"), p))
        for p in (*senders, *(p for _, p in recipients)):
            p.owner = p.owner or self.is_own(p.identifier)
        sender = senders[0] if senders else Party()
        folder = direction_of(f.get("Folder")) or direction_of(f.get("Type"))
        if sender.owner or folder == "outgoing":
            direction = "outgoing"
            other = next((p for _, p in recipients if not p.owner), Party())
        elif folder == "incoming" or sender.identifier or sender.name:
            direction, other = "incoming", sender
        else:
            direction, other = "unknown", next((p for _, p in recipients if not p.owner),
                                               Party())
        if chat_ref:
            self.chat_messages[chat_ref] = self.chat_messages.get(chat_ref, 0) + 1
        app = (f.get("SourceApplication") or f.get("Source") or _DEFAULT_APP.get(m.kind))
        self.evidence.add_call_number(other.identifier)
        self.rows.add("messages", {
            "device_id": self.device_id, "message_id": m.id, **self._time(m),
            "direction": direction, "number": other.identifier, "name": other.name,
            "app": app, "chat_id": f.get("ChatId"), "body": f.get("Body") or f.get("Snippet"),
            "deleted": str(m.deleted).lower(), "status": f.get("Status"),
            "party_kind": kind_of(other.identifier, "email" if m.kind == "Email" else None),
            "kind": MESSAGE_KIND[m.kind], "subject": f.get("Subject"),
            "_chat_ref": chat_ref}, where)
        self._parties(m, "message", where,
                      [("from", p) for p in senders[:1]] + recipients)

    def chat(self, m: Model, where: str) -> None:
        f = m.fields
        participants = [x.party() for x in m.models.get("Participants", [])]
        key = f.get("Id") or m.id
        start, last = self._time(m, "StartTime"), self._time(m, "LastActivity")
        self.rows.add("chats", {
            "device_id": self.device_id, "chat_id": key, "name": f.get("Name"),
            "app": f.get("Source"), "account": f.get("Account"),
            "started_utc": start.get("timestamp_utc") or start.get("_ts_local"),
            "last_activity_utc": last.get("timestamp_utc") or last.get("_ts_local"),
            "participants": str(len(participants)),
            "messages": str(self.chat_messages.pop(m.id, 0)),
            "deleted": str(m.deleted).lower(), "_ref": m.id}, where)
        chat = Model("Chat", key, m.deleted)
        self._parties(chat, "chat", where, [("participant", p) for p in participants])

    def contact(self, m: Model, where: str) -> None:
        f = m.fields
        entries = [(e.kind, e.fields) for e in m.models.get("Entries", [])
                   if e.fields.get("Value")]
        entries += [("PhoneNumber", {"Value": v}) for v in m.multi.get("PhoneNumbers", [])]
        if not entries and f.get("PhoneNumber"):
            entries = [("PhoneNumber", {"Value": f["PhoneNumber"]})]
        last = self._time(m, "TimeContacted")
        for k, (etype, ef) in enumerate(entries or [("", {})], 1):
            value = ef.get("Value")
            kind = kind_of(value, ENTRY_TYPES.get(etype))
            self.rows.add("contacts", {
                "device_id": self.device_id,
                "contact_id": m.id if len(entries) <= 1 else f"{m.id}#{k}",
                "name": f.get("Name"), "number": value if kind in ("phone", None) else None,
                "times_contacted": f.get("TimesContacted"),
                "last_contacted": last.get("timestamp_utc") or last.get("_ts_local"),
                "source_app": ef.get("Domain") if kind == "handle" and ef.get("Domain")
                else f.get("Source"),
                "entry_kind": kind, "entry_value": value}, where)

    def account(self, m: Model, where: str) -> None:
        f = m.fields
        app = f.get("Source") or f.get("ServiceType")
        entries = [(ENTRY_TYPES.get(e.kind), e.fields.get("Value"))
                   for e in m.models.get("Entries", []) if e.fields.get("Value")]
        if f.get("Username"):
            entries.insert(0, ("handle", f["Username"]))
        for k, (hint, value) in enumerate(entries or [(None, None)], 1):
            kind = kind_of(value, hint)
            if kind == "phone" and value:
                self.evidence.own_numbers.append(value)
            self.rows.add("device_accounts", {
                "device_id": self.device_id,
                "account_id": m.id if len(entries) <= 1 else f"{m.id}#{k}", "app": app,
                "username": f.get("Username"), "name": f.get("Name"), "entry_kind": kind,
                "value": value}, where)

    def location(self, m: Model, where: str) -> None:
        f = m.fields
        pos = next(iter(m.models.get("Position", [])), None)
        lat = pos.fields.get("Latitude") if pos else f.get("Latitude")
        lon = pos.fields.get("Longitude") if pos else f.get("Longitude")
        addr = next(iter(m.models.get("Address", [])), None)
        address = f.get("PositionAddress") or (", ".join(
            v for k in ("Street1", "Street2", "City", "State", "PostalCode", "Country")
            if (v := addr.fields.get(k))) if addr else None)
        accuracy = (f.get("GpsHorizontalAccuracy") or f.get("HorizontalAccuracy")
                    or f.get("Accuracy") or "").replace(",", ".") or None
        self.rows.add("device_locations", {
            "device_id": self.device_id, "location_id": m.id, **self._time(m),
            "latitude": lat, "longitude": lon, "accuracy_m": accuracy,
            "precision": precision(m.kind, _said(f), accuracy), "kind": m.kind,
            "origin": f.get("LocationOrigin") or f.get("Origin"),
            "category": f.get("Category") or f.get("Type"),
            "name": f.get("Name") or f.get("Description"), "address": address,
            "app": f.get("Source") or f.get("Package"), "cell_mcc": f.get("MCC"),
            "cell_mnc": f.get("MNC"), "cell_lac": f.get("LAC") or f.get("TAC"),
            "cell_id": f.get("CID") or f.get("CellId"),
            "deleted": str(m.deleted).lower()}, where)

    def sim(self, m: Model, where: str) -> None:
        f = m.fields
        name, value = f.get("Name") or "", f.get("Value")
        key = header_key(name)
        if value and key in HEADER and HEADER[key] in ("imsi", "iccid", "owner_number"):
            self.header_item(name, value)
        self.rows.add("sim_data", {"device_id": self.device_id, "name": f.get("Name"),
                                   "value": value, "category": f.get("Category"),
                                   "source": f.get("Source")}, where)


def _role(role: str | None, default: str) -> str:
    r = (role or "").strip().lower()
    return default.lower() if r in ("", "general", "parties") else r


def _said(f: dict[str, str]) -> str:
    """What a location model says of its origin, for ``precision``."""
    return " ".join(f.get(k, "") for k in ("LocationOrigin", "Origin", "Type", "Category",
                                           "Precision"))


def read_ufdr(rows: Rows, path: Path, device_id: str,
              limits: UfdrLimits | None = None) -> Report:
    """Stream ``path``'s report.xml into ``rows`` within ``limits``; the Report keeps the
    device row, its region evidence and header flags."""
    limits = limits or UfdrLimits.from_env()
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise CrossforceError(f"{path}: not a readable UFDR (ZIP) file: {exc}") from None
    with zf:
        names = {n.rsplit("/", 1)[-1].lower(): n for n in zf.namelist()}
        if REPORT not in names:
            raise CrossforceError(f"{path}: no {REPORT} inside; a UFDR must contain the "
                                  f"Cellebrite {REPORT}")
        check_sizes(path, zf.getinfo(names[REPORT]), limits)
        report = Report(rows, device_id)
        try:
            with zf.open(names[REPORT]) as stream:
                parse(Bounded(stream, limits), report)
        except TooBig as exc:
            raise CrossforceError(f"{path}: {exc}; nothing loaded") from None
        except ParseError as exc:
            line, col = exc.position
            raise CrossforceError(f"{path}, {REPORT} line {line} column {col}: corrupt or "
                                  f"truncated XML ({exc.msg if hasattr(exc, 'msg') else exc})"
                                  ) from None
        except (zipfile.BadZipFile, EOFError, OSError, zlib.error) as exc:
            raise CrossforceError(f"{path}: truncated or corrupt ZIP ({exc})") from None
        report.finish()
        rows.flush()
        return report


def parse(stream: IO[bytes], report: Report) -> None:
    """Walk the report: header items, then every model as it closes. Every finished
    element is cleared and removed from its parent (flat memory)."""
    stack: list[Element] = []
    models: list[Element] = []  # the model elements open now, outermost first
    names: dict[str, str] = {}  # tag → local name (a report uses a few dozen tags)
    for event, el in events(stream):
        tag = names.get(el.tag) or names.setdefault(el.tag, _local(el.tag))
        if event == "start":
            if tag == "model":
                models.append(el)
            elif tag == "project" and el.get("extractionType"):
                report.device.setdefault("extraction_type", el.get("extractionType"))
            elif tag == "extractionInfo" and not report.device.get("extraction_type"):
                report.device["extraction_type"] = el.get("type")
            stack.append(el)
            continue
        stack.pop()
        parent = stack[-1] if stack else None
        if tag == "model":
            models.pop()
            # read on its own unless inside another model that reads it (a Location in a
            # Journey); a message inside a Chat is read on its own, with the chat's id
            if el.get("type") in MODELS and (not models or models[-1].get("type") == "Chat"):
                report.model(read_model(el), models[-1].get("id", "") if models else None)
            elif models:
                continue  # a Party or entry: read with its model
        elif models:
            continue  # part of a model still open
        elif tag == "item" and parent is not None and \
                names.get(parent.tag) == "metadata":
            report.header_item(el.get("name", ""), (el.text or "").strip())
        elif tag == "metadata":
            report.header_done()
        el.clear()
        if parent is not None:
            parent.remove(el)
