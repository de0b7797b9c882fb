"""The audit ledger: append-only, hash-chained, Ed25519-signed s.62 records.

Data Protection Act 2018 s.62 asks for a log of collection, alteration, consultation,
disclosure, combination and erasure. Each entry holds who, when, what kind, why and how
many — never the data itself — plus the previous entry's hash, its own hash over a
canonical serialisation, and a signature. ``verify_ledger`` re-derives all of it and names
every entry that was changed, removed, reordered, inserted or badly signed.

Entries live in a ``ledger`` table in the owner's DuckDB file and are written inside the
caller's transaction, so a data change and its entry commit or roll back together.

``seq`` is only the storage position (not hashed): the chain of ``prev_hash`` values is the
order that counts, so moving rows around is caught as reordering.

A ledger starts with a signed *genesis* entry, written when its table is created: a ledger
with no entry at all has had every entry deleted, and verifying it is a finding, not "OK".
A chain never forks: a unique index on ``prev_hash`` lets only one entry follow another,
so two writers that read the same head cannot both commit (the second one's transaction
fails; nothing is half-written). Writers in one process also serialise on
``store_lock(path)`` (node/store.py holds it for each operation on a node store).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import threading
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, get_args

import duckdb

from federation.errors import CrossforceError
from federation.keys import BadSignature, Signer, Verifier, fingerprint

__all__ = [
    "ACTIONS",
    "GENESIS",
    "GENESIS_ACTION",
    "LEDGER_COLUMNS",
    "Action",
    "Ledger",
    "LedgerEntry",
    "LedgerForked",
    "LedgerProblem",
    "VerifyReport",
    "canonical_json",
    "entry_row",
    "insert_rows",
    "match_flows",
    "next_position",
    "read_entries",
    "store_lock",
    "verify_entries",
    "verify_ledger",
]

Action = Literal["collection", "alteration", "consultation", "disclosure", "combination",
                 "erasure"]
ACTIONS: tuple[str, ...] = get_args(Action)
GENESIS = "0" * 64  # prev_hash of the first entry
#: action of the first entry of every ledger (not an s.62 action: it records nothing but
#: the ledger's start, so an emptied ledger can be told from a new one)
GENESIS_ACTION = "genesis"
LEDGER_VERSION = 1

_DDL = """
CREATE TABLE IF NOT EXISTS ledger (
    seq BIGINT NOT NULL,          -- storage position only; the hash chain is the real order
    entry_id VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    at_utc TIMESTAMP NOT NULL,    -- UTC
    owner VARCHAR NOT NULL,       -- whose ledger (force name or 'coordinator')
    signer VARCHAR NOT NULL,      -- fingerprint of the signing key
    actor VARCHAR NOT NULL,
    force VARCHAR NOT NULL,
    action VARCHAR NOT NULL,
    purpose VARCHAR NOT NULL,
    justification VARCHAR NOT NULL,
    counts VARCHAR NOT NULL,      -- canonical JSON {name: count}; never content
    recipients VARCHAR[] NOT NULL,
    payload_hash VARCHAR,
    policy_hash VARCHAR,
    prev_hash VARCHAR NOT NULL,
    entry_hash VARCHAR NOT NULL,
    signature VARCHAR NOT NULL    -- Ed25519 over entry_hash, hex
)
"""
#: a batch of this many entries or more is inserted as one Arrow table
_ARROW_ROWS = 8
#: only one entry may follow another: a second writer that read the same head cannot commit
_CHAIN_INDEX = "CREATE UNIQUE INDEX IF NOT EXISTS ledger_chain ON ledger (prev_hash)"
_COLUMNS = ("seq", "entry_id", "version", "at_utc", "owner", "signer", "actor", "force",
            "action", "purpose", "justification", "counts", "recipients", "payload_hash",
            "policy_hash", "prev_hash", "entry_hash", "signature")
#: the stored columns, in order (a journal record holds one row of them)
LEDGER_COLUMNS = _COLUMNS
_COUNTS, _RECIPIENTS = _COLUMNS.index("counts"), _COLUMNS.index("recipients")


def canonical_json(obj: Any) -> bytes:
    """One byte string per value: sorted keys, no spaces, ASCII."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False).encode()


