"""Cellebrite UFDR extractions: a ZIP holding ``report.xml`` (DOMAIN.md §4).

The XML is streamed with ``iterparse``: each decoded Call, InstantMessage/SMS and Contact
model becomes one row (per contact entry, for contacts) in the generic device layout
(devices/calls/messages/contacts), then the element is dropped, so memory follows the
batch size, not the report size. Rows go to DuckDB in Arrow batches as text, and the normal
staging casts and checks run on them — a UFDR and a CSV extraction land in the same tables.

A ZIP can promise little and expand to a lot, so ``report.xml`` is read through a bounded
stream (``UfdrLimits``): its declared and actual decompressed size, its expansion ratio
over the compressed size, and the longest run of bytes without a ``<`` (a text node or
attribute the XML parser would hold whole in memory) are all limited. Past a limit the
file is refused with one line naming it and the limit; nothing is loaded. Limits come from
``UfdrLimits`` or the environment (``CROSSFORCE_UFDR_MAX_REPORT_BYTES``,
``CROSSFORCE_UFDR_MAX_TEXT_BYTES``, ``CROSSFORCE_UFDR_MAX_RATIO``).
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from xml.etree.ElementTree import Element, ParseError, XMLPullParser, iterparse

import duckdb
import pyarrow as pa

from federation.errors import CrossforceError
from federation.layout import BY_NAME

REPORT = "report.xml"
BATCH = 20_000
#: layout tables a UFDR fills, in load order
UFDR_TABLES = ("devices", "calls", "messages", "contacts")
#: extra store columns a UFDR fills beyond the layout
EXTRA = {"calls": ("status",), "messages": ("status",)}

_DIRECTION = {"incoming": "incoming", "outgoing": "outgoing", "missed": "missed",
              "rejected": "missed", "inbox": "incoming", "sent": "outgoing"}
#: report header item names → devices column
_HEADER_ITEMS = {
    "DeviceInfoSelectedManufacturer": "make", "DeviceInfoDetectedManufacturer": "make",
    "DeviceInfoSelectedDeviceName": "model", "DeviceInfoDetectedModel": "model",
    "IMEI": "imei", "DeviceInfoIMEI": "imei", "MSISDN": "owner_number",
    "DeviceInfoMSISDN": "owner_number", "Phone Number": "owner_number",
    "UFED_PA_Version": "tool_version", "DeviceInfoUnitVersion": "tool_version",
    "DeviceInfoExtractionStartDateTime": "extraction_date",
    "ExtractionStartDateTime": "extraction_date", "DeviceInfoTimeZone": "timezone",
    "TimeZone": "timezone",
}


@dataclass(frozen=True)
class UfdrLimits:
    """How much ``report.xml`` may hold. The ratio applies once the report is over
    ``ratio_from_bytes`` (a small, very repetitive report is harmless)."""

    max_report_bytes: int = 16 << 30
    max_text_bytes: int = 64 << 20
    max_ratio: float = 200.0
    ratio_from_bytes: int = 64 << 20

    @classmethod
    def from_env(cls) -> UfdrLimits:
        d = cls()
        return cls(_env_int("CROSSFORCE_UFDR_MAX_REPORT_BYTES", d.max_report_bytes),
                   _env_int("CROSSFORCE_UFDR_MAX_TEXT_BYTES", d.max_text_bytes),
                   float(_env_int("CROSSFORCE_UFDR_MAX_RATIO", int(d.max_ratio))),
                   d.ratio_from_bytes)


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise CrossforceError(f"{name}={text!r}: not a whole number") from None
    if value <= 0:
        raise CrossforceError(f"{name}={text!r}: must be positive")
    return value


class _TooBig(Exception):
    """report.xml passed one of its limits (message says which)."""


class _Bounded(io.RawIOBase):
    """``report.xml`` as the parser reads it, counting bytes and the current run of bytes
    without a ``<``; raises ``_TooBig`` as soon as either passes its limit."""

    CHUNK = 64 << 10

    def __init__(self, raw: IO[bytes], limits: UfdrLimits) -> None:
        self.raw, self.limits = raw, limits
        self.total = 0
        self.run = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = self.CHUNK if n is None or n < 0 or n > self.CHUNK else n
        chunk = self.raw.read(n)
        self.total += len(chunk)
        if self.total > self.limits.max_report_bytes:
            raise _TooBig(f"{REPORT} expands to more than {self.limits.max_report_bytes:,} "
                          "bytes (limit CROSSFORCE_UFDR_MAX_REPORT_BYTES)")
        first = chunk.find(b"<")
        if first < 0:
            self.run += len(chunk)
        else:
            longest = self.run + first
            if self.limits.max_text_bytes < len(chunk):  # a run could fit inside one chunk
                longest = max(longest, _longest_gap(chunk))
            self.run = len(chunk) - chunk.rfind(b"<") - 1
            self._check(longest)
        self._check(self.run)
        return chunk

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)

    def _check(self, run: int) -> None:
        if run > self.limits.max_text_bytes:
            raise _TooBig(f"{REPORT} holds a text node or attribute of more than "
                          f"{self.limits.max_text_bytes:,} bytes (near byte "
                          f"{self.total:,}; limit CROSSFORCE_UFDR_MAX_TEXT_BYTES)")


def _longest_gap(chunk: bytes) -> int:
    """Longest run without ``<`` strictly inside ``chunk`` (between two ``<``)."""
    longest, last = 0, chunk.find(b"<")
    while last >= 0:
        nxt = chunk.find(b"<", last + 1)
        if nxt < 0:
            break
        longest = max(longest, nxt - last - 1)
        last = nxt
    return longest


def _check_sizes(path: Path, info: zipfile.ZipInfo, limits: UfdrLimits) -> None:
    """Refuse from the ZIP directory alone what would expand too far."""
    if info.file_size > limits.max_report_bytes:
        raise CrossforceError(
            f"{path}: {REPORT} would expand to {info.file_size:,} bytes, over the limit of "
            f"{limits.max_report_bytes:,} (CROSSFORCE_UFDR_MAX_REPORT_BYTES); nothing loaded")
    ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size > limits.ratio_from_bytes and ratio > limits.max_ratio:
        raise CrossforceError(
            f"{path}: {REPORT} expands {ratio:,.0f} times ({info.compress_size:,} → "
            f"{info.file_size:,} bytes), over the limit of {limits.max_ratio:,.0f} "
            "(CROSSFORCE_UFDR_MAX_RATIO; a ZIP bomb?); nothing loaded")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def columns(table: str) -> tuple[str, ...]:
    return tuple(c.name for c in BY_NAME[table].columns) + EXTRA.get(table, ())


@dataclass
class Party:
    identifier: str | None = None
    name: str | None = None
    role: str | None = None
    owner: bool = False


@dataclass
class _Model:
    """The fields of one decoded model, read from its element (already complete)."""

    kind: str
    id: str
    deleted: bool
    fields: dict[str, str] = field(default_factory=dict)
    parties: dict[str, list[Party]] = field(default_factory=dict)
    entries: list[dict[str, str]] = field(default_factory=list)


def _value(el: Element) -> str | None:
    for child in el:
        if _local(child.tag) == "value":
            text = (child.text or "").strip()
            return text or None
    return None


def _fields(model: Element) -> dict[str, str]:
    out: dict[str, str] = {}
    for child in model:
        if _local(child.tag) == "field":
            v = _value(child)
            if v is not None:
                out[child.get("name", "")] = v
    return out


def _read_model(el: Element, kind: str) -> _Model:
    m = _Model(kind, el.get("id", ""), el.get("deleted_state", "").lower() == "deleted",
               _fields(el))
    for child in el:
        tag = _local(child.tag)
        if tag not in ("modelField", "multiModelField"):
            continue
        name = child.get("name", "")
        for sub in child:
            if _local(sub.tag) != "model":
                continue
            f = _fields(sub)
            if name == "Entries":
                m.entries.append(f)
            else:
                m.parties.setdefault(name, []).append(Party(
                    f.get("Identifier"), f.get("Name"), f.get("Role"),
                    f.get("IsPhoneOwner", "").lower() == "true"))
    return m


def utc(text: str | None) -> str | None:
    """ISO time with offset → naive UTC text; unparseable text passes on to fail the cast."""
    if not text:
        return None
    try:
        t = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return text
    if t.tzinfo is not None:
        t = t.astimezone(dt.UTC).replace(tzinfo=None)
    return t.isoformat(sep=" ")


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


def _direction(text: str | None) -> str:
    return _DIRECTION.get((text or "").strip().lower(), "unknown")


def _other(parties: list[Party]) -> Party:
    """The party who is not the handset's owner (the other end of the event)."""
    for p in parties:
        if not p.owner:
            return p
    return parties[0] if parties else Party()


