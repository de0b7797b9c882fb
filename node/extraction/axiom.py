"""Magnet AXIOM XML reports (AXIOM Process, export as XML), read into the same rows as a
Cellebrite UFDR.

The XML is streamed: each ``<Hit>`` becomes rows when it closes, then it is cleared and
dropped from its parent, so memory stays flat however large the report.

Verified against public material (no vendor file copied):

- ``casework/CASE-Implementation-AXIOM`` (``parser_AXIOMtoCASE.py``, ``AXIOMtoJSON.py``; a
  SAX parser of reports from AXIOM Process 3.4 to 4.0.1,
  https://github.com/casework/CASE-Implementation-AXIOM): the shape
  ``<Artifact name="..."><Hits><Hit><Fragment name="...">value</Fragment>``; the artifact
  names read here (Android/iOS Call Logs; Android SMS, Android SMS/MMS, Android MMS, iOS
  iMessage/SMS/MMS; the chat apps' "... Messages"; Android Contacts, Apple Contacts - iOS;
  Apple Mail, Gmail Emails, Android Emails; Cell Tower Locations, WiFi Locations,
  Significant Locations; Android/iOS Device Information; SIM Card Activity; Android
  WhatsApp Accounts Information) and their fragments (Partner, Partner Name, Direction,
  Call Date/Time, Call Duration; Sender, Recipient(s), Message, Message Direction, Type,
  Sent/Received Date/Time; Sender/Receiver (Name), Message Type, Message Status,
  Conversation Name; Display/First/Last Name, Phone Number(s); From, To, CC, BCC, Subject,
  ... Body; CellID, Location Area Code, Mobile Country/Network Code, Latitude, Longitude,
  Accuracy, Location Type; Device Name, Model ID, IMSI, ICCID; Phone Number, WhatsApp
  Name); the owner written "Local User" in chats; the date forms (slashes or dots, day or
  month first, AM/PM, two-digit years).
- Public code reading AXIOM's CSV/XLSX exports, whose columns are the same fragments: a
  date fragment's name carries its zone and date order ("Call Date/Time - UTC+00:00
  (M/d/yyyy)", "Message Sent Date/Time - UTC+00:00 (dd/MM/yyyy)"); chat ids in "Chat ID"
  and "_ThreadID"; "Sender ID"/"Recipient ID" beside the names.

Assumptions (each read only when present, never required): any root element (a report is
known by its ``<Artifact name=...>`` elements); a Hit's ``id`` attribute (else its
ordinal); device fragments IMEI, Manufacturer, Phone Number, Time Zone, Locale and
Extraction Date/Time; call fragments Call Status/Call Type (missed); contact fragments for
e-mail, user id and web address; "MMS"/"iMessage" in the Message Type of a mixed
SMS/MMS artifact; a "Carving" recovery method means a deleted record; a date fragment
named without a zone is the handset's local time. The tool version is not in the XML
report (the CASE parser's notes say so) and stays empty.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import IO
from xml.etree.ElementTree import Element, ParseError

from federation.errors import CrossforceError
from node.extraction.axiom_hits import Hit, app_of, category, date_name, read_time
from node.extraction.bounded import Bounded, TooBig, UfdrLimits, events
from node.extraction.cellebrite import header_key
from node.extraction.device import DeviceState, Party, direction_of, precision, seconds
from node.extraction.parties import kind_of
from node.extraction.rows import Rows, stamp_time

TOOL = "Magnet AXIOM"
SNIFF_BYTES = 1 << 20
#: device-information fragment names (letters and digits, lower case) → device column
HEADER = {"modelid": "model", "model": "model", "manufacturer": "make", "make": "make",
          "devicemanufacturer": "make", "imei": "imei", "imei1": "imei", "imsi": "imsi",
          "iccid": "iccid", "phonenumber": "owner_number", "msisdn": "owner_number",
          "timezone": "timezone", "devicetimezone": "timezone", "locale": "locale",
          "devicelocale": "locale"}
_EXTRACTION_DATES = ("extraction date/time", "acquisition date/time",
                     "acquisition start date/time")
_KIND_APP = {"sms": "SMS", "mms": "MMS", "im": "iMessage"}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _is_local_user(text: str | None) -> bool:
    return "local user" in (text or "").lower()


def is_axiom_report(path: Path) -> bool:
    """An AXIOM XML report shows ``<Artifact name=...>`` within its first megabyte."""
    with path.open("rb") as f:
        head = f.read(SNIFF_BYTES)
    return re.search(rb"<(?:\w+:)?Artifact\s[^>]*\bname\s*=", head) is not None


class AxiomReport(DeviceState):
    """State while one AXIOM XML report streams by: the device row, evidence, chats."""

    def __init__(self, rows: Rows, device_id: str, name: str) -> None:
        super().__init__(rows, device_id, TOOL)
        self.name = name
        self.hits = 0
        self.chats: dict[str, dict] = {}

    def header_where(self) -> str:
        return f"{self.name} <Artifact> Device Information"

    def hit(self, hit: Hit) -> None:
        where = f'{self.name} <Artifact name="{hit.artifact}"> <Hit> (#{self.hits})'
        read = {"device": self.device_info, "call": self.call, "account": self.account,
                "sms": self.sms, "email": self.email, "contact": self.contact,
                "location": self.location, "chat": self.chat_message
                }.get(category(hit.artifact) or "")
        if read:
            read(hit, where)

    def _party(self, identifier: str | None, name: str | None = None) -> Party:
        """A party as AXIOM writes it; the owner is "Local User" or the own number."""
        local = _is_local_user(identifier) or _is_local_user(name)
        ident = None if _is_local_user(identifier) else identifier
        return Party(ident, name or ("Local User" if local else None),
                     owner=local or self.is_own(ident))

    def _time(self, hit: Hit, *bases: str) -> dict[str, str | None]:
        return hit.time(*bases, month_first=self.month_first)

    def _deleted(self, hit: Hit) -> str:
        return str("carv" in (hit.get("Recovery Method") or "").lower()).lower()

    # ----------------------------------------------------------------- device
    def device_info(self, hit: Hit, where: str) -> None:
        if hit.artifact.lower().startswith("ios"):
            self.device.setdefault("make", "Apple")
        for name, value in hit.fragments:
            dated = date_name(name)
            if dated and dated[0].lower() in _EXTRACTION_DATES and value:
                base, zone, fmt = dated
                raw = f"{value} ({zone})" if zone else value
                self.set_extraction_date(raw, stamp_time(
                    read_time(value, zone, fmt, self.month_first), raw))
            elif (col := HEADER.get(header_key(name))) and value:
                self.set_header(col, value)
        self.header_done()

    def account(self, hit: Hit, where: str) -> None:
        """SIM Card Activity: SIM data and the own number; app accounts: their ids."""
        phone = hit.get("Phone Number", "MSISDN")
        if hit.artifact.lower() == "sim card activity":
            for name, value in hit.fragments:
                col = HEADER.get(header_key(name))
                if value and col in ("imsi", "iccid", "owner_number"):
                    self.set_header(col, value)
                self.rows.add("sim_data", {"device_id": self.device_id, "name": name,
                                           "value": value, "category": "SIM",
                                           "source": hit.artifact}, where)
            return
        if phone:
            self.set_header("owner_number", phone)
        user = hit.get("Username", "User Name", "User ID", "Account ID")
        entries = [(k, v) for k, v in (("handle", user), ("phone", phone),
                                       ("email", hit.get("Email", "Email Address")))
                   if v]
        for k, (hint, value) in enumerate(entries or [(None, None)], 1):
            self.rows.add("device_accounts", {
                "device_id": self.device_id,
                "account_id": hit.id if len(entries) <= 1 else f"{hit.id}#{k}",
                "app": app_of(hit.artifact), "username": user,
                "name": hit.get("WhatsApp Name", "Display Name", "Name", "Account Name"),
                "entry_kind": kind_of(value, hint), "value": value}, where)

    # ----------------------------------------------------------------- events
    def call(self, hit: Hit, where: str) -> None:
        partners = hit.values("Partner", "Partners")
        status = hit.get("Call Status", "Call Type", "Status")
        written = hit.get("Direction")
        direction = direction_of(written) or "unknown"
        if direction_of(status) == "missed":
            direction = "missed"
        role = "to" if direction == "outgoing" else "from"
        parties = [(role, self._party(p, hit.get("Partner Name") if i == 0 else None))
                   for i, p in enumerate(partners)]
        other = parties[0][1] if parties else Party(None, hit.get("Partner Name"))
        self.evidence.add_call_number(other.identifier)
        self.rows.add("calls", {
            "device_id": self.device_id, "call_id": hit.id,
            **self._time(hit, "Call Date/Time"), "direction": direction,
            "number": other.identifier, "name": other.name,
            "duration_s": seconds(hit.starting("Call Duration")),
            "app": app_of(hit.artifact), "deleted": self._deleted(hit),
            "status": status or written, "party_kind": kind_of(other.identifier)}, where)
        self.add_parties("call", hit.id, where, parties)

    def _message(self, hit: Hit, where: str, kind: str, direction: str, other: Party,
                 parties: list[tuple[str, Party]], time: dict[str, str | None], **extra
                 ) -> None:
        self.evidence.add_call_number(other.identifier)
        self.rows.add("messages", {
            "device_id": self.device_id, "message_id": hit.id, **time,
            "direction": direction, "number": other.identifier, "name": other.name,
            "deleted": self._deleted(hit), "kind": kind,
            "party_kind": kind_of(other.identifier, "email" if kind == "email" else None),
            **extra}, where)
        self.add_parties("message", hit.id, where, parties)

    def sms(self, hit: Hit, where: str) -> None:
        """Android writes the other party as Partner and a direction; iOS writes Sender
        and Recipient(s), an incoming message with its Received Date/Time."""
        said = (hit.get("Message Type", "Service") or "").lower()
        kind = ("mms" if hit.artifact.lower() == "android mms" or "mms" in said
                else "im" if "imessage" in said else "sms")
        partner = next(iter(hit.values("Partner")), None)
        sender = self._party(hit.get("Sender"))
        recipients = [self._party(r) for r in hit.values("Recipient", "Recipient(s)",
                                                         "Recipients")]
        direction = direction_of(hit.get("Message Direction", "Direction", "Type"))
        if direction is None:
            direction = ("outgoing" if sender.owner else
                         "incoming" if hit.has_time("Received Date/Time") or
                         sender.identifier else
                         "outgoing" if hit.has_time("Sent Date/Time") else "unknown")
        if direction == "outgoing":
            others = [self._party(partner)] if partner else \
                [p for p in recipients if not p.owner]
            parties = [("to", p) for p in others]
        else:
            others = [self._party(partner)] if partner else [sender]
            parties = [("from", others[0])] + [("to", p) for p in recipients]
        other = others[0] if others else Party()
        time = self._time(hit, "Received Date/Time", "Sent Date/Time",
                          "Message Received Date/Time", "Message Sent Date/Time")
        self._message(hit, where, kind, direction, other, parties, time,
                      app=app_of(hit.artifact) if kind == "sms" else _KIND_APP[kind],
                      body=hit.get("Message", "Message Body", "Text", "Body"),
                      subject=hit.get("Subject"), status=hit.get("Message Status"))

    def email(self, hit: Hit, where: str) -> None:
        sender = self._party(hit.get("Sender", "From Address", "From"))
        roles = (("to", ("Recipients", "To Address(es)", "To")),
                 ("cc", ("CC", "CC Address(es)")), ("bcc", ("BCC", "BCC Address(es)")))
        recipients = [(role, self._party(v)) for role, names in roles
                      for v in hit.values(*names)]
        direction = (direction_of(hit.get("Folder", "Mailbox")) or
                     ("incoming" if hit.has_time("Received Date/Time") else
                      "outgoing" if hit.has_time("Sent Date/Time") else "unknown"))
        other = sender if direction != "outgoing" else next(
            (p for _, p in recipients), Party())
        body = next((v for n, v in hit.fragments if v and n.lower().endswith("body")), None)
        self._message(hit, where, "email", direction, other,
                      [("from", sender), *recipients],
                      self._time(hit, "Received Date/Time", "Sent Date/Time"),
                      app=app_of(hit.artifact), subject=hit.get("Subject"), body=body)

    def chat_message(self, hit: Hit, where: str) -> None:
        """A chat app's message; its chat (id, name, participants) is gathered for the
        chats table."""
        sender = self._party(hit.get("Sender ID") or hit.get("Sender"),
                             hit.get("Sender Name"))
        receiver = self._party(hit.get("Recipient ID", "Receiver ID") or
                               hit.get("Receiver", "Recipient", "Recipient(s)"),
                               hit.get("Receiver Name", "Recipient Name"))
        partner = self._party(hit.get("Partner", "Participant Information"))
        direction = direction_of(hit.get("Message Type", "Direction", "Type"))
        if direction is None:
            direction = ("outgoing" if sender.owner else "incoming" if receiver.owner or
                         sender.identifier or sender.name else "unknown")
        if direction == "outgoing":
            other = receiver if receiver.identifier or receiver.name else partner
            parties = [("from", sender), ("to", other)]
        else:
            other = sender if sender.identifier or sender.name else partner
            parties = [("from", other), ("to", receiver)]
        app = app_of(hit.artifact)
        chat_id = hit.get("Chat ID", "_ChatId", "_ThreadID", "Thread ID", "Conversation ID")
        time = self._time(hit, "Message Sent Date/Time", "Message Received Date/Time",
                          "Message Date/Time", "Creation Date/Time", "Created Date/Time")
        self._message(hit, where, "im", direction, other, parties, time, app=app,
                      chat_id=chat_id, body=hit.get("Message", "Message Body", "Text"),
                      status=hit.get("Message Status"))
        if chat_id:
            self._gather_chat(chat_id, app, hit.get("Conversation Name"), time,
                              [p for _, p in parties], where)

    def _gather_chat(self, chat_id: str, app: str, name: str | None,
                     time: dict[str, str | None], parties: list[Party], where: str) -> None:
        chat = self.chats.setdefault(chat_id, {"app": app, "name": None, "messages": 0,
                                               "first": None, "last": None, "parties": {},
                                               "where": where})
        chat["name"] = chat["name"] or name
        chat["messages"] += 1
        when = time.get("timestamp_utc") or time.get("_ts_local")
        if when:
            chat["first"] = min(chat["first"] or when, when)
            chat["last"] = max(chat["last"] or when, when)
        for p in parties:
            key = p.identifier or ("owner" if p.owner else p.name)
            if key:
                chat["parties"].setdefault(key, p)

    def contact(self, hit: Hit, where: str) -> None:
        name = hit.get("Display Name", "Name") or " ".join(
            v for v in (hit.get("First Name"), hit.get("Last Name")) if v) or None
        entries = [(hint, v) for hint, names in (
            ("phone", ("Phone Number(s)", "Phone Number", "Phone Numbers")),
            ("email", ("Email Address(es)", "Email Address", "Email(s)", "Email")),
            ("handle", ("User ID", "Username", "User Name")),
            ("web", ("Web Address(es)", "Website(s)", "URL(s)", "URL")))
            for v in hit.values(*names)]
        last = self._time(hit, "Last Contacted Date/Time", "Last Time Contacted")
        app = app_of(hit.artifact)
        for k, (hint, value) in enumerate(entries or [(None, None)], 1):
            kind = kind_of(value, hint)
            self.rows.add("contacts", {
                "device_id": self.device_id,
                "contact_id": hit.id if len(entries) <= 1 else f"{hit.id}#{k}",
                "name": name, "number": value if kind in ("phone", None) else None,
                "times_contacted": hit.get("Times Contacted"),
                "last_contacted": last.get("timestamp_utc") or last.get("_ts_local"),
                "source_app": app, "entry_kind": kind, "entry_value": value}, where)

    def location(self, hit: Hit, where: str) -> None:
        """A cell tower is an area, never a point; so is a Wi-Fi location."""
        a = hit.artifact.lower()
        kind = "CellTower" if "cell" in a else "WiFi" if "wifi" in a or "wi-fi" in a \
            else "Location"
        accuracy = next((re.sub(r"[^\d.]", "", v.replace(",", ".")) or None
                         for n, v in hit.fragments if v and "accuracy" in n.lower()), None)
        category_ = hit.get("Location Type", "Type")
        self.rows.add("device_locations", {
            "device_id": self.device_id, "location_id": hit.id, **self._time(hit),
            "latitude": hit.get("Latitude"), "longitude": hit.get("Longitude"),
            "accuracy_m": accuracy,
            "precision": precision(kind, f"{hit.artifact} {category_ or ''}", accuracy),
            "kind": kind, "origin": hit.artifact, "category": category_,
            "name": hit.get("Name", "SSID", "Description"),
            "address": hit.get("Address", "Full Address"), "app": None,
            "cell_mcc": hit.get("Mobile Country Code", "MCC"),
            "cell_mnc": hit.get("Mobile Network Code", "MNC"),
            "cell_lac": hit.get("Location Area Code", "LAC", "Tracking Area Code"),
            "cell_id": hit.get("CellID", "Cell ID", "CID"),
            "deleted": self._deleted(hit)}, where)

    def finish(self) -> None:
        """The chats gathered from their messages, then the device row."""
        for chat_id, c in self.chats.items():
            self.rows.add("chats", {
                "device_id": self.device_id, "chat_id": chat_id, "name": c["name"],
                "app": c["app"], "started_utc": c["first"], "last_activity_utc": c["last"],
                "participants": str(len(c["parties"])), "messages": str(c["messages"]),
                "deleted": "false", "_ref": chat_id}, c["where"])
            self.add_parties("chat", chat_id, c["where"],
                             [("participant", p) for p in c["parties"].values()])
        super().finish()


def read_axiom(rows: Rows, path: Path, device_id: str,
               limits: UfdrLimits | None = None) -> AxiomReport:
    """Stream the AXIOM XML report at ``path`` into ``rows`` within ``limits``."""
    limits = limits or UfdrLimits.from_env()
    size = path.stat().st_size
    if size > limits.max_report_bytes:
        raise CrossforceError(
            f"{path}: {size:,} bytes, over the limit of {limits.max_report_bytes:,} "
            "(CROSSFORCE_UFDR_MAX_REPORT_BYTES); nothing loaded")
    report = AxiomReport(rows, device_id, path.name)
    stack: list[Element] = []
    with path.open("rb") as raw:
        try:
            parse(Bounded(raw, limits, path.name), report, stack)
        except TooBig as exc:
            raise CrossforceError(f"{path}: {exc}; nothing loaded") from None
        except ParseError as exc:
            line, col = exc.position
            why = re.sub(r": line \d+, column \d+$", "", str(getattr(exc, "msg", exc)))
            raise CrossforceError(f"{path}, line {line} column {col}: corrupt or truncated "
                                  f"XML {_open_element(stack)}({why}); nothing loaded"
                                  ) from None
    report.finish()
    rows.flush()
    return report


def _open_element(stack: list[Element]) -> str:
    """'inside <Fragment name="Partner"> of <Artifact name="Android Call Logs"> ' or ''."""
    named = [f'<{_local(e.tag)} name="{e.get("name")}">' if e.get("name") else
             f"<{_local(e.tag)}>" for e in stack]
    if not named:
        return ""
    artifact = next((n for n in named if n.startswith("<Artifact ")), None)
    tail = f" of {artifact}" if artifact and artifact != named[-1] else ""
    return f"inside {named[-1]}{tail} "


def parse(stream: IO[bytes], report: AxiomReport, stack: list[Element]) -> None:
    """Walk the report: each hit's fragments, read as rows when the hit closes. Every
    finished element is cleared and removed from its parent (flat memory); ``stack`` holds
    the open elements (for error messages)."""
    artifact, fragments = "", []
    for event, el in events(stream):
        tag = _local(el.tag)
        if event == "start":
            stack.append(el)
            if tag == "Artifact":
                artifact = el.get("name", "")
            elif tag == "Hit":
                fragments = []
            continue
        stack.pop()
        parent = stack[-1] if stack else None
        if tag == "Fragment":
            fragments.append((el.get("name", ""), "".join(el.itertext()).strip()))
        elif tag == "Hit":
            report.hits += 1
            report.hit(Hit(artifact, el.get("id") or f"hit{report.hits}", fragments))
        elif tag == "Artifact":
            artifact = ""
        el.clear()
        if parent is not None:
            parent.remove(el)