@dataclass(frozen=True)
class LedgerEntry:
    """One s.62 record. ``counts`` are numbers of records, never their content."""

    seq: int
    entry_id: str
    version: int
    at_utc: dt.datetime
    owner: str
    signer: str
    actor: str
    force: str
    action: str
    purpose: str
    justification: str
    counts: dict[str, int]
    recipients: tuple[str, ...]
    payload_hash: str | None
    policy_hash: str | None
    prev_hash: str
    entry_hash: str
    signature: str

    def hashed_fields(self) -> dict[str, Any]:
        """Everything the entry hash covers (all but seq, entry_hash and signature).
        Built field by field (``asdict`` deep-copies, and a busy service hashes an entry
        per request): the same values, so the same canonical JSON."""
        d = {name: getattr(self, name) for name in _HASHED}
        d["counts"] = dict(self.counts)
        d["at_utc"] = self.at_utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        d["recipients"] = list(self.recipients)
        return d

    def compute_hash(self) -> str:
        return hashlib.sha256(canonical_json(self.hashed_fields())).hexdigest()

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> LedgerEntry:
        d = dict(zip(_COLUMNS, row, strict=True))
        try:
            counts = json.loads(d["counts"])
            # any edit to the stored text, even one that parses the same, breaks the hash
            if not isinstance(counts, dict) or canonical_json(counts).decode() != d["counts"]:
                counts = {"<not canonical>": -1}
        except ValueError:
            counts = {"<unreadable>": -1}
        d["counts"] = counts
        d["recipients"] = tuple(d["recipients"] or ())
        return cls(**d)


_HASHED = tuple(f.name for f in fields(LedgerEntry)
                if f.name not in ("seq", "entry_hash", "signature"))
_LOCKS: dict[str, threading.RLock] = {}
_LOCKS_GUARD = threading.Lock()


def store_lock(path: str | Path) -> threading.RLock:
    """The process-wide lock of one store file: hold it from reading the ledger head to
    committing, so two threads of one process never append after the same entry."""
    key = str(Path(path).resolve())
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(key, threading.RLock())


def _table_exists(con: duckdb.DuckDBPyConnection) -> bool:
    ((n,),) = con.execute("SELECT count(*) FROM information_schema.tables "
                          "WHERE table_name = 'ledger' AND table_schema = current_schema()"
                          ).fetchall()
    return bool(n)


class LedgerForked(CrossforceError):
    """Two writers tried to append after the same entry; the later one is refused."""


