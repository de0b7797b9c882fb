"""Keys: Ed25519 signing keys, X25519 encryption keys, and the federation linkage secret.

The linkage secret is held by nodes only; each purpose and epoch gets its own token key
derived from it (HKDF-SHA256), so tokens made for one purpose or period cannot be joined
with another's. Rotation is a new epoch. The coordinator side works with *public* keys
only (``Verifier``, ``public_bundle``): nothing a coordinator imports takes a LinkageSecret.

Private key files are written 0600 and refused on load if group or others can read them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from Crypto.Hash import SHA256
from Crypto.Protocol.KDF import HKDF
from Crypto.PublicKey import ECC
from Crypto.Signature import eddsa

from federation.errors import CrossforceError

__all__ = [
    "BadSignature",
    "EncryptionKey",
    "LinkageSecret",
    "NodeKeys",
    "Signer",
    "Verifier",
    "check_private_file",
    "fingerprint",
    "load_public_key",
    "write_private_file",
]

SIGNING_KEY_FILE = "signing_key.pem"
ENCRYPTION_KEY_FILE = "encryption_key.pem"
LINKAGE_SECRET_FILE = "linkage_secret.json"
PUBLIC_FILE = "public.json"
LINKAGE_FORMAT = "crossforce-linkage-secret/1"


class BadSignature(Exception):
    """A signature does not verify under the expected public key."""


def fingerprint(public_key: bytes) -> str:
    """Short, comparable name of a public key: ``SHA256:ab12:cd34:...`` (first 128 bits)."""
    digest = hashlib.sha256(public_key).hexdigest()[:32]
    return "SHA256:" + ":".join(digest[i:i + 4] for i in range(0, 32, 4))


# --------------------------------------------------------------------------- files

def write_private_file(path: Path, data: bytes, *, overwrite: bool = False) -> None:
    """Create ``path`` with mode 0600 from the start (never briefly world-readable)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise CrossforceError(f"{path} already exists; refusing to overwrite a key") from None
    except FileNotFoundError:
        raise CrossforceError(f"{path.parent}: no such folder; create it first, then "
                              "write the key there") from None
    except PermissionError:
        raise CrossforceError(f"{path}: permission denied; cannot write a key there") from None
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, 0o600)


