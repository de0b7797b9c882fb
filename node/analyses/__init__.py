"""Node analyses (`crossforce node analyse ...`): questions a force asks of its own store.

One module per analysis, named after it (``contacts``, ``common``, ``timeline``, ...). Each
module exposes ``command``: a typer command function whose docstring is its help; the
`analyse` group loads a module only to run it (``node.analyse_cli``). Everything here stays
on the node: an analysis reads the store, never changes it, and writes one ``consultation``
ledger entry (analysis name, parameters, counts — never content).

What every analysis shares lives here:

- ``consult``: open the store, hand out the connection, write the ledger entry;
- ``prepare_events``: the temp view ``events`` — every call and message with the device's
  local time and the other party's identifier — that the analyses query;
- ``resolve_devices``: turn ``--device``/``--person`` options into device ids, or a one-line
  error naming what to change;
- ``Result`` and ``emit``: one result shape, printed as rich tables (100 columns), JSON, or
  CSV.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from difflib import get_close_matches
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb
import typer

from federation.errors import CrossforceError

DirOption = typer.Option(..., "--dir", help="The node's folder.", file_okay=False)
JsonOption = typer.Option(False, "--json", help="Print the full result as JSON.")
CsvOption = typer.Option(None, "--csv", help="Also write the main table to this CSV file.",
                         dir_okay=False)


# --------------------------------------------------------------------------- the store


@contextlib.contextmanager
def consult(node_dir: Path, analysis: str, params: Mapping[str, Any]
            ) -> Iterator[tuple[duckdb.DuckDBPyConnection, dict[str, int]]]:
    """Open the store for one analysis; yields (connection, counts). Fill ``counts`` with
    what the analysis found (numbers only); on success one consultation entry is written
    with them. Nothing else is written: the analysis runs inside a transaction that is
    rolled back, so even a temp table it makes cannot reach the store."""
    from federation.keys import NodeKeys
    from federation.ledger import Ledger
    from node.egress import actor
    from node.store import open_store

    with open_store(node_dir) as (config, con):
        counts: dict[str, int] = {}
        con.execute("BEGIN")
        try:
            yield con, counts
        finally:
            con.execute("ROLLBACK")
        shown = ", ".join(f"{k}={_param(v)}" for k, v in params.items() if v not in
                          (None, False, (), []))
        Ledger(con, NodeKeys.load(config.keys_dir).signer, config.force).append(
            "consultation", actor=actor(), purpose=f"analysis:{analysis}",
            justification=f"node analyse {analysis}" + (f" ({shown})" if shown else ""),
            counts={k: int(v) for k, v in counts.items()})


def _param(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "+".join(str(v) for v in value)
    return str(value)


# --------------------------------------------------------------------------- time zones

_OFFSET = re.compile(r"(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?")


def zone_of(text: str | None) -> tuple[str | None, int | None]:
    """A device's time zone as written by a tool → (IANA name, or None; fixed offset in
    minutes, or None). Both None: unknown (events are then shown in UTC, and flagged)."""
    if not text or not text.strip():
        return None, None
    raw = text.strip()
    name = re.sub(r"^\(UTC[^)]*\)\s*", "", raw) if raw.startswith("(") else raw
    for candidate in (raw, name):
        if candidate.upper() in ("UTC", "GMT", "Z"):
            return "UTC", 0
        with contextlib.suppress(ZoneInfoNotFoundError, ValueError):
            ZoneInfo(candidate)
            return candidate, None
    m = _OFFSET.search(raw)
    if m:
        sign = -1 if m.group(1) == "-" else 1
        return None, sign * (int(m.group(2)) * 60 + int(m.group(3) or 0))
    return None, None


def prepare_events(con: duckdb.DuckDBPyConnection) -> None:
    """Temp table ``device_zone`` and temp view ``events``: each call and message with
    ``local_ts`` in its device's time zone (UTC when the zone is unknown:
    ``zone_known`` false), ``other`` = the other party's normalised identifier (the raw
    value when it could not be normalised), and the device's attributed ``person_id``."""
    con.execute("SET TimeZone = 'UTC'")
    rows = con.execute("SELECT device_id, timezone, person_id FROM devices").fetchall()
    zones = [(d, *zone_of(tz), p) for d, tz, p in rows]
    con.execute("CREATE OR REPLACE TEMP TABLE device_zone (device_id VARCHAR, zone VARCHAR, "
                "offset_min INTEGER, person_id VARCHAR)")
    if zones:
        con.executemany("INSERT INTO device_zone VALUES (?, ?, ?, ?)", zones)
    con.execute("""
        CREATE OR REPLACE TEMP VIEW events AS
        SELECT e.device_id, z.person_id AS device_person, e.event_kind, e.event_id,
               e.timestamp_utc,
               CASE WHEN z.zone IS NOT NULL
                    THEN timezone(z.zone, e.timestamp_utc::TIMESTAMPTZ)
                    WHEN z.offset_min IS NOT NULL
                    THEN e.timestamp_utc + to_minutes(z.offset_min)
                    ELSE e.timestamp_utc END AS local_ts,
               (z.zone IS NOT NULL OR z.offset_min IS NOT NULL) AS zone_known,
               e.direction, coalesce(e.number_e164, nullif(trim(e.number), '')) AS other,
               e.number AS other_raw, e.number_normalised, e.name, e.app, e.duration_s,
               e.body, e.deleted
        FROM communication_events e LEFT JOIN device_zone z USING (device_id)""")


# --------------------------------------------------------------------------- subjects


