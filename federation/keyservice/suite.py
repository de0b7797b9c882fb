"""The fast VOPRF (``voprf``, Rust) behind our own interface, plus the token derivation.

``voprf`` is young and has one maintainer, so nothing outside this module names it; tests
cross-check it against ``federation.keyservice.oprf`` (libsodium) both ways. Wire format
of an answer, the same as voprf's and the RFC's pieces: ``proof (64) || evaluated
elements (32 each)``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from voprf import ristretto as _r

from federation.keyservice.oprf import InvalidProof

__all__ = ["ELEMENT_BYTES", "PROOF_BYTES", "Evaluator", "InvalidProof", "blind", "finalize",
           "prf_input", "token", "token_message", "token_sql"]

ELEMENT_BYTES = 32
PROOF_BYTES = 64
PRF_OUTPUT_BYTES = 64
DOMAIN = "crossforce/v1"


def prf_input(kind: str, value: str) -> bytes:
    """What the PRF is evaluated on: domain, identifier kind and normalised value."""
    return f"{DOMAIN}|{kind}|{value}".encode()


def token_message(purpose: str, epoch: int) -> str:
    """The HMAC message that binds a PRF output to one purpose and epoch."""
    return f"token|{purpose}|{epoch}"


def token(y: bytes, purpose: str, epoch: int) -> bytes:
    """16-byte token of one PRF output (tests and single lookups; bulk is token_sql)."""
    return hmac.digest(y, token_message(purpose, epoch).encode(), "sha256")[:16]


def token_sql(y_sql: str, message_param: str = "$cf_token_message") -> str:
    """SQL of HMAC-SHA256(y, message)[:16] for a 64-byte BLOB key per row (one SHA-256
    block, so the pads are y XOR 0x36.. / 0x5c..): tokens from cached PRF outputs inside
    DuckDB, on every core. Needs the parameter named by ``message_param``."""
    ipad = f"CAST(xor(CAST({y_sql} AS BIT), CAST(unhex(repeat('36', 64)) AS BIT)) AS BLOB)"
    opad = f"CAST(xor(CAST({y_sql} AS BIT), CAST(unhex(repeat('5c', 64)) AS BIT)) AS BLOB)"
    inner = f"unhex(sha256({ipad} || encode({message_param})))"
    return f"unhex(left(sha256({opad} || {inner}), 32))"


class Evaluator:
    """The key service's side for one epoch key (from a secret 32-byte seed)."""

    def __init__(self, seed: bytes, info: bytes) -> None:
        if len(seed) != 32:
            raise ValueError("an epoch key seed is 32 bytes")
        self._ev = _r.Evaluator.from_seed(seed, info)
        self.public_key: bytes = self._ev.public_key.serialize()

    def evaluate(self, blinded: bytes) -> bytes:
        """``proof || elements`` for the concatenated blinded elements; ValueError if one
        is not a valid ristretto255 point."""
        if not blinded or len(blinded) % ELEMENT_BYTES:
            raise ValueError(f"blinded elements are {ELEMENT_BYTES} bytes each")
        items = [_r.BlindedInput.deserialize(blinded[i:i + ELEMENT_BYTES])
                 for i in range(0, len(blinded), ELEMENT_BYTES)]
        return self._ev.evaluate_batch(items).serialize()

    def __repr__(self) -> str:  # never show key material
        return f"Evaluator(public_key={self.public_key.hex()[:16]}…)"


def blind(inputs: Sequence[bytes]) -> tuple[list[object], bytes]:
    """Blind every input: (the node's secret blinding states, concatenated elements)."""
    states, elements = [], []
    for x in inputs:
        state, element = _r.Client.blind(x)
        states.append(state)
        elements.append(element.serialize())
    return states, b"".join(elements)


def finalize(states: Sequence[object], answer: bytes, public_key: bytes) -> list[bytes]:
    """Check the batch proof against ``public_key`` and return each 64-byte PRF output;
    InvalidProof if the answer was not made with that key (or is malformed)."""
    if len(answer) != PROOF_BYTES + ELEMENT_BYTES * len(states):
        raise InvalidProof(f"the key service answered {len(answer)} bytes for "
                           f"{len(states)} values")
    try:
        output = _r.VerifiableBatchOutput.deserialize(answer)
        return list(_r.Client.finalize_batch(list(states), output,
                                             _r.PublicKey.deserialize(public_key)))
    except BaseException as exc:  # voprf panics (a BaseException) on a wrong batch proof
        if not isinstance(exc, ValueError) and type(exc).__name__ != "PanicException":
            raise
        raise InvalidProof("the key service's answer does not verify under its published "
                           "public key for this epoch; no token was made") from None


def fingerprint(public_key: bytes) -> str:
    """Short name of an epoch public key, for people to compare."""
    digest = hashlib.sha256(public_key).hexdigest()[:16]
    return ":".join(digest[i:i + 4] for i in range(0, 16, 4))
