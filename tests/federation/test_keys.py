"""Keys: signing keys and the linkage secret stay private; token keys differ per purpose/epoch."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

import pytest

from federation.errors import CrossforceError
from federation.keys import (
    BadSignature,
    LinkageSecret,
    NodeKeys,
    Signer,
    Verifier,
    load_public_key,
)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_node_keys_are_written_0600_and_load_back(tmp_path: Path) -> None:
    keys = NodeKeys.create(tmp_path / "keys", "Kent")
    keys.install_linkage_secret(LinkageSecret.generate())
    for name in ("signing_key.pem", "encryption_key.pem", "linkage_secret.json"):
        assert mode(tmp_path / "keys" / name) == 0o600
    loaded = NodeKeys.load(tmp_path / "keys")
    assert loaded.owner == "Kent"
    assert loaded.fingerprints() == keys.fingerprints()
    assert loaded.signer.public_key == keys.signer.public_key


def test_a_key_readable_by_others_is_refused_with_the_fix(tmp_path: Path) -> None:
    NodeKeys.create(tmp_path / "keys", "Kent")
    os.chmod(tmp_path / "keys" / "signing_key.pem", 0o644)
    with pytest.raises(CrossforceError, match=r"readable by other users \(mode 0644\).*chmod 600"):
        NodeKeys.load(tmp_path / "keys")


def test_existing_keys_are_never_overwritten(tmp_path: Path) -> None:
    first = NodeKeys.create(tmp_path / "keys", "Kent")
    with pytest.raises(CrossforceError, match="refusing to overwrite"):
        NodeKeys.create(tmp_path / "keys", "Kent")
    assert NodeKeys.load(tmp_path / "keys").signer.public_key == first.signer.public_key


def test_signatures_verify_only_with_the_matching_public_key(tmp_path: Path) -> None:
    keys = NodeKeys.create(tmp_path / "keys", "Kent")
    sig = keys.signer.sign(b"payload")
    Verifier(load_public_key(tmp_path / "keys")).verify(b"payload", sig)
    Verifier(load_public_key(keys.signer.public_key.hex())).verify(b"payload", sig)
    with pytest.raises(BadSignature):
        Verifier(keys.signer.public_key).verify(b"payloaD", sig)
    with pytest.raises(BadSignature):
        Verifier(Signer.generate().public_key).verify(b"payload", sig)


def test_token_keys_differ_per_purpose_and_epoch_and_are_deterministic() -> None:
    secret = LinkageSecret(bytes(range(32)))
    k = secret.derive("op-kingfisher", 1)
    assert len(k) == 32
    assert k == LinkageSecret(bytes(range(32))).derive("op-kingfisher", 1)
    assert k != secret.derive("op-kingfisher", 2)
    assert k != secret.derive("op-heron", 1)
    assert k != LinkageSecret(bytes(range(1, 33))).derive("op-kingfisher", 1)


def test_rotation_moves_to_a_new_epoch_and_saves_it(tmp_path: Path) -> None:
    keys = NodeKeys.create(tmp_path / "keys", "Kent")
    keys.install_linkage_secret(LinkageSecret.generate())
    old = keys.linkage_secret
    assert old is not None
    new = keys.rotate_linkage()
    assert new.epoch == old.epoch + 1
    assert new.derive("op") != old.derive("op")
    assert NodeKeys.load(tmp_path / "keys").linkage_secret.epoch == 2  # type: ignore[union-attr]
    assert mode(tmp_path / "keys" / "linkage_secret.json") == 0o600


def test_secrets_never_appear_in_repr() -> None:
    secret = LinkageSecret.generate()
    assert secret.secret.hex() not in repr(secret)
    assert "SHA256:" in repr(Signer.generate())


def test_signatures_are_rfc8032_byte_for_byte() -> None:
    """The signer's fast path (OpenSSL) gives RFC 8032's own test vector (TEST 2) and the
    same bytes as pycryptodome's Ed25519 for any key and message."""
    from Crypto.Signature import eddsa

    seed = bytes.fromhex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")
    signer = Signer.from_seed(seed)
    assert signer.public_key.hex() == ("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd5"
                                       "5f12af4660c")
    assert signer.sign(bytes([0x72])).hex() == (
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f"
        "3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00")
    for n in range(5):
        other = Signer.generate()
        message = secrets.token_bytes(n * 40)
        slow = eddsa.new(eddsa.import_private_key(other._key.seed), "rfc8032")
        assert other.sign(message) == slow.sign(message)
        Verifier(other.public_key).verify(message, other.sign(message))