def resolve_devices(con: duckdb.DuckDBPyConnection, devices: Sequence[str] = (),
                    persons: Sequence[str] = ()) -> dict[str, list[str]]:
    """``--device``/``--person`` values → {subject label: [device ids]}. A person's devices
    are those attributed to any of the person's records (the force's own resolution joins
    duplicates). No option: every device, one subject each. Unknown ids: CrossforceError
    naming the id and the closest known ones."""
    known = [r[0] for r in con.execute(
        "SELECT device_id FROM devices ORDER BY device_id").fetchall()]
    if not known:
        raise CrossforceError("this node holds no seized devices: load an extraction first "
                              "(crossforce node ingest --dir DIR FILE.ufdr)")
    out: dict[str, list[str]] = {}
    for d in devices:
        if d not in known:
            raise CrossforceError(f"no device {d!r} on this node{_suggest(d, known)}")
        out[d] = [d]
    for p in persons:
        exists = con.execute("SELECT count(*) FROM persons WHERE person_id = ?",
                             [p]).fetchall()[0][0]
        if not exists:
            ids = [r[0] for r in con.execute("SELECT person_id FROM persons").fetchall()]
            raise CrossforceError(f"no person {p!r} on this node{_suggest(p, ids)}")
        define_person_records(con)
        found = [r[0] for r in con.execute(
            """SELECT DISTINCT d.device_id FROM devices d
               WHERE d.person_id IN (SELECT person_id FROM person_records(?))
               ORDER BY 1""", [p]).fetchall()]
        if not found:
            raise CrossforceError(f"person {p!r} has no seized device attributed on this "
                                  "node; name a device with --device instead")
        out[p] = found
    return out or {d: [d] for d in known}


def define_person_records(con: duckdb.DuckDBPyConnection) -> None:
    """Temp macro ``person_records(p)``: the person_ids of every record of p's person, as
    the force's last resolution (``node resolve``) has them; just p before any."""
    con.execute("""
        CREATE OR REPLACE TEMP MACRO person_records(p) AS TABLE
        SELECT r.person_id FROM person_resolution r
        WHERE r.local_person = (SELECT local_person FROM person_resolution
                                WHERE person_id = p)
        UNION SELECT p""")


def _suggest(value: str, known: Sequence[str]) -> str:
    close = get_close_matches(value, known, n=3)
    if close:
        return "; did you mean " + ", ".join(close) + "?"
    return f" ({len(known)} known; list them with crossforce node status --dir DIR)"


def parse_period(start: str | None, end: str | None) -> tuple[dt.datetime | None,
                                                              dt.datetime | None]:
    """``--from``/``--to`` (YYYY-MM-DD or ISO time, device-local) → datetimes; ``--to`` a
    date means to the end of that day. Refuses a period that ends before it starts."""
    def one(text: str | None, name: str, end_of_day: bool) -> dt.datetime | None:
        if not text:
            return None
        try:
            value = dt.datetime.fromisoformat(text)
        except ValueError:
            raise CrossforceError(f"{name} {text!r}: not a date (write YYYY-MM-DD or "
                                  "YYYY-MM-DDTHH:MM)") from None
        if end_of_day and len(text) <= 10:
            value += dt.timedelta(days=1) - dt.timedelta(microseconds=1)
        return value.replace(tzinfo=None)

    a, b = one(start, "--from", False), one(end, "--to", True)
    if a and b and b < a:
        raise CrossforceError(f"--to {end} is before --from {start}: the period is empty")
    return a, b


# --------------------------------------------------------------------------- output


@dataclass
class Table:
    """One table of a result: a title, column names and rows (plain values). ``shown``:
    the columns printed in the terminal when not all of them fit (JSON and CSV have all)."""

    title: str
    columns: list[str]
    rows: list[Sequence[Any]]
    shown: list[str] | None = None

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, r, strict=True)) for r in self.rows]


@dataclass
class Result:
    """What an analysis found: its tables (the first is the main one, written by --csv),
    a summary of numbers and notes that explain how to read it."""

    analysis: str
    params: dict[str, Any]
    tables: list[Table]
    summary: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"analysis": self.analysis, "params": self.params, "summary": self.summary,
                "notes": self.notes,
                "tables": {t.title: t.records() for t in self.tables}}


def _plain(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    if isinstance(value, float):
        return round(value, 4)
    return value


def emit(result: Result, as_json: bool = False, csv_path: Path | None = None,
         limit: int = 25) -> None:
    """Print ``result``: JSON (everything) or rich tables (first ``limit`` rows each, 100
    columns wide); with ``csv_path`` also write the main table as CSV."""
    if csv_path is not None and result.tables:
        main = result.tables[0]
        with open(csv_path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(main.columns)
            w.writerows([[_plain(v) for v in r] for r in main.rows])
    if as_json:
        typer.echo(json.dumps(result.as_json(), indent=2, default=_plain))
        return
    from rich.console import Console
    from rich.table import Table as RichTable

    console = Console(width=min(Console().width, 100))
    if result.summary:
        console.print(" · ".join(f"{k}: {_plain(v)}" for k, v in result.summary.items()))
    for t in result.tables:
        shown = t.rows[:limit]
        more = f" (first {limit} of {len(t.rows):,}; --json or --csv for all)" \
            if len(t.rows) > limit else ""
        cols = [t.columns.index(c) for c in (t.shown or t.columns)]
        rt = RichTable(*(t.columns[i] for i in cols), title=f"{t.title}{more}",
                       title_justify="left")
        for r in shown:
            rt.add_row(*("" if r[i] is None else str(_plain(r[i])) for i in cols))
        console.print(rt)
    for n in result.notes:
        console.print(f"[dim]{n}[/]")
    if csv_path is not None:
        console.print(f"wrote {csv_path}")
