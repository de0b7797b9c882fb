"""Times as extraction tools write them, and the device's time zone.

Tools write a time with its offset (``2020-12-16T11:53:14+01:00``), with the offset beside it
(``09.09.2020 19:33:13(UTC+0)``, or a ``formattedTimestamp`` attribute), or naive, in the
handset's local time. A naive time is local to the device: it takes the device's time zone
and is flagged as such; with no zone known it is kept as UTC and flagged. A time no form
here reads is kept raw and flagged: it never refuses the record it belongs to.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: time_flag codes (stored beside each time; counted in the load report)
TIME_FLAGS = {
    "device_zone": "written without an offset: read in the device's time zone",
    "assumed_utc": "written without an offset and the device's time zone is unknown: "
                   "taken as UTC",
    "ambiguous_day_month": "day and month could be either way round: read day first",
    "unparsed": "no time can be read from it: kept raw, time empty",
    "out_of_range": "a year before 1880 or after 2100 (a handset clock unset?): kept raw, "
                    "time empty",
}

#: an offset written after the time: "(UTC+0)", "(UTC+01:00)", " UTC", "+0100", "GMT-5"
_TRAILING_OFFSET = re.compile(
    r"\s*(?:\(\s*)?(?:UTC|GMT)?\s*(?:(?P<sign>[+-])(?P<h>\d{1,2})(?::?(?P<m>\d{2}))?)?"
    r"\s*\)?\s*$")
_SLASHED = re.compile(
    r"^(?P<a>\d{1,2})[/.\-](?P<b>\d{1,2})[/.\-](?P<y>\d{2}|\d{4})"
    r"(?:[ T,]+(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:[.,](?P<f>\d{1,7}))?)?"
    r"\s*(?P<ampm>[AaPp]\.?[Mm]\.?)?)?$")
_MONTH_NAMED = ("%d-%b-%y %H:%M:%S", "%d-%b-%Y %H:%M:%S", "%d %b %Y %H:%M:%S",
                "%d-%b-%y %I:%M:%S %p", "%b %d, %Y %I:%M:%S %p", "%d %B %Y %H:%M:%S")


@dataclass(frozen=True)
class ToolTime:
    """One time as written: the wall-clock reading, its offset if written, and a flag."""

    local: dt.datetime | None        # naive wall-clock time as written
    offset_min: int | None           # minutes east of UTC, when written
    flag: str | None = None          # a TIME_FLAGS code, or None

    def utc(self) -> dt.datetime | None:
        """UTC, when the offset was written; None otherwise (the zone decides later)."""
        if self.local is None or self.offset_min is None:
            return None
        return self.local - dt.timedelta(minutes=self.offset_min)


def _offset(match: re.Match[str] | None) -> int | None:
    if not match or not match.group(0).strip():
        return None
    if match.group("sign") is None:  # "UTC" alone
        return 0 if re.search(r"UTC|GMT", match.group(0)) else None
    sign = -1 if match.group("sign") == "-" else 1
    return sign * (int(match.group("h")) * 60 + int(match.group("m") or 0))


def parse_tool_time(text: str | None, month_first: bool = False) -> ToolTime | None:
    """Read ``text`` in any form the tools write; None for an empty value.

    ``month_first``: the device's convention for slashed dates (a US handset writes
    3/16/2012). A slashed date with AM/PM is month first; one whose first part is over 12 is
    day first; one that could be either is read by the convention and flagged."""
    if text is None or not text.strip():
        return None
    raw = text.strip()
    with contextlib.suppress(ValueError):
        t = dt.datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" UTC", "+00:00"))
        if t.tzinfo is None:
            return ToolTime(t, None)
        off = t.utcoffset()
        return ToolTime(t.replace(tzinfo=None), int(off.total_seconds() // 60) if off else 0)
    trail = _TRAILING_OFFSET.search(raw)
    body = raw[:trail.start()].strip() if trail and trail.group(0).strip() else raw
    offset = _offset(trail) if trail and body != raw else None
    m = _SLASHED.match(body)
    if m:
        return _slashed(m, offset, month_first)
    for fmt in _MONTH_NAMED:
        with contextlib.suppress(ValueError):
            return ToolTime(dt.datetime.strptime(body, fmt), offset)
    with contextlib.suppress(ValueError):
        t = dt.datetime.fromisoformat(body)
        return ToolTime(t.replace(tzinfo=None), offset)
    return ToolTime(None, None, "unparsed")


def _slashed(m: re.Match[str], offset: int | None, month_first: bool) -> ToolTime:
    a, b, year = int(m["a"]), int(m["b"]), int(m["y"])
    year += 2000 if year < 100 and year < 70 else 1900 if year < 100 else 0
    hour, minute = int(m["H"] or 0), int(m["M"] or 0)
    second = int(m["S"] or 0)
    micro = int((m["f"] or "0").ljust(6, "0")[:6])
    ampm = (m["ampm"] or "").lower().replace(".", "")
    if ampm:
        hour = hour % 12 + (12 if ampm == "pm" else 0)
    flag = None
    if ampm or (b > 12 >= a):
        month, day = a, b
    elif a > 12 >= b:
        day, month = a, b
    else:
        month, day = (a, b) if month_first else (b, a)
        if a != b:
            flag = "ambiguous_day_month"
    try:
        return ToolTime(dt.datetime(year, month, day, hour, minute, second, micro), offset,
                        flag)
    except ValueError:
        return ToolTime(None, None, "unparsed")


# --------------------------------------------------------------------------- time zones

_ZONE_OFFSET = re.compile(r"(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?")


def zone_of(text: str | None) -> tuple[str | None, int | None]:
    """A device's time zone as a tool writes it → (IANA name or None, fixed offset in
    minutes or None). ``Europe/London``, ``UTC``, ``(UTC+01:00) Amsterdam, Berlin`` (the
    offset: the name is a Windows display name), ``GMT+1``, ``+05:30``. Both None: unknown."""
    if not text or not text.strip():
        return None, None
    raw = text.strip()
    if raw.upper() in ("UTC", "GMT", "Z", "ETC/UTC", "ETC/GMT"):
        return "UTC", 0
    if "/" in raw and " " not in raw:
        with contextlib.suppress(ZoneInfoNotFoundError, ValueError):
            ZoneInfo(raw)
            return raw, None
    m = _ZONE_OFFSET.search(raw)
    if m:
        sign = -1 if m.group(1) == "-" else 1
        return None, sign * (int(m.group(2)) * 60 + int(m.group(3) or 0))
    if re.fullmatch(r"\(?\s*(UTC|GMT)\s*\)?.*", raw):
        return "UTC", 0
    return None, None


def to_utc(local: dt.datetime, zone: str | None, offset_min: int | None
           ) -> tuple[dt.datetime, int] | None:
    """A naive device-local time → (UTC, the offset used); None when the zone is unknown."""
    if zone:
        aware = local.replace(tzinfo=ZoneInfo(zone))
        off = aware.utcoffset() or dt.timedelta(0)
        return local - off, int(off.total_seconds() // 60)
    if offset_min is not None:
        return local - dt.timedelta(minutes=offset_min), offset_min
    return None
