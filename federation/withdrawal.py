"""A force's withdrawal and the coordinator's acknowledgement, as signed documents.

A force may withdraw all it sent, or what it sent for one purpose (DESIGN.md §7). The node
signs a *withdrawal* (``crossforce node withdraw``); the coordinator checks it against the
force's registered key, erases every row of that force for those purposes, re-derives
entities and networks without them, writes an ``erasure`` entry (counts only) and signs an
*acknowledgement*, which the node records. Both documents carry their signer's ledger head
(federation/checkpoint.py), and both ledgers log the withdrawal under one hash, so
``audit verify`` can match request, erasure and acknowledgement.

Wire form: one canonical JSON object (sorted keys, no spaces) whose ``signature`` is
Ed25519 over the same object without it. Content never travels: ids, purposes, counts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from federation.checkpoint import Checkpoint
from federation.errors import CrossforceError
from federation.keys import BadSignature, Signer, Verifier
from federation.ledger import canonical_json

#: purposes of a withdrawal of everything the force sent
ALL_PURPOSES = ("*",)

D = TypeVar("D", bound="SignedDocument")


class BadDocument(CrossforceError):
    """A withdrawal or acknowledgement that cannot be read, or is not signed right."""


@dataclass(frozen=True)
class SignedDocument:
    """Canonical JSON with an Ed25519 signature over everything but the signature."""

    VERSION: ClassVar[str] = ""
    KIND: ClassVar[str] = "document"
    if TYPE_CHECKING:  # every document has these fields (declared by each subclass)
        ledger_head: dict[str, Any]
        signature: str

    def unsigned(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("signature")
        return {"version": self.VERSION, **d}

    def to_bytes(self) -> bytes:
        return canonical_json({**self.unsigned(), "signature": self.signature})

    @property
    def hash(self) -> str:
        """SHA-256 of the signed document: the payload hash both ledgers record."""
        return hashlib.sha256(self.to_bytes()).hexdigest()

    def verifies(self, public_key: bytes) -> bool:
        try:
            Verifier(public_key).verify(canonical_json(self.unsigned()),
                                        bytes.fromhex(self.signature))
        except (BadSignature, ValueError):
            return False
        return True

    @property
    def head(self) -> Checkpoint:
        return Checkpoint.from_dict(self.ledger_head, self.KIND)

    @classmethod
    def signed(cls: type[D], signer: Signer, **values: Any) -> D:
        draft = cls(**values, signer=signer.fingerprint, signature="")
        return cls(**{**asdict(draft),
                      "signature": signer.sign(canonical_json(draft.unsigned())).hex()})

    @classmethod
    def from_bytes(cls: type[D], data: bytes, source: str) -> D:
        try:
            raw = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            raise BadDocument(f"{source}: not a {cls.KIND} (not JSON)") from None
        if not isinstance(raw, dict) or raw.get("version") != cls.VERSION:
            raise BadDocument(f"{source}: not a {cls.KIND} ({cls.VERSION})")
        names = [f.name for f in fields(cls)]
        missing = [n for n in names if n not in raw]
        if missing:
            raise BadDocument(f"{source}: {cls.KIND} lacks {', '.join(missing)}")
        doc = cls(**{n: raw[n] for n in names})
        doc._check(source)
        return doc

    def _check(self, source: str) -> None:
        Checkpoint.from_dict(self.ledger_head, f"{source}: ledger head")


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Withdrawal(SignedDocument):
    """``force`` asks the coordinator to erase all it sent for ``purposes`` (``*``: all)."""

    VERSION: ClassVar[str] = "crossforce.withdrawal/1"
    KIND: ClassVar[str] = "withdrawal"

    withdrawal_id: str
    force: str
    purposes: list[str]
    created_at: str
    ledger_head: dict[str, Any]
    signer: str
    signature: str

    @classmethod
    def make(cls, force: str, purposes: Sequence[str], signer: Signer,
             head: Checkpoint) -> Withdrawal:
        return cls.signed(signer, withdrawal_id=uuid.uuid4().hex, force=force,
                          purposes=sorted(purposes) or list(ALL_PURPOSES),
                          created_at=_now(), ledger_head=head.as_dict())

    @property
    def everything(self) -> bool:
        return tuple(self.purposes) == ALL_PURPOSES

    def describe(self) -> str:
        return "every purpose" if self.everything else ", ".join(self.purposes)

    def _check(self, source: str) -> None:
        super()._check(source)
        if not (isinstance(self.purposes, list) and self.purposes
                and all(isinstance(p, str) and p for p in self.purposes)):
            raise BadDocument(f"{source}: purposes must be a non-empty list of codes")


@dataclass(frozen=True)
class Acknowledgement(SignedDocument):
    """The coordinator erased ``erased`` rows for withdrawal ``withdrawal_id``."""

    VERSION: ClassVar[str] = "crossforce.withdrawal-ack/1"
    KIND: ClassVar[str] = "withdrawal acknowledgement"

    withdrawal_id: str
    force: str
    withdrawal_hash: str
    erased: dict[str, int]
    erasure_entry: str          # entry_hash of the coordinator's erasure entry
    acknowledged_at: str
    ledger_head: dict[str, Any]
    signer: str
    signature: str

    @classmethod
    def make(cls, withdrawal: Withdrawal, erased: Mapping[str, int], erasure_entry: str,
             signer: Signer, head: Checkpoint) -> Acknowledgement:
        return cls.signed(signer, withdrawal_id=withdrawal.withdrawal_id,
                          force=withdrawal.force, withdrawal_hash=withdrawal.hash,
                          erased=dict(erased), erasure_entry=erasure_entry,
                          acknowledged_at=_now(), ledger_head=head.as_dict())
