"""Reading a report inside a ZIP without trusting it: bounded size, ratio and text runs.

A ZIP can promise little and expand to a lot, so a report is read through a bounded
stream (``UfdrLimits``): its declared and actual decompressed size, its expansion ratio
over the compressed size, and the longest run of bytes without a ``<`` (a text node or
attribute the XML parser would hold whole in memory) are all limited. Past a limit the
file is refused with one line naming it and the limit; nothing is loaded. Limits come from
``UfdrLimits`` or the environment (``CROSSFORCE_UFDR_MAX_REPORT_BYTES``,
``CROSSFORCE_UFDR_MAX_TEXT_BYTES``, ``CROSSFORCE_UFDR_MAX_RATIO``).
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from xml.etree.ElementTree import Element, ParseError, XMLPullParser, iterparse

from federation.errors import CrossforceError

REPORT = "report.xml"


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


class TooBig(Exception):
    """report.xml passed one of its limits (message says which)."""


class Bounded(io.RawIOBase):
    """``report.xml`` (or another tool's XML file, ``name``) as the parser reads it,
    counting bytes and the current run of bytes without a ``<``; raises ``TooBig`` as soon
    as either passes its limit."""

    CHUNK = 64 << 10

    def __init__(self, raw: IO[bytes], limits: UfdrLimits, name: str = REPORT) -> None:
        self.raw, self.limits, self.name = raw, limits, name
        self.total = 0
        self.run = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = self.CHUNK if n is None or n < 0 or n > self.CHUNK else n
        chunk = self.raw.read(n)
        self.total += len(chunk)
        if self.total > self.limits.max_report_bytes:
            raise TooBig(f"{self.name} expands to more than {self.limits.max_report_bytes:,} "
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
            raise TooBig(f"{self.name} holds a text node or attribute of more than "
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


def check_sizes(path: Path, info: zipfile.ZipInfo, limits: UfdrLimits) -> None:
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


def events(stream: IO[bytes]) -> Iterator[tuple[str, Element]]:
    """Start and end events, fed in chunks. With a ``Bounded`` stream, more than its
    ``max_text_bytes`` read without one event means one text node, CDATA section or tag
    the parser is holding whole (a CDATA section may hide ``<``): refused. On a parse
    error the events read before it come first, so the caller knows the open element."""
    limits = getattr(stream, "limits", None)
    if limits is None:
        yield from iterparse(stream, events=("start", "end"))
        return
    parser = XMLPullParser(events=("start", "end"))
    quiet = 0
    while chunk := stream.read(Bounded.CHUNK):
        try:
            parser.feed(chunk)
        except ParseError:  # what was read before the fault first: the open element
            yield from parser.read_events()  # type: ignore[misc]
            raise
        seen = False
        for event in parser.read_events():
            seen = True
            yield event  # type: ignore[misc]
        quiet = 0 if seen else quiet + len(chunk)
        if quiet > limits.max_text_bytes:
            raise TooBig(f"{getattr(stream, 'name', REPORT)} holds a text node, CDATA "
                         f"section or tag of more than {limits.max_text_bytes:,} bytes "
                         f"(near byte {getattr(stream, 'total', 0):,}; limit "
                         "CROSSFORCE_UFDR_MAX_TEXT_BYTES)")
    try:
        parser.close()
    finally:
        yield from parser.read_events()  # type: ignore[misc]
