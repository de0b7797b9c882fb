"""What every extraction reader keeps while its file streams by, whatever the tool.

The device row (first value of each header column wins), what the file says about the
device's country (``RegionEvidence``: own number, IMSI, ICCID, locale, numbers written with
their country code), header values that cannot be read (kept raw and flagged, never
refusing the file), and the parties of each event (``event_parties``). The words tools use
for a call's or message's direction, a location's precision and a duration are read here
too, so that a UFDR and an AXIOM report of the same phone give the same rows.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass

from node.extraction.parties import kind_of
from node.extraction.region import RegionEvidence, derive_region, month_first
from node.extraction.rows import Rows, stamp
from node.extraction.times import to_utc, zone_of

#: direction words tools write (letters only, lower case) → direction
DIRECTION = {"incoming": "incoming", "outgoing": "outgoing", "missed": "missed",
             "rejected": "missed", "unanswered": "missed", "inbox": "incoming",
             "received": "incoming", "sent": "outgoing", "outbox": "outgoing",
             "incomingcall": "incoming", "outgoingcall": "outgoing"}
#: device columns whose value is also evidence of the device's country
_EVIDENCE = {"owner_number": "own_numbers", "imsi": "imsis", "iccid": "iccids",
             "locale": "locales"}


@dataclass
class Party:
    identifier: str | None = None
    name: str | None = None
    role: str | None = None
    owner: bool = False


def direction_of(text: str | None) -> str | None:
    """'Incoming', 'Outgoing Call', 'Sent', 'Rejected' → incoming/outgoing/missed."""
    return DIRECTION.get(re.sub(r"[^a-z]", "", (text or "").lower()))


def precision(kind: str, said: str, accuracy: str | None) -> str:
    """How precisely a location places the device (``said``: what the tool wrote of its
    origin, type or category): a cell tower, or a location the tool derived from one, is
    an area, never a point."""
    said = said.lower()
    if kind == "CellTower" or "cell" in said:
        return "cell"
    if "wifi" in said or "wi-fi" in said or "ip" in said.split():
        return "area"
    try:
        if accuracy is not None:
            return "point" if float(accuracy) <= 100 else "area"
    except ValueError:
        pass
    return "point" if "gps" in said else "unknown"


def seconds(text: str | None) -> str | None:
    """'01:02:03' or '83' → '3723' / '83'."""
    if not text:
        return None
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return str(int(float(text)))
    m = re.fullmatch(r"(?:(\d+)\.)?(\d+):(\d+):(\d+)(?:\.\d+)?", text)
    if not m:
        return text
    d, h, mi, s = (int(x or 0) for x in m.groups())
    return str(((d * 24 + h) * 60 + mi) * 60 + s)


class DeviceState:
    """One device's row and region evidence while its extraction streams by."""

    def __init__(self, rows: Rows, device_id: str, tool: str) -> None:
        self.rows, self.device_id = rows, device_id
        self.device: dict[str, str | None] = {"device_id": device_id, "tool": tool}
        self.flags: dict[str, str] = {}
        self.evidence = RegionEvidence()
        self.month_first = False

    def set_header(self, col: str, text: str) -> None:
        """One header value for device column ``col``; the first value of a column wins,
        every owner number, IMSI, ICCID and locale is region evidence. An extraction date
        is read, or kept raw and flagged."""
        if not text:
            return
        if col in _EVIDENCE:
            getattr(self.evidence, _EVIDENCE[col]).append(text)
            if col == "locale":
                return
        if self.device.get(col):
            return
        if col == "extraction_date":  # the first one written wins, read or not
            self.set_extraction_date(text, stamp(text, None, self.month_first))
            return
        self.device[col] = text

    def set_extraction_date(self, raw: str, t: dict[str, str | None]) -> None:
        """The extraction date as written (``raw``) and as read (``t``, from ``stamp``)."""
        if self.device.get("extraction_date_raw"):
            return
        self.device["extraction_date_raw"] = raw
        self.device["extraction_date"] = t.get("timestamp_utc")
        self.device["_extraction_local"] = t.get("_ts_local")
        if t.get("time_flag"):
            self.flags["extraction_date"] = str(t["time_flag"])

    def header_done(self) -> None:
        """The header is read: slashed dates from now on follow the device's convention."""
        self.month_first = month_first(derive_region(self.evidence).region)

    def finish(self) -> None:
        """The device row, once the whole file is read (its region from all evidence)."""
        local = self.device.pop("_extraction_local", None)
        if local:  # written without an offset: the device's zone, when the report gives it
            zone, offset = zone_of(self.device.get("timezone"))
            placed = to_utc(dt.datetime.fromisoformat(local), zone, offset)
            self.device["extraction_date"] = placed[0].isoformat(sep=" ") if placed else local
            self.flags.setdefault("extraction_date",
                                  "device_zone" if placed else "assumed_utc")
        region = derive_region(self.evidence)
        self.device["region"] = region.region
        self.device["region_source"] = region.source + (f" ({region.note})"
                                                        if region.note else "")
        self.device["imsi"] = self.device.get("imsi") or next(iter(self.evidence.imsis), None)
        self.device["iccid"] = self.device.get("iccid") or next(iter(self.evidence.iccids),
                                                                None)
        self.device["metadata_flags"] = json.dumps(self.flags, sort_keys=True) \
            if self.flags else None
        self.rows.add("devices", self.device, self.header_where())

    def header_where(self) -> str:
        return "header"

    def is_own(self, identifier: str | None) -> bool:
        """A party written as a plain value is the owner when it is the device's own
        number (same last nine digits)."""
        digits = re.sub(r"\D", "", identifier or "")[-9:]
        return len(digits) == 9 and any(re.sub(r"\D", "", n).endswith(digits)
                                        for n in self.evidence.own_numbers)

    def add_parties(self, event_kind: str, event_id: str, where: str,
                    parties: list[tuple[str, Party]]) -> None:
        """One ``event_parties`` row per party (role: from, to, cc, participant, ...)."""
        for role, p in parties:
            if p.identifier or p.name:
                self.rows.add("event_parties", {
                    "device_id": self.device_id, "event_kind": event_kind,
                    "event_id": event_id, "role": role, "identifier": p.identifier,
                    "name": p.name, "is_owner": str(p.owner).lower(),
                    "party_kind": kind_of(p.identifier)}, where)
