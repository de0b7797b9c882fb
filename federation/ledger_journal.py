"""A ledger's journal: signed entries made durable in an append-only file first, folded
into the DuckDB ``ledger`` table later.

Why: the coordinator service logs every request (DESIGN.md §8) and may answer only once
the entry is durable. A DuckDB COMMIT per batch of requests cost 40-60 ms (p99 up to
590 ms on a busy machine); appending the batch to a file and one ``fsync`` costs a few.
So the service (coordinator/serve_journal.py) writes complete, signed, chained entries
here, releases the answers after the fsync, and folds them into the table in larger
batches off the request path.

On disk: ``DIR/journal/consultations-NNNNNN.journal`` segments, one record a line::

    <crc32 of the JSON, 8 hex digits> <JSON object: the entry's stored row>\\n

A record is the row exactly as the table stores it (``ledger.entry_row``), so folding
copies it verbatim: an entry altered in the file is folded altered, and ``audit verify``
finds it by its hash and signature like any other. A record that fails its checksum or
cannot be read is never folded: at the end of the newest segment it is a write cut short
by a crash (its request was never answered) and is dropped with a note; anywhere else
it is named, and the entry missing from the chain shows in ``audit verify``.

Folding is idempotent: an entry already in the table (by ``entry_id``) is skipped, so a
crash between the fold's commit and the segment's removal doubles nothing. Whoever opens
the ledger folds first: the service at start-up, every CLI that opens the coordinator
store (coordinator/store.py), the read-only audit commands (``fold_store_file``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from federation.errors import CrossforceError
from federation.ledger import LEDGER_COLUMNS, LedgerForked, insert_rows, next_position

log = logging.getLogger("crossforce.journal")

JOURNAL_DIR = "journal"
_NAME = re.compile(r"^consultations-(\d{6,})\.journal$")
_AT = LEDGER_COLUMNS.index("at_utc")
_TYPES: dict[str, type | tuple[type, ...]] = {
    "seq": int, "version": int, "recipients": list, "payload_hash": (str, type(None)),
    "policy_hash": (str, type(None))}


def journal_dir(directory: Path) -> Path:
    """Where the journal of the store in ``directory`` lives."""
    return Path(directory) / JOURNAL_DIR


def segment_path(folder: Path, number: int) -> Path:
    return folder / f"consultations-{number:06d}.journal"


def segments(folder: Path) -> list[tuple[int, Path]]:
    """(number, path) of every segment, oldest first."""
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return sorted(found)


def encode(row: Sequence[Any]) -> bytes:
    """One record: checksum, space, the row as JSON, newline."""
    values = list(row)
    values[_AT] = values[_AT].strftime("%Y-%m-%dT%H:%M:%S.%f")
    body = json.dumps(dict(zip(LEDGER_COLUMNS, values, strict=True)), ensure_ascii=True,
                      separators=(",", ":")).encode()
    return b"%08x %s\n" % (zlib.crc32(body), body)


def decode(line: bytes) -> list[Any]:
    """The row a record holds; ValueError saying what is wrong with it."""
    if len(line) < 10 or line[8:9] != b" ":
        raise ValueError("not a journal record")
    body = line[9:]
    if f"{zlib.crc32(body):08x}".encode() != line[:8]:
        raise ValueError("checksum does not match")
    d = json.loads(body)
    if not isinstance(d, dict) or set(d) != set(LEDGER_COLUMNS):
        raise ValueError("not a ledger entry's fields")
    for name in LEDGER_COLUMNS:
        if not isinstance(d[name], _TYPES.get(name, str)):
            raise ValueError(f"field {name} has the wrong type")
    row = [d[name] for name in LEDGER_COLUMNS]
    row[_AT] = dt.datetime.strptime(row[_AT], "%Y-%m-%dT%H:%M:%S.%f")
    return row


@dataclass
class Record:
    path: Path
    line: int
    row: list[Any]

    @property
    def entry_id(self) -> str:
        return str(self.row[1])


@dataclass
class JournalRead:
    records: list[Record] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)


def read_journal(folder: Path) -> JournalRead:
    """Every readable record of every segment, in order; a note for each one dropped."""
    found = JournalRead()
    listed = segments(folder)
    written = [p for _, p in listed if p.stat().st_size]
    for _, path in listed:
        found.paths.append(path)
        lines = path.read_bytes().split(b"\n")
        torn_end = lines[-1] != b""  # the last line has no newline: cut short
        lines = lines[:-1] if not torn_end else lines
        bad: list[tuple[int, str]] = []
        for i, line in enumerate(lines, start=1):
            try:
                if torn_end and i == len(lines):
                    raise ValueError("cut short (no end of line)")
                found.records.append(Record(path, i, decode(line)))
            except (ValueError, json.JSONDecodeError) as exc:
                bad.append((i, str(exc)))
        last_kept = max((r.line for r in found.records if r.path == path), default=0)
        newest = bool(written) and path == written[-1]
        for i, why in bad:
            if newest and i > last_kept:
                found.notes.append(
                    f"{path} line {i}: torn record at the end ({why}) — a write cut short "
                    "by a crash, whose request was never answered; dropped, the records "
                    "before it kept")
            else:
                found.notes.append(
                    f"{path} line {i}: unreadable record ({why}); not folded — the entry it "
                    "held is missing from the ledger's chain (`audit verify` names the gap)")
    return found


@dataclass
class FoldReport:
    folded: int = 0
    already: int = 0
    notes: list[str] = field(default_factory=list)


def fold_into(con: duckdb.DuckDBPyConnection, folder: Path, owner: str) -> FoldReport:
    """Fold every journal record not yet in the table (by entry id), in journal order
    after the table's last entry, in one commit; then remove the segments. Idempotent."""
    read = read_journal(folder)
    report = FoldReport(notes=list(read.notes))
    if read.records:
        ids = list({r.entry_id for r in read.records})
        there = {r[0] for r in con.execute(
            "SELECT entry_id FROM ledger WHERE entry_id IN (SELECT unnest($ids))",
            {"ids": ids}).fetchall()}
        seen: set[str] = set()
        todo = []
        for r in read.records:
            if r.entry_id in there or r.entry_id in seen:
                report.already += 1
                continue
            seen.add(r.entry_id)
            todo.append(r)
        if todo:
            seq, head = next_position(con)
            if todo[0].row[LEDGER_COLUMNS.index("prev_hash")] != head:
                report.notes.append(
                    f"{todo[0].path} line {todo[0].line}: the first entry to fold does not "
                    "follow the ledger's last entry; folded all the same (`audit verify` "
                    "names the gap)")
            rows = [[seq + i, *r.row[1:]] for i, r in enumerate(todo)]
            try:
                insert_rows(con, rows, owner)
            except LedgerForked:
                raise CrossforceError(
                    f"{folder}: a journal entry follows an entry another one already "
                    "follows (the journal was altered?); nothing folded — keep the folder "
                    "for the investigation and run `crossforce audit verify`") from None
            report.folded = len(rows)
    for path in read.paths:
        path.unlink(missing_ok=True)
    if read.paths:
        sync_dir(folder)
    for note in report.notes:
        log.warning("ledger journal: %s", note)
    return report


