"""The one wire format for everything a node sends: a signed, content-hashed Submission
of one ShareSet.

Layout (all integers big-endian)::

    b"CFSUB1" | u32 header length | header (canonical JSON) | body | Ed25519 signature (64)

The body is the ShareSet's four tables as Arrow IPC streams (each prefixed by a u64
length), optionally AES-256-GCM encrypted to the coordinator. The header carries the
schema version, payload id, created-at (UTC), force, purpose, key epoch, policy hash,
row counts, the SHA-256 of the *plaintext* body (so a node's disclosure entry and the
coordinator's receipt entry carry the same hash, encrypted or not) and, if encrypted, the
key-wrap parameters. The signature covers magic, length and header, and through the content
hash the body too; a relay can check who sent a payload without being able to read it.

Encryption (optional): ECIES with X25519 — a fresh ephemeral key per payload, ECDH with the
coordinator's published X25519 key, HKDF-SHA256 to a 256-bit AES-GCM key; the payload id
and content hash are the GCM associated data. X25519 over RSA-OAEP: 32-byte keys, no
padding pitfalls, and the same curve family as the Ed25519 signing keys.

The coordinator side (``SubmissionVerifier``) takes public keys and its own decryption key
only; nothing here accepts a LinkageSecret.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import struct
import threading
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import duckdb
import pyarrow as pa
import pyarrow.ipc as ipc
from Crypto.Cipher import AES
from Crypto.Hash import SHA256
from Crypto.Protocol.DH import import_x25519_public_key, key_agreement
from Crypto.Protocol.KDF import HKDF
from Crypto.PublicKey import ECC

from federation.checkpoint import BadCheckpoint, Checkpoint
from federation.errors import CrossforceError
from federation.keys import BadSignature, EncryptionKey, Signer, Verifier, fingerprint

__all__ = [
    "AGGREGATES_SCHEMA",
    "ITEMS_SCHEMA",
    "LINKS_SCHEMA",
    "SCHEMA_VERSION",
    "TOKENS_SCHEMA",
    "CONTENT_REJECTIONS",
    "CorruptPayload",
    "DisclosureBreach",
    "DuckDBReplayStore",
    "MemoryReplayStore",
    "OffLayout",
    "OldEpoch",
    "OversizePayload",
    "PayloadBadSignature",
    "PayloadRejected",
    "RawToken",
    "RawValue",
    "ReplayedPayload",
    "ShareSet",
    "StalePayload",
    "Submission",
    "SubmissionHeader",
    "SubmissionVerifier",
    "TruncatedPayload",
    "UnknownColumn",
    "UnknownSigner",
    "UnknownValue",
    "VerifiedSubmission",
    "WrongSchemaVersion",
]

SCHEMA_VERSION = 1
MAGIC = b"CFSUB1"
SIGNATURE_BYTES = 64
MAX_HEADER_BYTES = 64 * 1024
DEFAULT_MAX_BYTES = 512 * 1024 * 1024
ENCRYPTION_ALG = "X25519-HKDF-SHA256/AES-256-GCM"
REF = pa.binary(16)

#: Required columns of each ShareSet table; items may carry further policy-allowed columns.
ITEMS_SCHEMA = pa.schema([("ref", REF), ("kind", pa.string()), ("role", pa.string())])
TOKENS_SCHEMA = pa.schema([("ref", REF), ("token_kind", pa.string()), ("token", REF)])
LINKS_SCHEMA = pa.schema([("ref_a", REF), ("ref_b", REF), ("kind", pa.string()),
                          ("weight", pa.int32())])
AGGREGATES_SCHEMA = pa.schema([("name", pa.string()), ("cell", pa.string()),
                               ("count", pa.int64())])
_TABLES = {"items": ITEMS_SCHEMA, "tokens": TOKENS_SCHEMA, "links": LINKS_SCHEMA,
           "aggregates": AGGREGATES_SCHEMA}
_ITEM_KINDS = frozenset({"person", "phone", "email", "handle", "vrm", "imei"})
_LINK_KINDS = frozenset({"person_identifier", "co_suspect", "communication",
                         "shared_address", "shared_vehicle"})


# --------------------------------------------------------------------------- errors

class PayloadRejected(CrossforceError):
    """A submission the coordinator refuses; each reason has its own subclass."""

    reason = "rejected"


class OversizePayload(PayloadRejected):
    reason = "oversize"


class TruncatedPayload(PayloadRejected):
    reason = "truncated"


class CorruptPayload(PayloadRejected):
    reason = "corrupt"


class WrongSchemaVersion(PayloadRejected):
    reason = "wrong_schema_version"


class UnknownSigner(PayloadRejected):
    reason = "unknown_signer"


class PayloadBadSignature(PayloadRejected):
    reason = "bad_signature"


class OldEpoch(PayloadRejected):
    reason = "old_epoch"


class ReplayedPayload(PayloadRejected):
    reason = "replayed"


class StalePayload(PayloadRejected):
    """Created before the payload it would supersede: an old share set never replaces a
    newer one."""

    reason = "stale"


# What a payload *carries* (``policies.payload_rules``, the same rules as the node's gate):
# one class per rule, so a refusal says which rule it broke.

class UnknownColumn(PayloadRejected):
    """A column outside the closed schema (e.g. ``full_name`` among the item columns)."""

    reason = "unknown_column"


class RawToken(PayloadRejected):
    """A ref or token that is not 16 random-looking bytes (a raw value in a binary column)."""

    reason = "raw_token"


class RawValue(PayloadRejected):
    """A string that looks like raw personal data (phone, date, postcode, name, ...)."""

    reason = "raw_value"


class UnknownValue(PayloadRejected):
    """A value outside its closed vocabulary (kind, role, token kind, attribute code)."""

    reason = "unknown_value"


class OffLayout(PayloadRejected):
    """An aggregate cell that is not a cell of the fixed national layout."""

    reason = "off_layout"


class DisclosureBreach(PayloadRejected):
    """An aggregate count that breaks the declared disclosure rule (not suppressed, and
    below the threshold or not a multiple of the rounding base)."""

    reason = "disclosure"


#: rule reason -> the class a refusal for it raises
CONTENT_REJECTIONS: dict[str, type[PayloadRejected]] = {
    c.reason: c for c in (UnknownColumn, RawToken, RawValue, UnknownValue, OffLayout,
                          DisclosureBreach)}


# --------------------------------------------------------------------------- share set

def empty_table(schema: pa.Schema) -> pa.Table:
    return schema.empty_table()


@dataclass(frozen=True)
class ShareSet:
    """What a node proposes to send for one purpose and epoch: refs, tokens, links,
    aggregates — opaque bytes and counts only.

    ``disclosure`` is the rule the aggregates were released under, (threshold, rounding),
    set by the policy gate and declared in the signed header so the coordinator can check
    every count against it (None: not declared; the coordinator then applies the national
    default, 10 and 5).
    """

    force: str
    purpose: str
    epoch: int
    policy_hash: str
    items: pa.Table = field(default_factory=lambda: empty_table(ITEMS_SCHEMA))
    tokens: pa.Table = field(default_factory=lambda: empty_table(TOKENS_SCHEMA))
    links: pa.Table = field(default_factory=lambda: empty_table(LINKS_SCHEMA))
    aggregates: pa.Table = field(default_factory=lambda: empty_table(AGGREGATES_SCHEMA))
    disclosure: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.disclosure is not None and not (
                isinstance(self.disclosure, tuple) and len(self.disclosure) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1
                        for v in self.disclosure)):
            raise ValueError("ShareSet.disclosure must be (threshold, rounding), ints ≥ 1, "
                             f"got {self.disclosure!r}")
        for name in ("force", "purpose", "policy_hash"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name).strip():
                raise ValueError(f"ShareSet.{name} must be a non-empty string")
        if not isinstance(self.epoch, int) or self.epoch < 1:
            raise ValueError(f"ShareSet.epoch must be an int ≥ 1, got {self.epoch!r}")
        for name, schema in _TABLES.items():
            table = getattr(self, name)
            if not isinstance(table, pa.Table):
                raise ValueError(f"ShareSet.{name} must be a pyarrow.Table")
            for f in schema:
                if f.name not in table.column_names:
                    raise ValueError(f"ShareSet.{name} lacks column {f.name!r} ({f.type})")
                got = table.schema.field(f.name).type
                if got != f.type:
                    raise ValueError(f"ShareSet.{name}.{f.name} is {got}, expected {f.type}")
            if name != "items" and table.num_columns != len(schema):
                extra = sorted(set(table.column_names) - set(schema.names))
                raise ValueError(f"ShareSet.{name} has unexpected columns {extra}")
        _check_values(self.items, "kind", _ITEM_KINDS, "items")
        _check_values(self.links, "kind", _LINK_KINDS, "links")

    def counts(self) -> dict[str, int]:
        return {name: getattr(self, name).num_rows for name in _TABLES}

    def to_ipc(self) -> bytes:
        """The four tables as length-prefixed Arrow IPC streams (the plaintext body)."""
        out = io.BytesIO()
        options = ipc.IpcWriteOptions(compression="zstd")
        for name in _TABLES:
            sink = io.BytesIO()
            table = getattr(self, name)
            with ipc.new_stream(sink, table.schema, options=options) as writer:
                writer.write_table(table)
            data = sink.getvalue()
            out.write(struct.pack(">Q", len(data)))
            out.write(data)
        return out.getvalue()

    @classmethod
    def from_ipc(cls, body: bytes, header: SubmissionHeader) -> ShareSet:
        tables: dict[str, pa.Table] = {}
        pos = 0
        for name in _TABLES:
            if pos + 8 > len(body):
                raise TruncatedPayload(f"payload {header.payload_id}: body ends before the "
                                       f"{name} table")
            (n,) = struct.unpack_from(">Q", body, pos)
            pos += 8
            if pos + n > len(body):
                raise TruncatedPayload(f"payload {header.payload_id}: {name} table is cut "
                                       f"short ({len(body) - pos} of {n} bytes)")
            try:
                tables[name] = ipc.open_stream(pa.py_buffer(body[pos:pos + n])).read_all()
            except (pa.ArrowInvalid, pa.ArrowException, OSError) as exc:
                raise CorruptPayload(f"payload {header.payload_id}: {name} table is not "
                                     f"valid Arrow IPC ({exc})") from None
            pos += n
        if pos != len(body):
            raise CorruptPayload(f"payload {header.payload_id}: {len(body) - pos} unexpected "
                                 "bytes after the last table")
        rule = header.disclosure
        try:
            return cls(header.force, header.purpose, header.epoch, header.policy_hash, **tables,
                       disclosure=None if rule is None else (rule["threshold"],
                                                             rule["rounding"]))
        except ValueError as exc:
            raise CorruptPayload(f"payload {header.payload_id}: {exc}") from None


def _check_values(table: pa.Table, column: str, allowed: frozenset[str], name: str) -> None:
    if table.num_rows == 0:
        return
    found = set(table.column(column).unique().to_pylist()) - allowed
    if found:
        raise ValueError(f"ShareSet.{name}.{column} has unknown values {sorted(map(str, found))}"
                         f"; allowed: {', '.join(sorted(allowed))}")


# --------------------------------------------------------------------------- submission

@dataclass(frozen=True)
class SubmissionHeader:
    schema_version: int
    payload_id: str
    created_at: str  # ISO 8601 UTC, "Z"
    force: str
    purpose: str
    epoch: int
    policy_hash: str
    content_hash: str  # SHA-256 hex of the plaintext body
    body_bytes: int  # length of the body on the wire (ciphertext + tag if encrypted)
    counts: dict[str, int]
    signer: str  # fingerprint of the signing key
    encryption: dict[str, str] | None = None
    #: the disclosure rule the aggregates were released under: {"threshold", "rounding"}
    disclosure: dict[str, int] | None = None
    #: days the coordinator may keep it (the force's policy [retention]); None: undeclared
    retention_days: int | None = None
    #: the sender's signed ledger head when sealed (federation/checkpoint.py): kept by the
    #: coordinator so a node ledger cut short at its end is caught
    ledger_head: dict[str, Any] | None = None

    def to_bytes(self) -> bytes:
        fields = dict(self.__dict__)
        for optional in ("disclosure", "retention_days", "ledger_head"):
            if fields[optional] is None:  # absent, so payloads without it keep their bytes
                del fields[optional]
        return json.dumps(fields, sort_keys=True, separators=(",", ":"),
                          ensure_ascii=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> SubmissionHeader:
        try:
            raw = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise CorruptPayload(f"payload header is not JSON ({exc})") from None
        if not isinstance(raw, dict):
            raise CorruptPayload("payload header is not a JSON object")
        version = raw.get("schema_version")
        if version != SCHEMA_VERSION:
            raise WrongSchemaVersion(
                f"payload {raw.get('payload_id', '?')} has schema version {version!r}; this "
                f"coordinator reads version {SCHEMA_VERSION} — upgrade the older side")
        try:
            header = cls(**raw)
        except TypeError as exc:
            raise CorruptPayload(f"payload header fields are wrong ({exc})") from None
        if not (isinstance(header.epoch, int) and isinstance(header.force, str)
                and isinstance(header.body_bytes, int) and header.body_bytes >= 0):
            raise CorruptPayload(f"payload {header.payload_id}: header field types are wrong")
        rule = header.disclosure
        if rule is not None and not (
                isinstance(rule, dict) and set(rule) == {"threshold", "rounding"}
                and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1
                        for v in rule.values())):
            raise CorruptPayload(f"payload {header.payload_id}: header disclosure rule is not "
                                 '{"threshold": int >= 1, "rounding": int >= 1}')
        days = header.retention_days
        if days is not None and (isinstance(days, bool) or not isinstance(days, int)
                                 or days < 1):
            raise CorruptPayload(f"payload {header.payload_id}: retention_days is not a "
                                 "whole number of days >= 1")
        if header.ledger_head is not None:
            try:
                head = Checkpoint.from_dict(header.ledger_head, f"payload {header.payload_id}")
            except BadCheckpoint as exc:
                raise CorruptPayload(str(exc)) from None
            if head.owner != header.force:
                raise CorruptPayload(f"payload {header.payload_id}: its ledger head is "
                                     f"{head.owner!r}'s, not {header.force!r}'s")
        return header


@dataclass(frozen=True)
class Submission:
    """A sealed ShareSet: header, body (plaintext or AES-GCM ciphertext), signature."""

    header: SubmissionHeader
    body: bytes
    signature: bytes

    @property
    def payload_id(self) -> str:
        return self.header.payload_id

    @property
    def content_hash(self) -> str:
        return self.header.content_hash

    @classmethod
    def seal(cls, share_set: ShareSet, signer: Signer, *, encrypt_to: bytes | None = None,
             payload_id: str | None = None, created_at: dt.datetime | None = None,
             retention_days: int | None = None, ledger_head: Checkpoint | None = None
             ) -> Submission:
        """Serialise, hash, optionally encrypt (to a raw X25519 public key), and sign;
        with the sender's retention period and signed ledger head in the header."""
        plain = share_set.to_ipc()
        content_hash = hashlib.sha256(plain).hexdigest()
        payload_id = payload_id or uuid.uuid4().hex
        created = (created_at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
        encryption, body = None, plain
        if encrypt_to is not None:
            encryption, body = _encrypt(plain, encrypt_to, payload_id, content_hash)
        header = SubmissionHeader(
            schema_version=SCHEMA_VERSION, payload_id=payload_id,
            created_at=created.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), force=share_set.force,
            purpose=share_set.purpose, epoch=share_set.epoch,
            policy_hash=share_set.policy_hash, content_hash=content_hash,
            body_bytes=len(body), counts=share_set.counts(), signer=signer.fingerprint,
            encryption=encryption,
            disclosure=None if share_set.disclosure is None else {
                "threshold": share_set.disclosure[0], "rounding": share_set.disclosure[1]},
            retention_days=retention_days,
            ledger_head=None if ledger_head is None else ledger_head.as_dict())
        hbytes = header.to_bytes()
        return cls(header, body, signer.sign(_signed_part(hbytes)))

    def to_bytes(self) -> bytes:
        hbytes = self.header.to_bytes()
        return _signed_part(hbytes) + self.body + self.signature

    @classmethod
    def from_bytes(cls, data: bytes) -> Submission:
        """Split the wire bytes; raises TruncatedPayload / CorruptPayload /
        WrongSchemaVersion. Does NOT check the signature (see SubmissionVerifier)."""
        if len(data) < len(MAGIC) + 4:
            raise TruncatedPayload(f"payload is {len(data)} bytes, too short to be one")
        if not data.startswith(MAGIC):
            if data[:5] == MAGIC[:5]:
                raise WrongSchemaVersion(f"payload format {data[:6]!r} is not {MAGIC!r}")
            raise CorruptPayload("not a crossforce payload (bad magic bytes)")
        (hlen,) = struct.unpack_from(">I", data, len(MAGIC))
        if hlen > MAX_HEADER_BYTES:
            raise CorruptPayload(f"payload header claims {hlen} bytes (max {MAX_HEADER_BYTES})")
        start = len(MAGIC) + 4
        if len(data) < start + hlen + SIGNATURE_BYTES:
            raise TruncatedPayload(f"payload is cut short: {len(data)} bytes, header alone "
                                   f"needs {start + hlen + SIGNATURE_BYTES}")
        header = SubmissionHeader.from_bytes(data[start:start + hlen])
        want = start + hlen + header.body_bytes + SIGNATURE_BYTES
        if len(data) < want:
            raise TruncatedPayload(f"payload {header.payload_id} is cut short: {len(data):,} "
                                   f"of {want:,} bytes arrived")
        if len(data) > want:
            raise CorruptPayload(f"payload {header.payload_id} has {len(data) - want:,} bytes "
                                 "more than its header declares")
        body = data[start + hlen:start + hlen + header.body_bytes]
        return cls(header, body, data[len(data) - SIGNATURE_BYTES:])

    @staticmethod
    def signed_bytes(data: bytes) -> bytes:
        """The wire bytes the signature covers: magic, header length, header."""
        (hlen,) = struct.unpack_from(">I", data, len(MAGIC))
        return data[:len(MAGIC) + 4 + hlen]

    def open(self, decryption_key: EncryptionKey | None = None) -> ShareSet:
        """Decrypt if needed, check the content hash, and decode the ShareSet."""
        plain = self.body
        if self.header.encryption is not None:
            if decryption_key is None:
                raise CorruptPayload(f"payload {self.payload_id} is encrypted and no "
                                     "decryption key was given")
            plain = _decrypt(self.body, self.header, decryption_key)
        if hashlib.sha256(plain).hexdigest() != self.header.content_hash:
            short = "truncated" if len(plain) < _declared_length(plain) else "altered"
            cls = TruncatedPayload if short == "truncated" else CorruptPayload
            raise cls(f"payload {self.payload_id}: body does not match its content hash "
                      f"({short} in transit)")
        return ShareSet.from_ipc(plain, self.header)


