"""Signed payloads: what a node sends, and every reason the coordinator refuses one."""

from __future__ import annotations

import dataclasses
import inspect
import json

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from federation.keys import EncryptionKey, LinkageSecret, Signer
from federation.payload import (
    AGGREGATES_SCHEMA,
    ITEMS_SCHEMA,
    LINKS_SCHEMA,
    TOKENS_SCHEMA,
    CorruptPayload,
    DuckDBReplayStore,
    OldEpoch,
    OversizePayload,
    PayloadBadSignature,
    PayloadRejected,
    ReplayedPayload,
    ShareSet,
    Submission,
    SubmissionHeader,
    SubmissionVerifier,
    TruncatedPayload,
    UnknownSigner,
    WrongSchemaVersion,
)
from federation.tokens import Tokeniser, tokens_to_arrow

KENT = Signer.from_seed(bytes([1]) * 32)
COORDINATOR = EncryptionKey.generate()
SECRET = LinkageSecret(bytes(range(32)))
RAW_PHONES = ["07700 900123", "+44 7911 123456", "0044 7400 123456"]
RAW_EMAIL = "jay.smith@example.com"


def share_set(epoch: int = 1) -> ShareSet:
    """A small share set built the way egress does: raw values → tokens, random refs."""
    tokeniser = Tokeniser(SECRET.derive("op-kingfisher", epoch))
    phones, ok = tokeniser.tokens_from_raw("phone", RAW_PHONES)
    email, _ = tokeniser.tokens_from_raw("email", [RAW_EMAIL])
    assert ok.all()
    refs = tokens_to_arrow(np.random.default_rng(1).integers(0, 256, (4, 16), dtype=np.uint8))
    items = pa.table({"ref": refs, "kind": ["phone"] * 3 + ["email"],
                      "role": pa.array(["suspect", None, "victim", None], pa.string()),
                      "offence_category": ["cse"] * 4})
    tokens = pa.table({"ref": refs, "token_kind": ["phone"] * 3 + ["email"],
                       "token": tokens_to_arrow(np.vstack([phones, email]))},
                      schema=TOKENS_SCHEMA)
    links = pa.table({"ref_a": refs.slice(0, 1), "ref_b": refs.slice(1, 1),
                      "kind": ["communication"], "weight": pa.array([5], pa.int32())},
                     schema=LINKS_SCHEMA)
    aggregates = pa.table({"name": ["suspects_by_force"], "cell": ['{"force":"Kent"}'],
                           "count": pa.array([None], pa.int64())}, schema=AGGREGATES_SCHEMA)
    return ShareSet("Kent", "op-kingfisher", epoch, "ab" * 32, items=items, tokens=tokens,
                    links=links, aggregates=aggregates)


def verifier(**kw: object) -> SubmissionVerifier:
    return SubmissionVerifier({"Kent": KENT.public_key}, epochs=[1],
                              decryption_key=COORDINATOR, **kw)  # type: ignore[arg-type]


def test_a_sealed_share_set_arrives_intact() -> None:
    sent = share_set()
    sub = Submission.seal(sent, KENT)
    got = verifier().verify(sub.to_bytes())
    assert got.header.content_hash == sub.content_hash
    assert got.header.counts == {"items": 4, "tokens": 4, "links": 1, "aggregates": 1}
    for name in ("items", "tokens", "links", "aggregates"):
        assert getattr(got.share_set, name).equals(getattr(sent, name))


def test_encrypted_payload_arrives_intact_and_has_the_same_content_hash() -> None:
    plain = Submission.seal(share_set(), KENT, payload_id="p1")
    sealed = Submission.seal(share_set(), KENT, payload_id="p1", encrypt_to=COORDINATOR.public_key)
    assert sealed.content_hash == plain.content_hash  # the two ledgers match on it
    got = verifier().verify(sealed.to_bytes())
    assert got.share_set.tokens.equals(share_set().tokens)


def test_a_relay_sees_no_token_in_an_encrypted_payload() -> None:
    data = Submission.seal(share_set(), KENT, encrypt_to=COORDINATOR.public_key).to_bytes()
    for token in share_set().tokens.column("token").to_pylist():
        assert token not in data
    with pytest.raises(CorruptPayload, match="encrypted to key"):
        SubmissionVerifier({"Kent": KENT.public_key}, [1],
                           decryption_key=EncryptionKey.generate()).verify(data)


