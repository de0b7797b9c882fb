"""A ledger's journal: signed entries made durable in an append-only file first, folded
into the DuckDB ``ledger`` table later.

Why: the coordinator service logs every request (DESIGN.md §8) and may answer only once
the entry is durable. A DuckDB COMMIT per batch of requests cost 40-60 ms (p99 up to
590 ms on a busy machine); one durable write of the batch to a file costs about one.
So the service (coordinator/serve_journal.py) writes complete, signed, chained entries
here, releases the answers once the write is durable, and folds them into the table in
larger batches off the request path.

On disk: ``DIR/journal/consultations-NNNNNN.journal`` segments of 8 MB, made full of
zero bytes before use (``JournalFiles``), one record a line, zeros after the last::

    <crc32 of the JSON, 8 hex digits> <JSON object: the entry's stored row>\\n

A record is the row exactly as the table stores it (``ledger.entry_row``), so folding
copies it verbatim: an entry altered in the file is folded altered, and ``audit verify``
finds it by its hash and signature like any other. A record that fails its checksum or
cannot be read is never folded: at the end of the newest segment it is a write cut short
by a crash (its request was never answered) and is dropped with a note; anywhere else
it is named, and the entry missing from the chain shows in ``audit verify``.

Folding is idempotent: an entry already in the table (by ``entry_id``) is skipped, so a
crash between a fold's commit and the removal of its segment doubles nothing (a segment
is removed once it is full and all folded, so a start reads again at most about one
segment). Whoever opens the ledger folds first: the service at start-up, every CLI that
opens the coordinator store (coordinator/store.py), the read-only audit commands
(``fold_store_file``).
"""

from __future__ import annotations

import contextlib
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
    """Every readable record of every segment, in order; a note for each one dropped.
    A segment is made full of zero bytes (``JournalFiles``): what follows the last record
    is zeros, and ignored."""
    found = JournalRead()
    listed = [(path, path.read_bytes().rstrip(b"\0")) for _, path in segments(folder)]
    written = [path for path, data in listed if data]
    for path, data in listed:
        found.paths.append(path)
        if not data:
            continue
        lines = data.split(b"\n")
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
        newest = path == written[-1]
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
    return any(p.read_bytes().rstrip(b"\0") for _, p in segments(folder))


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


#: bytes of one segment, made full of zeros in advance (about 11,000 entries)
SEGMENT_BYTES = 8 << 20
_ZEROS = b"\0" * (1 << 20)


class JournalFiles:
    """The writing side: append batches to the active segment, each write durable when it
    returns; a full segment is switched for the next, made in advance; a full segment is
    removed once every record in it is folded.

    Why zeros first: a segment is written full of zero bytes and synced before it is
    used, and opened ``O_DSYNC``, so a batch is one ``pwrite`` over blocks the file system
    already holds — durable without a journal commit of the file system (no size or block
    change), the slow and, on a shared disk, erratic part of an ``fsync`` of a growing file.

    Thread use: ``append`` by one writer under its lock; ``prepare`` and ``remove_folded``
    by the folder, which take that lock only to swap what the writer reads."""

    def __init__(self, folder: Path, segment_bytes: int = SEGMENT_BYTES) -> None:
        self.folder, self.capacity = folder, segment_bytes
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        if pending(folder):
            raise CrossforceError(f"{folder}: journal records not folded yet; open the store "
                                  "(which folds them) before writing")
        existing = segments(folder)
        for _, path in existing:
            path.unlink()
        self.number = (existing[-1][0] + 1) if existing else 1
        self.fd = self._make(self.number)
        self.size = 0      # bytes of records in the active segment
        self.written = 0   # records written in all
        #: full segments and ``written`` when each was left: removable once folded so far
        self.sealed: list[tuple[Path, int]] = []
        self.next_fd: int | None = self._make(self.number + 1)

    def _make(self, number: int) -> int:
        """A segment full of zeros, synced with its name; opened for durable writes."""
        path = segment_path(self.folder, number)
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        try:
            for _ in range(-(-self.capacity // len(_ZEROS))):
                os.write(fd, _ZEROS)
            os.fsync(fd)
        finally:
            os.close(fd)
        sync_dir(self.folder)
        return os.open(path, os.O_WRONLY | os.O_DSYNC)

    def prepare(self, lock: Any) -> None:
        """Make the next segment before it is needed (the folder's job, off the request
        path; only it makes segments); handed to the writer under ``lock``. While there
        is no next segment the writer cannot switch, so ``number`` stays put."""
        if self.next_fd is None:
            fd = self._make(self.number + 1)
            with lock:
                self.next_fd = fd

    def append(self, rows: Sequence[Sequence[Any]]) -> bool:
        """Write the records; when this returns they survive a crash. Returns whether
        the folder should make the next segment. A full segment is left for the next
        one, made in advance; if it is not made yet, the records go on at the end of the
        full one (slower: the file grows). On a failure the records' place is zeroed
        again (best effort) and the error raised."""
        data = b"".join(encode(r) for r in rows)
        if self.size and self.size + len(data) > self.capacity and self.next_fd is not None:
            self._switch()
        try:
            view, at = memoryview(data), self.size
            while view:
                n = os.pwrite(self.fd, view, at)
                view, at = view[n:], at + n
        except BaseException:
            with contextlib.suppress(OSError):
                os.pwrite(self.fd, b"\0" * len(data), self.size)
            raise
        self.size += len(data)
        self.written += len(rows)
        return self.next_fd is None

    def _switch(self) -> None:
        assert self.next_fd is not None
        os.close(self.fd)
        self.sealed.append((segment_path(self.folder, self.number), self.written))
        self.fd, self.next_fd, self.size = self.next_fd, None, 0
        self.number += 1

    def remove_folded(self, folded: int, lock: Any) -> None:
        """Remove the full segments whose records are all folded (``folded`` records so
        far). A removal lost in a crash folds nothing twice: folding skips entries
        already in the table."""
        with lock:
            done = [path for path, upto in self.sealed if upto <= folded]
            self.sealed = [(path, upto) for path, upto in self.sealed if upto > folded]
        for path in done:
            path.unlink(missing_ok=True)

    def close(self, *, all_folded: bool) -> None:
        """Close the files; remove every segment if all was folded, else those holding
        no record."""
        for fd in (self.fd, self.next_fd):
            if fd is not None:
                os.close(fd)
        self.next_fd = None
        for _, path in segments(self.folder):
            if all_folded or not path.read_bytes().rstrip(b"\0"):
                path.unlink()