def _declared_length(body: bytes) -> int:
    """Length the body's own table prefixes claim (to tell truncation from alteration)."""
    pos = 0
    for _ in _TABLES:
        if pos + 8 > len(body):
            return pos + 8
        (n,) = struct.unpack_from(">Q", body, pos)
        pos += 8 + n
    return pos


def _signed_part(hbytes: bytes) -> bytes:
    return MAGIC + struct.pack(">I", len(hbytes)) + hbytes


def _wrap_key(shared_kdf_input: bytes) -> bytes:
    return HKDF(shared_kdf_input, 32, salt=b"crossforce/payload", hashmod=SHA256,
                context=ENCRYPTION_ALG.encode())


def _encrypt(plain: bytes, recipient_public: bytes, payload_id: str, content_hash: str
             ) -> tuple[dict[str, str], bytes]:
    recipient = import_x25519_public_key(recipient_public)
    ephemeral = ECC.generate(curve="Curve25519")
    key = key_agreement(eph_priv=ephemeral, static_pub=recipient, kdf=_wrap_key)
    cipher = AES.new(key, AES.MODE_GCM)
    cipher.update(f"{payload_id}\x1f{content_hash}".encode())
    ciphertext, tag = cipher.encrypt_and_digest(plain)
    params = {"alg": ENCRYPTION_ALG, "recipient": fingerprint(recipient_public),
              "ephemeral_public_key": ephemeral.public_key().export_key(format="raw").hex(),
              "nonce": cipher.nonce.hex()}
    return params, ciphertext + tag


