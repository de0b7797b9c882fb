"""Signed ledger heads ("checkpoints"), kept by the OTHER side, so a ledger cut short at
its end is caught.

A hash chain shows a change, a removal in the middle or a reordering, but not the last
entries dropped: what is left is still a valid chain. So each side signs its ledger's head
(how many entries, the last entry's hash) and hands it to the other, which records it in
its own ``ledger_anchors`` table: a node puts its head in every submission's header, the
coordinator puts its head in every hits envelope (and in a withdrawal acknowledgement),
and ``crossforce node checkpoint`` / ``crossforce coordinator checkpoint`` exchange them
at any time (the demo does at its end). ``audit verify`` then checks every ledger against
every head of it the other side holds (:func:`check_anchors`).

Recording a head writes no ledger entry, on purpose: an entry written on receipt would be
a new tail nobody had anchored yet.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import duckdb

from federation.errors import CrossforceError
from federation.keys import BadSignature, Signer, Verifier
from federation.ledger import GENESIS, LedgerEntry, LedgerProblem, canonical_json

HEAD_VERSION = "crossforce.ledger-head/1"

#: the table both stores keep other ledgers' heads in (node and coordinator migrations)
ANCHORS_DDL = """
CREATE TABLE ledger_anchors (
    owner       VARCHAR NOT NULL,   -- whose ledger the head is of (force or 'coordinator')
    entries     BIGINT  NOT NULL,   -- entries in that ledger when its owner signed
    head        VARCHAR NOT NULL,   -- entry_hash of its last entry then
    signed_at   VARCHAR NOT NULL,   -- UTC, as the owner stamped it
    signer      VARCHAR NOT NULL,   -- fingerprint of the owner's signing key
    signature   VARCHAR NOT NULL,   -- Ed25519 over the canonical head, hex
    carried_by  VARCHAR NOT NULL,   -- payload id, hits batch, withdrawal id or 'checkpoint'
    recorded_at TIMESTAMP NOT NULL
)"""


class BadCheckpoint(CrossforceError):
    """A ledger head that cannot be read."""


@dataclass(frozen=True)
class Checkpoint:
    """``owner``'s ledger had ``entries`` entries ending with ``head`` at ``signed_at``."""

    owner: str
    entries: int
    head: str
    signed_at: str
    signer: str
    signature: str

    def signed_bytes(self) -> bytes:
        return canonical_json({"version": HEAD_VERSION, "owner": self.owner,
                               "entries": self.entries, "head": self.head,
                               "signed_at": self.signed_at, "signer": self.signer})

    def verifies(self, public_key: bytes) -> bool:
        try:
            Verifier(public_key).verify(self.signed_bytes(), bytes.fromhex(self.signature))
        except (BadSignature, ValueError):
            return False
        return True

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Any, source: str = "ledger head") -> Checkpoint:
        """Read a head from JSON; ``BadCheckpoint`` naming what is wrong."""
        if not isinstance(raw, Mapping):
            raise BadCheckpoint(f"{source}: not a ledger head (expected a JSON object)")
        try:
            cp = cls(**{k: raw[k] for k in cls.__dataclass_fields__})
        except KeyError as missing:
            raise BadCheckpoint(f"{source}: ledger head lacks {missing}") from None
        if not (isinstance(cp.entries, int) and cp.entries >= 1 and isinstance(cp.head, str)
                and len(cp.head) == 64 and all(isinstance(v, str) for v in
                                               (cp.owner, cp.signed_at, cp.signer,
                                                cp.signature))):
            raise BadCheckpoint(f"{source}: ledger head fields have the wrong types")
        return cp


def checkpoint(con: duckdb.DuckDBPyConnection, signer: Signer, owner: str) -> Checkpoint:
    """Sign the head of the ``ledger`` table on ``con`` (read inside the caller's
    transaction, so it is the head the caller's other writes sit on)."""
    ((entries, head),) = con.execute(
        "SELECT count(*), arg_max(entry_hash, seq) FROM ledger").fetchall()
    draft = Checkpoint(owner, int(entries), head or GENESIS,
                       dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                       signer.fingerprint, "")
    return Checkpoint(**{**asdict(draft),
                         "signature": signer.sign(draft.signed_bytes()).hex()})