class Ledger:
    """Appends signed entries to the ``ledger`` table of one DuckDB connection.

    Creating the table writes the genesis entry (in the caller's transaction, if any)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, signer: Signer, owner: str) -> None:
        self.con, self.signer, self.owner = con, signer, owner
        new = not _table_exists(con)
        con.execute(_DDL)
        with contextlib.suppress(duckdb.ConstraintException):  # a ledger forked already:
            con.execute(_CHAIN_INDEX)                          # verification names the fork
        if new:
            self._append(GENESIS_ACTION, actor="crossforce", purpose="ledger",
                         justification=f"ledger of {owner} started", counts={})

    def append(self, action: Action, *, actor: str, purpose: str, justification: str,
               counts: Mapping[str, int], recipients: Sequence[str] = (),
               payload_hash: str | None = None, policy_hash: str | None = None,
               force: str | None = None) -> LedgerEntry:
        """Add one entry; no commit of its own (runs inside the caller's transaction)."""
        if action not in ACTIONS:
            raise ValueError(f"ledger action {action!r} is not one of {', '.join(ACTIONS)}")
        return self._append(action, actor=actor, purpose=purpose,
                            justification=justification, counts=counts,
                            recipients=recipients, payload_hash=payload_hash,
                            policy_hash=policy_hash, force=force)

    def append_many(self, entries: Sequence[Mapping[str, Any]], *,
                    after: LedgerEntry | None = None) -> list[LedgerEntry]:
        """Add several entries (``append`` keywords each) in order, reading the chain's head
        once and inserting them in one statement — what a service writing one entry per
        request needs (the per-entry head query dominates ``append``). No commit of its
        own: outside a transaction the one INSERT commits by itself, all or nothing.

        ``after``: the head the caller knows it appended last (a single writer keeping it
        between batches), instead of reading it; if another entry followed it meanwhile,
        the chain index refuses the insert (``LedgerForked``) and nothing is written."""
        made = self.make_entries(entries, after=(after.seq, after.entry_hash) if after
                                 else None)
        self._insert(made)
        return made

    def make_entries(self, entries: Sequence[Mapping[str, Any]], *,
                     after: tuple[int, str] | None = None) -> list[LedgerEntry]:
        """Signed entries (``append`` keywords each) chained after ``after`` — (seq, entry
        hash) of the entry they follow — or after the stored head; nothing is stored. What
        a journal writes to its file before the entries reach the table
        (federation/ledger_journal.py)."""
        for e in entries:
            if e.get("action") not in ACTIONS:
                raise ValueError(f"ledger action {e.get('action')!r} is not one of "
                                 f"{', '.join(ACTIONS)}")
        seq, prev = (after[0] + 1, after[1]) if after else next_position(self.con)
        made = []
        for e in entries:
            entry = self._entry(seq=seq, prev=prev, **e)
            made.append(entry)
            seq, prev = seq + 1, entry.entry_hash
        return made

    def _append(self, action: str, **fields: Any) -> LedgerEntry:
        seq, prev = _next(self.con)
        entry = self._entry(seq=seq, prev=prev, action=action, **fields)
        self._insert([entry])
        return entry

    def _entry(self, *, seq: int, prev: str, action: str, actor: str, purpose: str,
               justification: str, counts: Mapping[str, int], recipients: Sequence[str] = (),
               payload_hash: str | None = None, policy_hash: str | None = None,
               force: str | None = None) -> LedgerEntry:
        """One signed entry following ``prev`` (checked, hashed, signed; not stored)."""
        for name, value in (("actor", actor), ("purpose", purpose),
                            ("justification", justification)):
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"ledger entry needs a non-empty {name}")
        clean_counts: dict[str, int] = {}
        for k, v in counts.items():
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"ledger count {k!r} must be a non-negative int, got {v!r}")
            clean_counts[str(k)] = int(v)
        if isinstance(recipients, str):
            raise ValueError("recipients is a sequence of names, not one string")
        draft = LedgerEntry(
            seq=seq, entry_id=uuid.uuid4().hex, version=LEDGER_VERSION,
            at_utc=dt.datetime.now(dt.UTC).replace(tzinfo=None), owner=self.owner,
            signer=self.signer.fingerprint, actor=actor, force=force or self.owner,
            action=action, purpose=purpose, justification=justification,
            counts=clean_counts, recipients=tuple(recipients), payload_hash=payload_hash,
            policy_hash=policy_hash, prev_hash=prev, entry_hash="", signature="")
        entry_hash = draft.compute_hash()
        signature = self.signer.sign(bytes.fromhex(entry_hash)).hex()
        return replace(draft, entry_hash=entry_hash, signature=signature)

    def _insert(self, entries: Sequence[LedgerEntry]) -> None:
        insert_rows(self.con, [entry_row(e) for e in entries], self.owner)

    def entries(self) -> list[LedgerEntry]:
        return read_entries(self.con)

    def head(self) -> str:
        """Hash of the last entry: publish or keep it so a later check (``audit verify
        --expect-head``) can tell if the ledger was cut short at the end."""
        return _next(self.con)[1]


def next_position(con: duckdb.DuckDBPyConnection) -> tuple[int, str]:
    """(seq, prev_hash) of the entry to append: after the last stored one. ``max(seq)``
    then a point read, not a sort of the whole table (a busy service appends often)."""
    last = con.execute("SELECT seq, entry_hash FROM ledger "
                       "WHERE seq = (SELECT max(seq) FROM ledger) LIMIT 1").fetchall()
    return (last[0][0] + 1, last[0][1]) if last else (1, GENESIS)


_next = next_position


def entry_row(entry: LedgerEntry) -> list[Any]:
    """An entry as the table stores it, in ``LEDGER_COLUMNS`` order (counts as canonical
    JSON text, recipients as a list)."""
    row = [getattr(entry, c) for c in _COLUMNS]
    row[_COUNTS] = canonical_json(entry.counts).decode()
    row[_RECIPIENTS] = list(entry.recipients)
    return row


def insert_rows(con: duckdb.DuckDBPyConnection, rows: Sequence[Sequence[Any]],
                owner: str) -> None:
    """One INSERT of stored-form rows in order (``entry_row``; a journal's records): a few
    as bound values; a batch as one Arrow table, which DuckDB takes in about half the CPU
    of 18 bound parameters a row. The chain index refuses a second entry after one
    (``LedgerForked``: nothing written)."""
    if not rows:
        return
    try:
        if len(rows) >= _ARROW_ROWS:
            _insert_arrow(con, rows)
        else:
            values = ", ".join(f"({', '.join('?' * len(_COLUMNS))})" for _ in rows)
            con.execute(f"INSERT INTO ledger ({', '.join(_COLUMNS)}) VALUES {values}",
                        [v for row in rows for v in row])
    except duckdb.ConstraintException:
        raise LedgerForked(
            f"ledger of {owner}: another writer appended after entry seq "
            f"{rows[0][0] - 1} at the same time; this change was not recorded "
            "(try again)") from None


