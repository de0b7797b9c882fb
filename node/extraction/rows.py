"""Rows read from an extraction, buffered into DuckDB temp tables as text.

Every extraction reader (Cellebrite, XRY, ...) writes the same temp tables ``x_<table>``:
the layout tables (devices, calls, messages, contacts) with the store's extra columns, and
the tables only extractions fill (event_parties, chats, device_locations, device_accounts,
sim_data). Each row carries ``_where`` (the element it came from, for error messages).
Columns starting with ``_`` are working columns the loader resolves and drops. Rows go to
DuckDB in Arrow batches, so memory follows the batch size, not the report size (ingest
writes them to a scratch file outside the store's transaction: ``scratch``).
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pyarrow as pa

from federation.layout import BY_NAME
from node.extraction.times import ToolTime, parse_tool_time

BATCH = 20_000
PREFIX = "x_"

#: per layout table: store columns an extraction fills beyond the layout's
EXTRA: dict[str, tuple[str, ...]] = {
    "devices": ("region_source", "extraction_date_raw", "metadata_flags"),
    "calls": ("status", "timestamp_raw", "utc_offset_min", "time_flag", "party_kind",
              "_ts_local"),
    "messages": ("status", "timestamp_raw", "utc_offset_min", "time_flag", "party_kind",
                 "kind", "subject", "language", "language_script", "language_confidence",
                 "language_method", "_ts_local", "_chat_ref"),
    "contacts": ("entry_kind", "entry_value"),
}
#: tables only extractions fill: their columns (all but source_file)
OWN: dict[str, tuple[str, ...]] = {
    "event_parties": ("device_id", "event_kind", "event_id", "role", "identifier", "name",
                      "is_owner", "party_kind"),
    "chats": ("device_id", "chat_id", "name", "app", "account", "started_utc",
              "last_activity_utc", "participants", "messages", "deleted", "_ref"),
    "device_locations": ("device_id", "location_id", "timestamp_utc", "timestamp_raw",
                         "time_flag", "latitude", "longitude", "accuracy_m", "precision",
                         "kind", "origin", "category", "name", "address", "app", "cell_mcc",
                         "cell_mnc", "cell_lac", "cell_id", "deleted", "_ts_local"),
    "device_accounts": ("device_id", "account_id", "app", "username", "name", "entry_kind",
                        "value"),
    "sim_data": ("device_id", "name", "value", "category", "source"),
}
LAYOUT_TABLES = ("devices", "calls", "messages", "contacts")
TABLES = (*LAYOUT_TABLES, *OWN)


def columns(table: str) -> tuple[str, ...]:
    if table in OWN:
        return OWN[table]
    return tuple(c.name for c in BY_NAME[table].columns) + EXTRA.get(table, ())


class Rows:
    """Per-table row buffers, flushed to ``x_<table>`` tables as Arrow batches: temp
    tables, or (``temp=False``) tables of the scratch file ``con`` is connected to, each
    batch committed on its own (``node.extraction.scratch``)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, temp: bool = True) -> None:
        self.con = con
        self.cols = {t: columns(t) for t in TABLES}
        self.buf: dict[str, list[tuple[str | None, ...]]] = {t: [] for t in TABLES}
        self.count = dict.fromkeys(TABLES, 0)
        for t in TABLES:
            cols = ", ".join(f'"{c}" VARCHAR' for c in (*columns(t), "_where"))
            con.execute(f"CREATE OR REPLACE {'TEMP ' if temp else ''}TABLE {PREFIX}{t} "
                        f"({cols})")

    def add(self, table: str, row: dict[str, str | None], where: str) -> None:
        self.buf[table].append((*map(row.get, self.cols[table]), where))
        self.count[table] += 1
        if len(self.buf[table]) >= BATCH:
            self.flush(table)

    def flush(self, table: str | None = None) -> None:
        for t in (table,) if table else TABLES:
            rows = self.buf[t]
            if not rows:
                continue
            names = (*columns(t), "_where")
            # read by name (a replacement scan): a registered table lives until COMMIT
            x_batch = pa.table({n: pa.array([r[i] for r in rows], pa.string())  # noqa: F841
                                for i, n in enumerate(names)})
            self.con.execute(f"INSERT INTO {PREFIX}{t} SELECT * FROM x_batch")
            rows.clear()


def stamp(text: str | None, formatted: str | None = None, month_first: bool = False
          ) -> dict[str, str | None]:
    """The time columns of one event: ``timestamp_utc`` when the offset is known (from
    ``formatted``, the tool's formattedTimestamp, first), else ``_ts_local`` for the loader
    to place in the device's time zone; ``timestamp_raw`` and ``time_flag`` when not clean."""
    t: ToolTime | None = None
    if formatted:
        t = parse_tool_time(formatted, month_first)
        if t is not None and (t.local is None or t.offset_min is None):
            t = None
    if t is None:
        t = parse_tool_time(text, month_first)
    return stamp_time(t, text if text is not None else formatted)


def stamp_time(t: ToolTime | None, raw: str | None) -> dict[str, str | None]:
    """The time columns of one event from a time already read (``raw``: as written)."""
    if t is None:
        return {}
    flag = t.flag
    if t.local is not None and not 1880 <= t.local.year <= 2100:
        return {"timestamp_raw": raw, "time_flag": "out_of_range"}
    if t.local is None:
        return {"timestamp_raw": raw, "time_flag": flag or "unparsed"}
    utc = t.utc()
    if utc is not None:
        clean = t.offset_min == 0 and flag is None
        return {"timestamp_utc": _iso(utc), "utc_offset_min": str(t.offset_min),
                "timestamp_raw": None if clean else raw, "time_flag": flag}
    return {"_ts_local": _iso(t.local), "timestamp_raw": raw, "time_flag": flag}


def _iso(t: dt.datetime) -> str:
    return t.isoformat(sep=" ")