def record_anchor(con: duckdb.DuckDBPyConnection, cp: Checkpoint, carried_by: str) -> None:
    """Keep another ledger's head (no ledger entry: see the module docstring)."""
    con.execute("INSERT INTO ledger_anchors VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [cp.owner, cp.entries, cp.head, cp.signed_at, cp.signer, cp.signature,
                 carried_by, dt.datetime.now(dt.UTC).replace(tzinfo=None)])


def read_anchors(con: duckdb.DuckDBPyConnection, owner: str | None = None
                 ) -> list[tuple[Checkpoint, str]]:
    """(head, what carried it) of every anchor held, or of ``owner``'s; [] if none."""
    exists = con.execute("SELECT count(*) FROM information_schema.tables "
                         "WHERE table_name = 'ledger_anchors'").fetchone()
    if not exists or not exists[0]:
        return []
    rows = con.execute(
        "SELECT owner, entries, head, signed_at, signer, signature, carried_by "
        "FROM ledger_anchors WHERE $owner IS NULL OR owner = $owner "
        "ORDER BY entries, recorded_at", {"owner": owner}).fetchall()
    return [(Checkpoint(*r[:6]), r[6]) for r in rows]


def write_checkpoint(path: Path, cp: Checkpoint) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(cp.as_dict(), indent=1) + "\n")


def load_checkpoint(path: Path) -> Checkpoint:
    try:
        raw = json.loads(Path(path).read_text())
    except OSError as exc:
        raise BadCheckpoint(f"{path}: cannot read ledger head ({exc.strerror})") from None
    except ValueError:
        raise BadCheckpoint(f"{path}: not JSON; give a file written by `checkpoint "
                            "--out`") from None
    return Checkpoint.from_dict(raw, str(path))


def check_anchors(owner: str, entries: Sequence[LedgerEntry],
                  anchors: Iterable[tuple[Checkpoint, str]], public_key: bytes,
                  holder: str) -> list[LedgerProblem]:
    """Check ``owner``'s ledger against every head of it ``holder`` recorded.

    A head whose signature does not verify is named (``bad_signature``); the heads that
    are no longer in the ledger are named once, by the latest of them (``truncated`` when
    the ledger is now shorter, else ``changed``: the entry was rewritten); a head found at
    another position means entries before it were removed or inserted (``removed``)."""
    position = {e.entry_hash: i for i, e in enumerate(entries)}
    problems: list[LedgerProblem] = []
    missing: list[tuple[Checkpoint, str]] = []
    for cp, carried in anchors:
        if not cp.verifies(public_key):
            problems.append(LedgerProblem(
                "bad_signature", None, None,
                f"{holder} holds a head of {owner}'s ledger (carried by {carried}) that is "
                f"not signed by {owner}'s key"))
            continue
        at = position.get(cp.head)
        if at is None:
            missing.append((cp, carried))
        elif at + 1 != cp.entries:
            e = entries[at]
            problems.append(LedgerProblem(
                "removed", e.seq, e.entry_id,
                f"{owner} signed this entry as its ledger's entry {cp.entries} "
                f"({cp.signed_at}, head recorded by {holder} with {carried}); it is now "
                f"entry {at + 1}: entries before it were removed or inserted"))
    if missing:
        cp, carried = max(missing, key=lambda m: m[0].entries)
        if len(entries) < cp.entries:
            problems.append(LedgerProblem(
                "truncated", None, None,
                f"{owner}'s ledger was cut short: it has {len(entries)} entries, but "
                f"{owner} signed a head of {cp.entries} entries ({cp.head[:16]}…) at "
                f"{cp.signed_at}, recorded by {holder} with {carried}; at least "
                f"{cp.entries - len(entries)} entries are missing at the end"))
        else:
            problems.append(LedgerProblem(
                "changed", None, None,
                f"{owner} signed entry {cp.entries} of its ledger as {cp.head[:16]}… at "
                f"{cp.signed_at} (recorded by {holder} with {carried}); no entry has that "
                "hash now: the ledger was rewritten from there"))
    return problems