def _decrypt(body: bytes, header: SubmissionHeader, key: EncryptionKey) -> bytes:
    enc = header.encryption or {}
    if enc.get("alg") != ENCRYPTION_ALG:
        raise CorruptPayload(f"payload {header.payload_id}: unknown encryption {enc.get('alg')!r}")
    if enc.get("recipient") != key.fingerprint:
        raise CorruptPayload(f"payload {header.payload_id} is encrypted to key "
                             f"{enc.get('recipient')}, not this coordinator's {key.fingerprint}")
    if len(body) < 16:
        raise TruncatedPayload(f"payload {header.payload_id}: encrypted body is cut short")
    try:
        ephemeral = import_x25519_public_key(bytes.fromhex(enc["ephemeral_public_key"]))
        aes_key = key_agreement(static_priv=key.private, eph_pub=ephemeral, kdf=_wrap_key)
        cipher = AES.new(aes_key, AES.MODE_GCM, nonce=bytes.fromhex(enc["nonce"]))
        cipher.update(f"{header.payload_id}\x1f{header.content_hash}".encode())
        return cipher.decrypt_and_verify(body[:-16], body[-16:])
    except (ValueError, KeyError) as exc:
        raise CorruptPayload(f"payload {header.payload_id}: encrypted body fails its "
                             f"integrity check (truncated or altered in transit: {exc})") from None