def pending(folder: Path) -> bool:
    """Whether a segment holds anything (a store to fold before it is read)."""
    return any(p.stat().st_size for _, p in segments(folder))


def fold_store_file(db: Path, owner: str = "coordinator") -> FoldReport | None:
    """For a reader that opens ``db`` read-only (the audit commands): fold the journal
    beside it first, on a brief read-write connection, if it holds anything."""
    folder = journal_dir(Path(db).parent)
    if not pending(folder):
        return None
    try:
        con = duckdb.connect(str(db))
    except duckdb.IOException as exc:
        raise CrossforceError(f"{db} is open for writing by another process; run the "
                              f"check when it is closed ({str(exc).splitlines()[0]})"
                              ) from None
    try:
        return fold_into(con, folder, owner)
    finally:
        con.close()


def sync_dir(folder: Path) -> None:
    """Make a file's creation or removal in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class JournalFiles:
    """The writing side: append batches to the active segment (one fsync each); *seal*
    switches to the next segment, made in advance so sealing never waits for the disk;
    sealed segments are removed once folded. Not thread-safe: its owner serialises."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        existing = segments(folder)
        if existing and pending(folder):
            raise CrossforceError(f"{folder}: journal records not folded yet; open the store "
                                  "(which folds them) before writing")
        for _, path in existing:
            path.unlink()
        self.number = (existing[-1][0] + 1) if existing else 1
        self.active = open(segment_path(folder, self.number), "ab", buffering=0)  # noqa: SIM115
        self.size = 0
        self.sealed: list[Path] = []
        self.next: Any = None
        self.prepare()

    def prepare(self) -> None:
        """Make the next segment (and its name durable) before it is needed."""
        if self.next is None:
            self.next = open(segment_path(self.folder, self.number + 1), "ab",  # noqa: SIM115
                             buffering=0)
            sync_dir(self.folder)

    def append(self, rows: Sequence[Sequence[Any]]) -> None:
        """Write the records and fsync: when this returns they survive a crash. On a
        failure the segment is cut back to what it held, and the error raised."""
        data = b"".join(encode(r) for r in rows)
        try:
            view = memoryview(data)
            while view:
                view = view[self.active.write(view):]
            os.fsync(self.active.fileno())
        except BaseException:
            self.active.truncate(self.size)
            self.active.seek(self.size)
            raise
        self.size += len(data)

    def seal(self) -> None:
        """Switch to the next segment (made by ``prepare``); the active one is kept until
        ``remove_sealed``."""
        if self.size == 0:
            return
        if self.next is None:
            self.prepare()
        self.active.close()
        self.sealed.append(segment_path(self.folder, self.number))
        self.active, self.next, self.size = self.next, None, 0
        self.number += 1

    def remove_sealed(self) -> None:
        """Their records are in the table: remove them (a removal lost in a crash folds
        nothing twice: folding skips entries already there)."""
        for path in self.sealed:
            path.unlink(missing_ok=True)
        self.sealed = []

    def close(self) -> None:
        """Close the files; remove the empty ones (all of them, once everything is
        folded)."""
        for f in (self.active, self.next):
            if f is not None:
                f.close()
        for number in (self.number, self.number + 1):
            path = segment_path(self.folder, number)
            if path.exists() and not path.stat().st_size:
                path.unlink()