@pytest.mark.parametrize("encrypt", [False, True])
def test_canary_no_raw_or_normalised_value_is_in_the_payload(encrypt: bool) -> None:
    data = Submission.seal(share_set(), KENT,
                           encrypt_to=COORDINATOR.public_key if encrypt else None).to_bytes()
    canaries = [*RAW_PHONES, RAW_EMAIL, "+447700900123", "+447911123456", "+447400123456",
                "7700900123", "7911123456", "900123"]
    for value in canaries:
        assert value.encode() not in data, value
        assert value.encode("utf-16-le") not in data, value


# ------------------------------------------------------------------ each rejection


def test_bad_signature_is_rejected() -> None:
    data = bytearray(Submission.seal(share_set(), KENT).to_bytes())
    data[-1] ^= 1
    with pytest.raises(PayloadBadSignature, match="signature does not verify under Kent"):
        verifier().verify(bytes(data))


def test_a_changed_header_fails_the_signature() -> None:
    data = Submission.seal(share_set(), KENT).to_bytes()
    forged = data.replace(b'"purpose":"op-kingfisher"', b'"purpose":"op-kingfishes"')
    assert forged != data
    with pytest.raises(PayloadBadSignature):
        verifier().verify(forged)


def test_a_payload_signed_by_another_key_is_rejected() -> None:
    data = Submission.seal(share_set(), Signer.generate()).to_bytes()
    with pytest.raises(PayloadBadSignature):
        verifier().verify(data)


def test_unknown_signer_is_rejected() -> None:
    ss = dataclasses.replace(share_set(), force="Atlantis")
    with pytest.raises(UnknownSigner, match="'Atlantis', which is not registered"):
        verifier().verify(Submission.seal(ss, KENT).to_bytes())


def resigned(data: bytes, **changes: object) -> bytes:
    """The payload with header fields changed and validly re-signed by Kent."""
    sub = Submission.from_bytes(data)
    raw = {**sub.header.__dict__, **changes}
    hbytes = json.dumps(raw, sort_keys=True, separators=(",", ":")).encode()
    signed = b"CFSUB1" + len(hbytes).to_bytes(4, "big") + hbytes
    return signed + sub.body + KENT.sign(signed)


def test_wrong_schema_version_is_rejected() -> None:
    data = resigned(Submission.seal(share_set(), KENT).to_bytes(), schema_version=2)
    with pytest.raises(WrongSchemaVersion, match="schema version 2"):
        verifier().verify(data)


def test_old_epoch_is_rejected() -> None:
    data = Submission.seal(share_set(epoch=1), KENT).to_bytes()
    with pytest.raises(OldEpoch, match="key epoch 1; accepted: 2"):
        SubmissionVerifier({"Kent": KENT.public_key}, epochs=[2]).verify(data)


def test_replayed_payload_id_is_rejected_even_after_a_restart() -> None:
    con = duckdb.connect()
    data = Submission.seal(share_set(), KENT).to_bytes()
    verifier(replay=DuckDBReplayStore(con)).verify(data)
    with pytest.raises(ReplayedPayload, match="already received"):
        verifier(replay=DuckDBReplayStore(con)).verify(data)  # a new verifier, same store


def test_oversize_payload_is_rejected_before_parsing() -> None:
    data = Submission.seal(share_set(), KENT).to_bytes()
    with pytest.raises(OversizePayload, match="the limit is 1,000"):
        verifier(max_bytes=1000).verify(data)


@pytest.mark.parametrize("keep", [3, 40, 200, -1, -64, -100])
def test_truncated_payload_is_rejected(keep: int) -> None:
    data = Submission.seal(share_set(), KENT).to_bytes()
    with pytest.raises(TruncatedPayload):
        verifier().verify(data[:keep])


def test_a_body_altered_in_transit_is_rejected() -> None:
    data = bytearray(Submission.seal(share_set(), KENT).to_bytes())
    data[-100] ^= 1  # inside the body: the signed header still verifies
    with pytest.raises(CorruptPayload, match="does not match its content hash"):
        verifier().verify(bytes(data))
    enc = bytearray(Submission.seal(share_set(), KENT, encrypt_to=COORDINATOR.public_key)
                    .to_bytes())
    enc[-100] ^= 1
    with pytest.raises(CorruptPayload, match="integrity check"):
        verifier().verify(bytes(enc))


