"""One hit of a Magnet AXIOM XML report as fragments, and the names AXIOM gives things.

A hit is a list of ``(fragment name, value)``. AXIOM names a date fragment with its zone
and date order, ``Call Date/Time - UTC+01:00 (dd/MM/yyyy)``: the value is read in that
order and offset, never guessed. A date fragment named without a zone is the handset's
local time (placed in the device's zone by the loader). An artifact's name says what its
hits are (``Android Call Logs`` → calls) and which app wrote them (``Android WhatsApp
Messages`` → WhatsApp). See ``node.extraction.axiom`` for the public sources.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from node.extraction.rows import stamp_time
from node.extraction.times import ToolTime, parse_tool_time

#: a date fragment's name: what it dates, its zone, its date order
_DATE_NAME = re.compile(r"^(?P<base>.*?Date/Time)\s*(?:-\s*(?P<zone>UTC\s*(?:[+-]\d{1,2}"
                        r"(?::?\d{2})?)?|Local Time))?\s*(?:\((?P<fmt>[^)]*)\))?\s*$",
                        re.IGNORECASE)
_ZONE = re.compile(r"UTC\s*(?:(?P<sign>[+-])(?P<h>\d{1,2})(?::?(?P<m>\d{2}))?)?$",
                   re.IGNORECASE)
_DATE = re.compile(r"^(?P<p1>\d{1,4}|[A-Za-z]{3,9})[/.\-](?P<p2>\d{1,2}|[A-Za-z]{3,9})"
                   r"[/.\-](?P<p3>\d{1,4})(?:[ T,]+(?P<time>.*))?$")
_TIME = re.compile(r"^(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:[.,](?P<f>\d{1,7}))?)?"
                   r"\s*(?P<ampm>[AaPp]\.?[Mm]\.?)?$")
_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul",
                                       "aug", "sep", "oct", "nov", "dec"), 1)}
_SPLIT = re.compile(r"\s*[;,\n]\s*")

#: artifacts of the phone's own apps (verified names) → the app their rows are from
NATIVE_APP = {"android call logs": "Phone", "ios call logs": "Phone",
              "android contacts": "Phone", "apple contacts - ios": "Phone",
              "android sms": "SMS", "android mms": "MMS", "android sms/mms": "SMS",
              "ios imessage/sms/mms": "SMS", "apple mail": "Apple Mail",
              "android emails": "Email", "gmail emails": "Gmail"}


@dataclass
class Hit:
    """One hit: its artifact, its id and its fragments in the order written."""

    artifact: str
    id: str
    fragments: list[tuple[str, str]]

    def __post_init__(self) -> None:
        self._by_name = {n.lower(): v for n, v in reversed(self.fragments) if v}
        self._dates = [(m, v) for n, v in self.fragments
                       if v and "date/time" in n.lower() and (m := _DATE_NAME.match(n))]

    def get(self, *names: str) -> str | None:
        """The first non-empty value of the first of ``names`` present (any case)."""
        return next((v for n in names if (v := self._by_name.get(n.lower()))), None)

    def starting(self, prefix: str) -> str | None:
        """The first non-empty value whose name starts with ``prefix`` ("Call Duration
        (hh:mm:ss)")."""
        p = prefix.lower()
        return next((v for n, v in self.fragments if v and n.lower().startswith(p)), None)

    def values(self, *names: str) -> list[str]:
        """Every value of ``names``, a fragment holding several split on , ; or new line."""
        wanted = {n.lower() for n in names}
        return [part for n, v in self.fragments if v and n.lower() in wanted
                for part in _SPLIT.split(v) if part]

    def time(self, *bases: str, month_first: bool = False) -> dict[str, str | None]:
        """The time columns (``rows.stamp_time``) of the first date fragment with a value
        dating one of ``bases`` (in that order of preference), or of any date fragment."""
        for base in (*bases, None):
            for m, value in self._dates:
                if base is None or m["base"].lower() == base.lower():
                    zone = (m["zone"] or "").strip()
                    t = read_time(value, zone, m["fmt"], month_first)
                    raw = f"{value} ({zone})" if zone and zone.lower() != "local time" \
                        else value
                    return stamp_time(t, raw)
        return {}

    def has_time(self, base: str) -> bool:
        return any(m["base"].lower() == base.lower() for m, _ in self._dates)


def date_name(name: str) -> tuple[str, str, str | None] | None:
    """``Extraction Date/Time - UTC+00:00 (M/d/yyyy)`` → (base, zone, date order)."""
    m = _DATE_NAME.match(name)
    return (m["base"], (m["zone"] or "").strip(), m["fmt"]) if m else None


def zone_offset(zone: str | None) -> int | None:
    """'UTC+01:00' → 60, 'UTC' → 0; None: no zone written (device-local)."""
    m = _ZONE.match((zone or "").strip())
    if not m:
        return None
    if not m["sign"]:
        return 0
    sign = -1 if m["sign"] == "-" else 1
    return sign * (int(m["h"]) * 60 + int(m["m"] or 0))


def read_time(value: str, zone: str | None, fmt: str | None, month_first: bool = False
              ) -> ToolTime | None:
    """A date fragment's value in the date order and zone its name gives. Without an
    order, or in a shape not of the order, any form the tools write is read."""
    offset = zone_offset(zone)
    order = [t[0].lower() for t in re.split(r"[/.\-\s]+", fmt or "") if t and t[0] in "dMy"]
    m = _DATE.match(value.strip())
    if sorted(order) == ["d", "m", "y"] and m:
        parts = dict(zip(order, (m["p1"], m["p2"], m["p3"]), strict=True))
        clock = _TIME.match((m["time"] or "").strip()) if m["time"] else None
        local = _datetime(parts, clock) if clock or not m["time"] else None
        if local is not None:
            return ToolTime(local, offset)
    t = parse_tool_time(value, month_first)
    if t is not None and t.local is not None and t.offset_min is None and offset is not None:
        return ToolTime(t.local, offset, t.flag)
    return t


def _datetime(parts: dict[str, str], clock: re.Match[str] | None) -> dt.datetime | None:
    month_text = parts["m"]
    month = _MONTHS.get(month_text[:3].lower()) if month_text.isalpha() else int(month_text)
    year = int(parts["y"])
    year += (2000 if year < 70 else 1900) if len(parts["y"]) <= 2 else 0
    hour = minute = second = micro = 0
    if clock:
        hour, minute, second = int(clock["H"]), int(clock["M"]), int(clock["S"] or 0)
        micro = int((clock["f"] or "0").ljust(6, "0")[:6])
        ampm = (clock["ampm"] or "").lower().replace(".", "")
        if ampm:
            hour = hour % 12 + (12 if ampm == "pm" else 0)
    try:
        return dt.datetime(year, month or 0, int(parts["d"]), hour, minute, second, micro)
    except ValueError:
        return None


def category(artifact: str) -> str | None:
    """What an artifact's hits are: device, call, account, sms, email, contact, location,
    chat; None for artifacts not read (pictures, web history, ...)."""
    a = artifact.lower()
    if "device information" in a:
        return "device"
    if "call log" in a or a.endswith(" calls"):
        return "call"
    if "account" in a or a == "sim card activity":
        return "account"
    if re.search(r"\b(sms|mms|imessage)\b", a):
        return "sms"
    if "email" in a or re.search(r"\bmail\b", a):
        return "email"
    if "contacts" in a:
        return "contact"
    if "location" in a:
        return "location"
    if "message" in a or "chat" in a:
        return "chat"
    return None


def app_of(artifact: str) -> str:
    """``Android WhatsApp Messages`` → WhatsApp; ``Signal Messages - iOS`` → Signal."""
    native = NATIVE_APP.get(artifact.lower())
    if native:
        return native
    a = re.sub(r"^(Android|iOS)\s+", "", artifact.strip())
    a = re.sub(r"\s*-\s*(iOS|Android|Windows|macOS)$", "", a)
    a = re.sub(r"\s+(Chat Messages|Chatsync Messages|Direct Messages|Messages|Chats|Calls|"
               r"Contacts|Accounts Information|Accounts|Emails)$", "", a)
    return a or artifact