def check_private_file(path: Path) -> bytes:
    """Read a private key file, refusing one that group or others can read or write."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise CrossforceError(f"key file {path} not found") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CrossforceError(
            f"key file {path} is readable by other users (mode {stat.S_IMODE(mode):04o}); "
            f"a private key must be 0600 — run: chmod 600 {path}")
    return path.read_bytes()


# --------------------------------------------------------------------------- signing

class Signer:
    """Ed25519 (RFC 8032) signing key."""

    def __init__(self, key: ECC.EccKey) -> None:
        if key.curve != "Ed25519" or not key.has_private():
            raise ValueError("Signer needs an Ed25519 private key")
        self._key = key
        # OpenSSL's Ed25519 (the `cryptography` package): the same RFC 8032 signatures,
        # byte for byte (they are deterministic), in ~40 µs instead of pycryptodome's ~2 ms
        # — the coordinator signs one ledger entry per API request
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        self._fast = Ed25519PrivateKey.from_private_bytes(key.seed)
        self.public_key: bytes = key.public_key().export_key(format="raw")
        self.fingerprint: str = fingerprint(self.public_key)

    @classmethod
    def generate(cls) -> Signer:
        return cls(ECC.generate(curve="Ed25519"))

    @classmethod
    def from_seed(cls, seed: bytes) -> Signer:
        """From the 32-byte RFC 8032 private seed (deterministic; for tests and vectors)."""
        return cls(eddsa.import_private_key(seed))

    @classmethod
    def from_pem(cls, pem: bytes) -> Signer:
        return cls(ECC.import_key(pem))

    def to_pem(self) -> bytes:
        return self._key.export_key(format="PEM").encode()

    def sign(self, data: bytes) -> bytes:
        """64-byte signature over ``data``."""
        return self._fast.sign(data)

    def __repr__(self) -> str:  # never print key material
        return f"Signer({self.fingerprint})"


class Verifier:
    """Checks Ed25519 signatures against one raw 32-byte public key."""

    def __init__(self, public_key: bytes) -> None:
        if not isinstance(public_key, bytes | bytearray) or len(public_key) != 32:
            raise ValueError("an Ed25519 public key is 32 raw bytes")
        self.public_key = bytes(public_key)
        self.fingerprint = fingerprint(self.public_key)
        self._eddsa = eddsa.new(eddsa.import_public_key(self.public_key), "rfc8032")

    def verify(self, data: bytes, signature: bytes) -> None:
        """Return None if ``signature`` is valid, raise BadSignature otherwise."""
        try:
            self._eddsa.verify(data, signature)
        except (ValueError, TypeError):
            raise BadSignature(f"signature does not verify under key {self.fingerprint}") \
                from None

    def __repr__(self) -> str:
        return f"Verifier({self.fingerprint})"


# --------------------------------------------------------------------------- encryption

class EncryptionKey:
    """X25519 key pair a coordinator publishes so nodes can encrypt payloads to it."""

    def __init__(self, key: ECC.EccKey) -> None:
        if key.curve != "Curve25519" or not key.has_private():
            raise ValueError("EncryptionKey needs an X25519 private key")
        self._key = key
        self.public_key: bytes = key.public_key().export_key(format="raw")
        self.fingerprint: str = fingerprint(self.public_key)

    @classmethod
    def generate(cls) -> EncryptionKey:
        return cls(ECC.generate(curve="Curve25519"))

    @classmethod
    def from_pem(cls, pem: bytes) -> EncryptionKey:
        return cls(ECC.import_key(pem))

    def to_pem(self) -> bytes:
        return self._key.export_key(format="PEM").encode()

    @property
    def private(self) -> ECC.EccKey:
        return self._key

    def __repr__(self) -> str:
        return f"EncryptionKey({self.fingerprint})"


# --------------------------------------------------------------------------- linkage

@dataclass(frozen=True, repr=False)
class LinkageSecret:
    """The federation linkage secret (nodes only) and its current key epoch."""

    secret: bytes
    epoch: int = 1

    def __post_init__(self) -> None:
        if len(self.secret) < 32:
            raise ValueError("a linkage secret is at least 32 bytes")
        if self.epoch < 1:
            raise ValueError("key epochs start at 1")

    @classmethod
    def generate(cls, epoch: int = 1) -> LinkageSecret:
        return cls(secrets.token_bytes(32), epoch)

    def derive(self, purpose: str, epoch: int | None = None) -> bytes:
        """32-byte token key for one purpose and epoch (HKDF-SHA256, RFC 5869)."""
        purpose = purpose.strip()
        if not purpose:
            raise ValueError("a token key needs a purpose")
        epoch = self.epoch if epoch is None else epoch
        if epoch < 1:
            raise ValueError("key epochs start at 1")
        info = f"crossforce token key v1\x1f{purpose}\x1f{epoch}".encode()
        return HKDF(self.secret, 32, salt=b"crossforce/linkage", hashmod=SHA256, context=info)

    def rotated(self) -> LinkageSecret:
        """The same secret at the next epoch: every token key changes."""
        return LinkageSecret(self.secret, self.epoch + 1)

    @property
    def fingerprint(self) -> str:
        """Lets forces confirm they hold the same secret without revealing it."""
        check = hmac.digest(self.secret, b"crossforce linkage fingerprint", "sha256")
        return fingerprint(check)

    def save(self, path: Path, *, overwrite: bool = False) -> None:
        data = {"format": LINKAGE_FORMAT, "epoch": self.epoch, "secret": self.secret.hex()}
        write_private_file(Path(path), json.dumps(data).encode(), overwrite=overwrite)

    @classmethod
    def load(cls, path: Path) -> LinkageSecret:
        path = Path(path)
        raw = check_private_file(path)
        try:
            data = json.loads(raw)
            if data.get("format") != LINKAGE_FORMAT:
                raise ValueError(f"format is {data.get('format')!r}, not {LINKAGE_FORMAT!r}")
            return cls(bytes.fromhex(data["secret"]), int(data["epoch"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise CrossforceError(f"{path}: not a linkage secret file ({exc})") from None

    def __repr__(self) -> str:  # never print the secret
        return f"LinkageSecret(epoch={self.epoch}, {self.fingerprint})"


# --------------------------------------------------------------------------- keys folder

@dataclass
class NodeKeys:
    """A node's (or the coordinator's) keys folder: signing + encryption key, optional
    linkage secret (nodes only), and ``public.json`` to hand to the other side."""

    keys_dir: Path
    owner: str
    signer: Signer
    encryption: EncryptionKey
    linkage_secret: LinkageSecret | None = None

    @classmethod
    def create(cls, keys_dir: Path, owner: str) -> NodeKeys:
        """Make new keys (files 0600). Refuses if keys already exist there."""
        keys_dir = Path(keys_dir)
        owner = owner.strip()
        if not owner:
            raise CrossforceError("keys need an owner (a force name or 'coordinator')")
        if (keys_dir / SIGNING_KEY_FILE).exists():
            raise CrossforceError(f"{keys_dir / SIGNING_KEY_FILE} already exists; "
                                  "refusing to overwrite existing keys")
        keys_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(keys_dir, 0o700)
        keys = cls(keys_dir, owner, Signer.generate(), EncryptionKey.generate())
        write_private_file(keys_dir / SIGNING_KEY_FILE, keys.signer.to_pem())
        write_private_file(keys_dir / ENCRYPTION_KEY_FILE, keys.encryption.to_pem())
        (keys_dir / PUBLIC_FILE).write_text(json.dumps(keys.public_bundle(), indent=2) + "\n")
        return keys

    @classmethod
    def load(cls, keys_dir: Path) -> NodeKeys:
        keys_dir = Path(keys_dir)
        if not (keys_dir / SIGNING_KEY_FILE).exists():
            raise CrossforceError(f"no keys in {keys_dir} (expected {SIGNING_KEY_FILE}); "
                                  "create them first")
        try:
            public = json.loads((keys_dir / PUBLIC_FILE).read_text())
            owner = public["owner"]
        except (OSError, ValueError, KeyError) as exc:
            raise CrossforceError(f"{keys_dir / PUBLIC_FILE}: unreadable ({exc})") from None
        signer = Signer.from_pem(check_private_file(keys_dir / SIGNING_KEY_FILE))
        encryption = EncryptionKey.from_pem(check_private_file(keys_dir / ENCRYPTION_KEY_FILE))
        if public.get("signing_public_key") != signer.public_key.hex():
            raise CrossforceError(f"{keys_dir / PUBLIC_FILE} does not match "
                                  f"{keys_dir / SIGNING_KEY_FILE}")
        linkage_path = keys_dir / LINKAGE_SECRET_FILE
        linkage = LinkageSecret.load(linkage_path) if linkage_path.exists() else None
        return cls(keys_dir, owner, signer, encryption, linkage)

    def install_linkage_secret(self, secret: LinkageSecret, *, overwrite: bool = False) -> None:
        """Store the federation linkage secret (0600). ``overwrite`` for a rotation."""
        secret.save(self.keys_dir / LINKAGE_SECRET_FILE, overwrite=overwrite)
        self.linkage_secret = secret

    def rotate_linkage(self) -> LinkageSecret:
        """Move to the next key epoch; tokens of the old epoch no longer join new ones."""
        if self.linkage_secret is None:
            raise CrossforceError(f"no linkage secret in {self.keys_dir} to rotate")
        new = self.linkage_secret.rotated()
        self.install_linkage_secret(new, overwrite=True)
        return new

    def public_bundle(self) -> dict[str, str]:
        """What the other side registers: owner and public keys, hex."""
        return {"owner": self.owner,
                "signing_public_key": self.signer.public_key.hex(),
                "encryption_public_key": self.encryption.public_key.hex()}

    def fingerprints(self) -> dict[str, str]:
        out = {"signing": self.signer.fingerprint, "encryption": self.encryption.fingerprint}
        if self.linkage_secret is not None:
            out["linkage"] = self.linkage_secret.fingerprint
            out["linkage_epoch"] = str(self.linkage_secret.epoch)
        return out


def load_public_key(spec: str | Path, field: str = "signing_public_key") -> bytes:
    """A raw 32-byte public key (Ed25519 signing, or X25519 with
    ``field="encryption_public_key"``) from hex, a ``public.json`` file, or a keys folder."""
    text = str(spec).strip()
    if len(text) == 64:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    path = Path(text)
    if path.is_dir():
        path = path / PUBLIC_FILE
    if not path.exists():
        raise CrossforceError(f"public key {text!r}: not 64 hex digits and no such file")
    content = path.read_text().strip()
    try:
        hexkey = json.loads(content)[field] if content.startswith("{") else content
        key = bytes.fromhex(hexkey)
    except (ValueError, KeyError, TypeError) as exc:
        raise CrossforceError(f"{path}: no {field.replace('_', ' ')} found ({exc})") from None
    if len(key) != 32:
        raise CrossforceError(f"{path}: public key is {len(key)} bytes, expected 32")
    return key