def test_garbage_is_rejected_as_not_a_payload() -> None:
    with pytest.raises(CorruptPayload, match="bad magic"):
        verifier().verify(b"GET / HTTP/1.1\r\n" * 10)


def test_every_rejection_is_a_payload_rejected_with_its_own_reason() -> None:
    reasons = {c.reason for c in (OversizePayload, TruncatedPayload, CorruptPayload,
                                  WrongSchemaVersion, UnknownSigner, PayloadBadSignature,
                                  OldEpoch, ReplayedPayload)}
    assert len(reasons) == 8
    assert issubclass(ReplayedPayload, PayloadRejected)


# ------------------------------------------------------------------ key custody


def test_the_coordinator_side_takes_public_keys_only() -> None:
    """No coordinator-facing callable accepts a LinkageSecret; handing one over fails."""
    for fn in (SubmissionVerifier.__init__, SubmissionVerifier.verify, Submission.from_bytes,
               Submission.open, SubmissionHeader.from_bytes, DuckDBReplayStore.__init__):
        for p in inspect.signature(fn).parameters.values():
            assert "LinkageSecret" not in str(p.annotation), (fn, p)
            assert "secret" not in p.name.lower(), (fn, p)
    with pytest.raises(TypeError, match="32-byte Ed25519 public key"):
        SubmissionVerifier({"Kent": SECRET}, [1])  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="EncryptionKey"):
        SubmissionVerifier({"Kent": KENT.public_key}, [1],
                           decryption_key=SECRET)  # type: ignore[arg-type]


# ------------------------------------------------------------------ share set shape


def test_share_set_tables_are_checked_by_name() -> None:
    with pytest.raises(ValueError, match="tokens lacks column 'token'"):
        ShareSet("Kent", "p", 1, "h", tokens=pa.table({"ref": pa.array([], pa.binary(16)),
                                                      "token_kind": pa.array([], pa.string())}))
    with pytest.raises(ValueError, match=r"tokens.token is binary, expected fixed_size_binary"):
        ShareSet("Kent", "p", 1, "h", tokens=pa.table(
            {"ref": pa.array([], pa.binary(16)), "token_kind": pa.array([], pa.string()),
             "token": pa.array([], pa.binary())}))
    with pytest.raises(ValueError, match="links.kind has unknown values"):
        ref = pa.array([b"0" * 16], pa.binary(16))
        ShareSet("Kent", "p", 1, "h", links=pa.table(
            {"ref_a": ref, "ref_b": ref, "kind": ["sibling"], "weight": pa.array([1], pa.int32())}))
    with pytest.raises(ValueError, match="epoch must be an int"):
        ShareSet("Kent", "p", 0, "h")
    assert ShareSet("Kent", "p", 1, "h").items.schema.equals(ITEMS_SCHEMA)


def test_no_coordinator_code_touches_the_linkage_secret_or_makes_tokens() -> None:
    """The coordinator must hold no key that can recompute a token (DESIGN.md §1.2)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "coordinator"
    offenders = [f"{path.relative_to(root.parent)}: {word}"
                 for path in sorted(root.rglob("*.py"))
                 for word in ("LinkageSecret", "linkage_secret", "Tokeniser")
                 if word in path.read_text()]
    assert offenders == []


@pytest.mark.parametrize("store", ["memory", "duckdb"])
def test_two_racing_copies_of_one_payload_cannot_both_be_recorded(store: str) -> None:
    """verify(record=False) twice, then both try to record: the second is a replay."""
    from federation.payload import MemoryReplayStore

    replay = MemoryReplayStore() if store == "memory" else DuckDBReplayStore(duckdb.connect())
    data = Submission.seal(share_set(), KENT).to_bytes()
    first = verifier(replay=replay).verify(data, record=False)
    verifier(replay=replay).verify(data, record=False)
    replay.add(first.header.payload_id, "Kent")
    with pytest.raises(ReplayedPayload):
        replay.add(first.header.payload_id, "Kent")