class _Rows:
    """Per-table row buffers flushed to DuckDB as Arrow batches."""

    def __init__(self, con: duckdb.DuckDBPyConnection, prefix: str) -> None:
        self.con, self.prefix = con, prefix
        self.buf: dict[str, list[tuple[str | None, ...]]] = {t: [] for t in UFDR_TABLES}
        self.count = dict.fromkeys(UFDR_TABLES, 0)
        for t in UFDR_TABLES:
            cols = ", ".join(f'"{c}" VARCHAR' for c in (*columns(t), "_where"))
            con.execute(f"CREATE OR REPLACE TEMP TABLE {prefix}{t} ({cols})")

    def add(self, table: str, row: dict[str, str | None], where: str) -> None:
        self.buf[table].append((*(row.get(c) for c in columns(table)), where))
        self.count[table] += 1
        if len(self.buf[table]) >= BATCH:
            self.flush(table)

    def flush(self, table: str) -> None:
        rows = self.buf[table]
        if not rows:
            return
        names = (*columns(table), "_where")
        batch = pa.table({n: pa.array([r[i] for r in rows], pa.string())
                          for i, n in enumerate(names)})
        self.con.register("ufdr_batch", batch)
        self.con.execute(f"INSERT INTO {self.prefix}{table} SELECT * FROM ufdr_batch")
        self.con.unregister("ufdr_batch")
        rows.clear()