def _insert_arrow(con: duckdb.DuckDBPyConnection, rows: Sequence[Sequence[Any]]) -> None:
    import pyarrow as pa  # only a batch needs it (keeps `crossforce --help` light)

    columns = list(zip(*rows, strict=True))
    types = {"at_utc": pa.timestamp("us"), "recipients": pa.list_(pa.string()),
             "seq": pa.int64(), "version": pa.int32()}
    # DuckDB finds ``ledger_batch`` among this frame's variables (replacement scan)
    ledger_batch = pa.table({name: pa.array(values, types.get(name, pa.string()))  # noqa: F841
                             for name, values in zip(_COLUMNS, columns, strict=True)})
    con.execute(f"INSERT INTO ledger ({', '.join(_COLUMNS)}) SELECT * FROM ledger_batch")


def read_entries(con: duckdb.DuckDBPyConnection) -> list[LedgerEntry]:
    rows = con.execute(f"SELECT {', '.join(_COLUMNS)} FROM ledger ORDER BY seq").fetchall()
    return [LedgerEntry.from_row(r) for r in rows]


# --------------------------------------------------------------------------- verify

ProblemKind = Literal["changed", "bad_signature", "removed", "reordered", "inserted",
                      "unmatched", "truncated"]


@dataclass(frozen=True)
class LedgerProblem:
    kind: ProblemKind
    seq: int | None
    entry_id: str | None
    detail: str

    def __str__(self) -> str:
        where = f"entry seq {self.seq} (id {self.entry_id})" if self.seq is not None \
            else "ledger"
        return f"{self.kind}: {where}: {self.detail}"


@dataclass
class VerifyReport:
    """Outcome of checking one ledger: ``ok`` only if no problem was found."""

    entries: int
    public_key_fingerprint: str
    head: str  # hash of the last entry: compare with an earlier report to catch truncation
    problems: list[LedgerProblem] = field(default_factory=list)
    actions: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def kinds(self) -> set[str]:
        return {p.kind for p in self.problems}


def verify_ledger(con: duckdb.DuckDBPyConnection, public_key: bytes) -> VerifyReport:
    """Check the ``ledger`` table's hashes, signatures and chain; name every problem."""
    exists = con.execute("SELECT count(*) FROM information_schema.tables "
                         "WHERE table_name = 'ledger'").fetchone()
    if not exists or not exists[0]:
        return VerifyReport(0, fingerprint(public_key), GENESIS,
                            [LedgerProblem("removed", None, None, "no ledger table")])
    return verify_entries(read_entries(con), public_key)