# --------------------------------------------------------------------------- replay

class ReplayStore(Protocol):
    """Payload ids already accepted."""

    def seen(self, payload_id: str) -> bool: ...

    def add(self, payload_id: str, force: str) -> None: ...


class MemoryReplayStore:
    def __init__(self) -> None:
        self._ids: set[str] = set()
        self._lock = threading.Lock()

    def seen(self, payload_id: str) -> bool:
        return payload_id in self._ids

    def add(self, payload_id: str, force: str) -> None:
        with self._lock:  # check-and-add in one step: two racing copies, one wins
            if payload_id in self._ids:
                raise ReplayedPayload(f"payload {payload_id} from {force} was already received")
            self._ids.add(payload_id)


class DuckDBReplayStore:
    """Seen payload ids in the coordinator's DuckDB (table ``seen_payloads``), so a replay
    is caught across restarts. ``add`` runs in the caller's transaction."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        con.execute("CREATE TABLE IF NOT EXISTS seen_payloads (payload_id VARCHAR PRIMARY KEY,"
                    " force VARCHAR NOT NULL, received_at TIMESTAMP NOT NULL)")

    def seen(self, payload_id: str) -> bool:
        return self.con.execute("SELECT 1 FROM seen_payloads WHERE payload_id = ?",
                                [payload_id]).fetchone() is not None

    def add(self, payload_id: str, force: str) -> None:
        try:
            self.con.execute("INSERT INTO seen_payloads VALUES (?, ?, ?)",
                             [payload_id, force, dt.datetime.now(dt.UTC).replace(tzinfo=None)])
        except duckdb.ConstraintException:
            raise ReplayedPayload(f"payload {payload_id} from {force} was already "
                                  "received") from None


# --------------------------------------------------------------------------- verify

@dataclass(frozen=True)
class VerifiedSubmission:
    header: SubmissionHeader
    share_set: ShareSet
    size: int


class SubmissionVerifier:
    """The coordinator's gate: who may send (public keys), which epochs, no replays, a size
    cap. Takes no linkage secret — it can check tokens' envelope, never make tokens."""

    def __init__(self, signers: Mapping[str, bytes], epochs: Collection[int], *,
                 replay: ReplayStore | None = None, max_bytes: int = DEFAULT_MAX_BYTES,
                 decryption_key: EncryptionKey | None = None) -> None:
        for force, key in signers.items():
            if not isinstance(key, bytes | bytearray) or len(key) != 32:
                raise TypeError(f"signer {force!r}: expected a 32-byte Ed25519 public key")
        self.verifiers = {force: Verifier(bytes(key)) for force, key in signers.items()}
        self.epochs = frozenset(epochs)
        if not self.epochs:
            raise ValueError("a verifier needs at least one accepted epoch")
        self.replay: ReplayStore = replay if replay is not None else MemoryReplayStore()
        self.max_bytes = max_bytes
        if decryption_key is not None and not isinstance(decryption_key, EncryptionKey):
            raise TypeError("decryption_key must be the coordinator's EncryptionKey")
        self.decryption_key = decryption_key

    def verify(self, data: bytes, *, record: bool = True) -> VerifiedSubmission:
        """Check everything, in order of cost; raise the PayloadRejected subclass naming the
        first failure. ``record`` marks the payload id as seen once accepted."""
        if len(data) > self.max_bytes:
            raise OversizePayload(f"payload is {len(data):,} bytes; the limit is "
                                  f"{self.max_bytes:,}")
        sub = Submission.from_bytes(data)
        h = sub.header
        verifier = self.verifiers.get(h.force)
        if verifier is None:
            known = ", ".join(sorted(self.verifiers)) or "none"
            raise UnknownSigner(f"payload {h.payload_id} claims force {h.force!r}, which is not "
                                f"registered (known: {known})")
        try:
            verifier.verify(Submission.signed_bytes(data), sub.signature)
        except BadSignature:
            raise PayloadBadSignature(
                f"payload {h.payload_id}: signature does not verify under {h.force}'s "
                f"registered key {verifier.fingerprint}") from None
        if h.epoch not in self.epochs:
            raise OldEpoch(f"payload {h.payload_id} uses key epoch {h.epoch}; accepted: "
                           f"{', '.join(map(str, sorted(self.epochs)))} — re-tokenise with "
                           "the current epoch")
        if self.replay.seen(h.payload_id):
            raise ReplayedPayload(f"payload {h.payload_id} from {h.force} was already received")
        share_set = sub.open(self.decryption_key)
        if record:
            self.replay.add(h.payload_id, h.force)
        return VerifiedSubmission(h, share_set, len(data))