def _events(stream: IO[bytes]) -> Iterator[tuple[str, Element]]:
    """Start and end events, fed in chunks. With a ``_Bounded`` stream, more than its
    ``max_text_bytes`` read without one event means one text node, CDATA section or tag
    the parser is holding whole (a CDATA section may hide ``<``): refused."""
    limits = getattr(stream, "limits", None)
    if limits is None:
        yield from iterparse(stream, events=("start", "end"))
        return
    parser = XMLPullParser(events=("start", "end"))
    quiet = 0
    while chunk := stream.read(_Bounded.CHUNK):
        parser.feed(chunk)
        seen = False
        for event in parser.read_events():
            seen = True
            yield event  # type: ignore[misc]
        quiet = 0 if seen else quiet + len(chunk)
        if quiet > limits.max_text_bytes:
            raise _TooBig(f"{REPORT} holds a text node, CDATA section or tag of more than "
                          f"{limits.max_text_bytes:,} bytes (near byte "
                          f"{getattr(stream, 'total', 0):,}; limit "
                          "CROSSFORCE_UFDR_MAX_TEXT_BYTES)")
    parser.close()
    yield from parser.read_events()  # type: ignore[misc]


def read_ufdr(con: duckdb.DuckDBPyConnection, path: Path, device_id: str,
              prefix: str = "ufdr_", limits: UfdrLimits | None = None) -> dict[str, int]:
    """Stream ``path``'s report.xml into temp tables ``<prefix><table>`` (text + _where),
    within ``limits`` (default: ``UfdrLimits.from_env()``)."""
    limits = limits or UfdrLimits.from_env()
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise CrossforceError(f"{path}: not a readable UFDR (ZIP) file: {exc}") from None
    with zf:
        names = {n.rsplit("/", 1)[-1]: n for n in zf.namelist()}
        if REPORT not in names:
            raise CrossforceError(f"{path}: no {REPORT} inside; a UFDR must contain the "
                                  f"Cellebrite {REPORT}")
        _check_sizes(path, zf.getinfo(names[REPORT]), limits)
        rows = _Rows(con, prefix)
        device: dict[str, str | None] = {"device_id": device_id, "tool": "Cellebrite UFED"}
        try:
            with zf.open(names[REPORT]) as stream:
                _parse(_Bounded(stream, limits), rows, device, device_id)
        except _TooBig as exc:
            raise CrossforceError(f"{path}: {exc}; nothing loaded") from None
        except ParseError as exc:
            line, col = exc.position
            raise CrossforceError(f"{path}, {REPORT} line {line} column {col}: corrupt or "
                                  f"truncated XML ({exc.msg if hasattr(exc, 'msg') else exc})"
                                  ) from None
        except (zipfile.BadZipFile, EOFError, OSError, zlib.error) as exc:
            raise CrossforceError(f"{path}: truncated or corrupt ZIP ({exc})") from None
        rows.add("devices", device, f"{REPORT} <project> header")
        for t in UFDR_TABLES:
            rows.flush(t)
        return dict(rows.count)