def verify_entries(entries: Sequence[LedgerEntry], public_key: bytes) -> VerifyReport:
    """Diagnose a list of entries in storage order (see module docstring)."""
    verifier = Verifier(public_key)
    if not entries:  # every ledger starts with its genesis entry: none left means deleted
        return VerifyReport(0, verifier.fingerprint, GENESIS, [LedgerProblem(
            "removed", None, None, "the ledger has no entry, not even the genesis entry "
            "written when it was created: every entry was deleted")])
    problems: dict[int, LedgerProblem] = {}  # index -> first problem found for it
    chain_problems: list[LedgerProblem] = []

    def flag(i: int, kind: ProblemKind, detail: str) -> None:
        e = entries[i]
        problems.setdefault(i, LedgerProblem(kind, e.seq, e.entry_id, detail))

    intact = [e.compute_hash() == e.entry_hash for e in entries]
    signed = []
    for e in entries:
        try:
            verifier.verify(bytes.fromhex(e.entry_hash), bytes.fromhex(e.signature))
            signed.append(True)
        except (BadSignature, ValueError):
            signed.append(False)
    referenced = Counter(e.prev_hash for e in entries)
    first_index: dict[str, int] = {}
    for i, e in enumerate(entries):
        first_index.setdefault(e.entry_hash, i)

    # 1. each entry on its own
    for i, e in enumerate(entries):
        if not intact[i]:
            flag(i, "changed", "content no longer matches its hash (altered after signing)")
        elif first_index[e.entry_hash] != i:
            flag(i, "inserted", f"duplicate of entry seq {entries[first_index[e.entry_hash]].seq}")
        elif not signed[i]:
            last = i == len(entries) - 1
            if referenced[e.entry_hash] == 0 and not last:
                flag(i, "inserted", "not signed by the ledger key and no entry follows it "
                     "in the chain")
            else:
                flag(i, "bad_signature", f"signature does not verify under key "
                     f"{verifier.fingerprint}" + (" (or inserted at the end)" if last else ""))

    # 2. the chain, over entries not already shown to be inserted
    chain = [i for i in range(len(entries))
             if not (i in problems and problems[i].kind == "inserted")]
    position = {entries[i].entry_hash: n for n, i in enumerate(chain)}
    for n, i in enumerate(chain):
        e = entries[i]
        if not intact[i]:
            continue  # its prev_hash cannot be trusted; already reported as changed
        expected = GENESIS if n == 0 else entries[chain[n - 1]].entry_hash
        if e.prev_hash == expected:
            continue
        before = position.get(e.prev_hash)
        if e.prev_hash == GENESIS or (before is not None and before > n):
            flag(i, "reordered", "stored before the entry it follows in the chain")
        elif before is not None:  # its predecessor is further back: it and those between moved
            for m in (*range(before + 1, n), n):
                flag(chain[m], "reordered", "stored out of chain order")
        elif n > 0 and not intact[chain[n - 1]]:
            continue  # predecessor's own hash was altered; already reported
        else:
            prev_seq = entries[chain[n - 1]].seq if n > 0 else None
            where = (f"between seq {prev_seq} and seq {e.seq}" if prev_seq is not None
                     else f"before seq {e.seq}")
            chain_problems.append(LedgerProblem(
                "removed", e.seq, e.entry_id,
                f"the entry it follows is missing: removed {where}"))

    found = [problems[i] for i in sorted(problems)] + chain_problems
    found.sort(key=lambda p: (p.seq if p.seq is not None else -1))
    return VerifyReport(
        entries=len(entries), public_key_fingerprint=verifier.fingerprint,
        head=entries[-1].entry_hash if entries else GENESIS, problems=found,
        actions=dict(Counter(e.action for e in entries)))


def match_flows(node: Sequence[LedgerEntry], coordinator: Sequence[LedgerEntry]
                ) -> list[LedgerProblem]:
    """Match the flows between a node and the coordinator by payload content hash, in
    both directions (DESIGN.md §1.6):

    - every payload the node disclosed was collected by the coordinator, and every payload
      the coordinator collected from that force is one the node disclosed;
    - every hits batch the coordinator disclosed to that force was collected by the node,
      and every hits batch the node collected (purpose ``hits``) is one the coordinator
      disclosed to it (or wrote for it to a file, a consultation with the same hash).
      (A node's other collections — its own file loads — have no counterpart.)
    """
    forces = {e.owner for e in node}
    sent = {e.payload_hash: e for e in node if e.action == "disclosure" and e.payload_hash}
    node_got = {e.payload_hash for e in node if e.action == "collection" and e.payload_hash}
    node_hits = {e.payload_hash: e for e in node if e.action == "collection"
                 and e.purpose == "hits" and e.payload_hash}
    hits_given = {e.payload_hash for e in coordinator
                  if e.action in ("disclosure", "consultation") and e.payload_hash
                  and e.force in forces}
    received = {e.payload_hash: e for e in coordinator if e.action == "collection"
                and e.payload_hash and e.force in forces}
    hits_sent = {e.payload_hash: e for e in coordinator if e.action == "disclosure"
                 and e.payload_hash and e.force in forces}
    problems = [LedgerProblem("unmatched", e.seq, e.entry_id,
                              f"node disclosed payload {h[:16]}… but the coordinator's "
                              "ledger has no receipt for it")
                for h, e in sent.items() if h not in received]
    problems += [LedgerProblem("unmatched", e.seq, e.entry_id,
                               f"coordinator logged payload {h[:16]}… from {e.force}, which "
                               "the node's ledger never disclosed")
                 for h, e in received.items() if h not in sent]
    problems += [LedgerProblem("unmatched", e.seq, e.entry_id,
                               f"coordinator disclosed hits {h[:16]}… to {e.force}, which "
                               "the node's ledger never collected")
                 for h, e in hits_sent.items() if h not in node_got]
    problems += [LedgerProblem("unmatched", e.seq, e.entry_id,
                               f"node collected hits {h[:16]}… which the coordinator's "
                               "ledger never disclosed to it")
                 for h, e in node_hits.items() if h not in hits_given]
    return problems
