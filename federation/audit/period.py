"""A reporting period from what an auditor types: a month, a range, or last/this month."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from federation.errors import CrossforceError

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_DAY = "%Y-%m-%d"


@dataclass(frozen=True)
class Period:
    """[start, end) in UTC; ``label`` as shown in reports."""

    start: dt.datetime
    end: dt.datetime
    label: str

    def __contains__(self, when: dt.datetime) -> bool:
        return self.start <= when < self.end


def _month(year: int, month: int) -> Period:
    start = dt.datetime(year, month, 1)
    end = dt.datetime(year + month // 12, month % 12 + 1, 1)
    return Period(start, end, f"{start:%Y-%m}")


def parse_period(text: str | None, today: dt.date | None = None) -> Period:
    """``YYYY-MM``, ``YYYY-MM-DD..YYYY-MM-DD`` (both days included), ``last-month``,
    ``this-month``, or ``all`` (None is all)."""
    today = today or dt.datetime.now(dt.UTC).date()
    if text is None or text == "all":
        return Period(dt.datetime(1970, 1, 1), dt.datetime(9999, 1, 1), "all time")
    if text == "this-month":
        return _month(today.year, today.month)
    if text == "last-month":
        first = today.replace(day=1) - dt.timedelta(days=1)
        return _month(first.year, first.month)
    m = _MONTH.match(text)
    if m and 1 <= int(m.group(2)) <= 12:
        return _month(int(m.group(1)), int(m.group(2)))
    if ".." in text:
        a, _, b = text.partition("..")
        try:
            start, last = dt.datetime.strptime(a, _DAY), dt.datetime.strptime(b, _DAY)
        except ValueError:
            pass
        else:
            if last >= start:
                return Period(start, last + dt.timedelta(days=1), f"{a} to {b}")
    raise CrossforceError(f"--period {text!r}: give YYYY-MM, YYYY-MM-DD..YYYY-MM-DD, "
                          "last-month, this-month or all")


def parse_as_of(text: str | None, dry_run: bool) -> dt.datetime | None:
    """A purge's ``--as-of`` date: only for a dry run (a real purge erases what is past
    retention now)."""
    if text is None:
        return None
    if not dry_run:
        raise CrossforceError("--as-of only goes with --dry-run: a real purge erases what is "
                              "past retention now")
    try:
        return dt.datetime.strptime(text, _DAY)
    except ValueError:
        raise CrossforceError(f"--as-of {text!r} is not a date (YYYY-MM-DD)") from None