def _parse(stream: IO[bytes], rows: _Rows, device: dict[str, str | None],
           device_id: str) -> None:
    stack: list[Element] = []
    seen: dict[str, int] = {}
    for event, el in _events(stream):
        tag = _local(el.tag)
        if event == "start":
            if tag == "project":
                device["extraction_type"] = el.get("extractionType")
            elif tag == "extractionInfo" and not device.get("extraction_type"):
                device["extraction_type"] = el.get("type")
            stack.append(el)
            continue
        stack.pop()
        if tag == "item" and len(stack) >= 1 and _local(stack[-1].tag) == "metadata":
            col = _HEADER_ITEMS.get(el.get("name", ""))
            text = (el.text or "").strip()
            if col and text and not device.get(col):
                device[col] = utc(text) if col == "extraction_date" else text
            continue
        if tag != "model":
            continue
        kind = el.get("type", "")
        if kind not in ("Call", "InstantMessage", "SMS", "Contact"):
            continue  # Party/ContactEntry models are read with their parent
        seen[kind] = seen.get(kind, 0) + 1
        model = _read_model(el, kind)
        where = f'{REPORT} <model type="{kind}" id="{model.id}"> (#{seen[kind]})'
        _emit(model, rows, device_id, where)
        el.clear()
        if stack:  # drop the finished model from its parent so memory stays flat
            stack[-1].remove(el)


def _emit(m: _Model, rows: _Rows, device_id: str, where: str) -> None:
    f = m.fields
    deleted = "true" if m.deleted else "false"
    if m.kind == "Call":
        other = _other(m.parties.get("Parties", []))
        direction = _direction(f.get("Direction"))
        if (f.get("Status") or "").lower() in ("missed", "rejected"):
            direction = "missed"
        rows.add("calls", {
            "device_id": device_id, "call_id": m.id, "timestamp_utc": utc(f.get("TimeStamp")),
            "direction": direction, "number": other.identifier, "name": other.name,
            "duration_s": seconds(f.get("Duration")), "app": f.get("Source") or "Phone",
            "deleted": deleted, "status": f.get("Status")}, where)
    elif m.kind in ("InstantMessage", "SMS"):
        sender = (m.parties.get("From") or [Party()])[0]
        to = m.parties.get("To", [])
        parties = m.parties.get("Parties", [])
        if parties and not (sender.identifier or to):  # SMS style: Parties with roles
            froms = [p for p in parties if (p.role or "").lower() == "from"]
            sender = froms[0] if froms else Party()
            to = [p for p in parties if p not in froms]
        if sender.owner or _direction(f.get("Folder")) == "outgoing":
            direction, other = "outgoing", _other(to)
        elif sender.identifier or sender.name:
            direction, other = "incoming", sender
        else:
            direction, other = "unknown", _other(to)
        rows.add("messages", {
            "device_id": device_id, "message_id": m.id, "timestamp_utc": utc(f.get("TimeStamp")),
            "direction": direction, "number": other.identifier, "name": other.name,
            "app": f.get("SourceApplication") or f.get("Source") or
            ("SMS" if m.kind == "SMS" else None),
            "chat_id": f.get("ChatId"), "body": f.get("Body"), "deleted": deleted,
            "status": f.get("Status")}, where)
    else:
        entries = [e for e in m.entries if e.get("Value")] or [{}]
        for k, entry in enumerate(entries, 1):
            rows.add("contacts", {
                "device_id": device_id,
                "contact_id": m.id if len(entries) == 1 else f"{m.id}#{k}",
                "name": f.get("Name"), "number": entry.get("Value"),
                "times_contacted": f.get("TimesContacted"),
                "last_contacted": utc(f.get("TimeContacted")),
                "source_app": f.get("Source")}, where)
