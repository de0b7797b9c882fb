"""RFC 9497 OPRF(ristretto255, SHA-512), base and verifiable modes, over libsodium.

The reference implementation of the token construction (KEYSERVICE.md): short enough to
read against the RFC, checked against its Appendix A.1 vectors, and used to cross-check
the fast Rust implementation (``voprf``, wrapped in ``federation.keyservice.suite``)
answer for answer. Scalars are 32 bytes little-endian, elements 32-byte ristretto255
encodings, a proof is ``c || s``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import pysodium as na

from federation.errors import CrossforceError

__all__ = ["MODE_OPRF", "MODE_VOPRF", "InvalidProof", "Suite"]

MODE_OPRF = 0
MODE_VOPRF = 1
IDENTIFIER = b"ristretto255-SHA512"
IDENTITY = bytes(32)


class InvalidProof(CrossforceError, ValueError):
    """A server's answer does not carry a valid proof for the public key (nothing made
    from it is kept: the service may be using another key for this force)."""


def _i2osp(n: int, length: int) -> bytes:
    return n.to_bytes(length, "big")


def _framed(*parts: bytes) -> bytes:
    """I2OSP(len(p), 2) || p for every part (the RFC's transcripts)."""
    return b"".join(_i2osp(len(p), 2) + p for p in parts)


def expand_message_xmd(msg: bytes, dst: bytes, length: int) -> bytes:
    """RFC 9380 §5.3.1 with SHA-512 (block 128 bytes, output 64)."""
    ell = -(-length // 64)
    dst_prime = dst + _i2osp(len(dst), 1)
    b0 = hashlib.sha512(bytes(128) + msg + _i2osp(length, 2) + b"\0" + dst_prime).digest()
    blocks = [hashlib.sha512(b0 + b"\x01" + dst_prime).digest()]
    for i in range(2, ell + 1):
        mixed = bytes(a ^ b for a, b in zip(b0, blocks[-1], strict=True))
        blocks.append(hashlib.sha512(mixed + _i2osp(i, 1) + dst_prime).digest())
    return b"".join(blocks)[:length]


class Suite:
    """ristretto255-SHA512 in one mode: the RFC's functions with the blind and the proof
    nonce as optional arguments, so the vectors (fixed values) and production (random
    values) run the same code."""

    def __init__(self, mode: int = MODE_VOPRF) -> None:
        if mode not in (MODE_OPRF, MODE_VOPRF):
            raise ValueError("mode is 0 (OPRF) or 1 (VOPRF)")
        self.mode = mode
        self.context = b"OPRFV1-" + _i2osp(mode, 1) + b"-" + IDENTIFIER

    # ------------------------------------------------------------------ group
    def hash_to_group(self, x: bytes) -> bytes:
        uniform = expand_message_xmd(x, b"HashToGroup-" + self.context, 64)
        return na.crypto_core_ristretto255_from_hash(uniform)

    def hash_to_scalar(self, x: bytes, dst: bytes | None = None) -> bytes:
        uniform = expand_message_xmd(x, dst or b"HashToScalar-" + self.context, 64)
        return na.crypto_core_ristretto255_scalar_reduce(uniform)

    @staticmethod
    def _mul(scalar: bytes, element: bytes) -> bytes:
        return na.crypto_scalarmult_ristretto255(scalar, element)

    @staticmethod
    def _add(a: bytes, b: bytes) -> bytes:
        if a == IDENTITY:
            return b
        return a if b == IDENTITY else na.crypto_core_ristretto255_add(a, b)

    # ------------------------------------------------------------------ keys
    def derive_key_pair(self, seed: bytes, info: bytes) -> tuple[bytes, bytes]:
        """(skS, pkS) from a 32-byte seed and a public info string (RFC 9497 §3.2.1)."""
        derive_input = seed + _framed(info)
        for counter in range(256):
            sk = self.hash_to_scalar(derive_input + _i2osp(counter, 1),
                                     b"DeriveKeyPair" + self.context)
            if sk != IDENTITY:
                return sk, na.crypto_scalarmult_ristretto255_base(sk)
        raise ValueError("DeriveKeyPairError")

    # ------------------------------------------------------------------ protocol
    def blind(self, x: bytes, blind: bytes | None = None) -> tuple[bytes, bytes]:
        """(blind, blindedElement) of input ``x``."""
        blind = blind or na.crypto_core_ristretto255_scalar_random()
        element = self.hash_to_group(x)
        if element == IDENTITY:
            raise ValueError("InvalidInputError")
        return blind, self._mul(blind, element)

    def blind_evaluate(self, sk: bytes, blinded: Sequence[bytes],
                       nonce: bytes | None = None) -> tuple[list[bytes], bytes]:
        """(evaluatedElements, proof) — ``proof`` is empty in OPRF mode."""
        for b in blinded:
            if not na.crypto_core_ristretto255_is_valid_point(b):
                raise ValueError("DeserializeError: a blinded element is not a point")
        evaluated = [self._mul(sk, b) for b in blinded]
        if self.mode == MODE_OPRF:
            return evaluated, b""
        pk = na.crypto_scalarmult_ristretto255_base(sk)
        return evaluated, self._prove(sk, pk, blinded, evaluated, nonce)

    def finalize(self, x: bytes, blind: bytes, evaluated: bytes) -> bytes:
        """The 64-byte PRF output of ``x`` (the caller has checked the proof)."""
        unblinded = self._mul(na.crypto_core_ristretto255_scalar_invert(blind), evaluated)
        return hashlib.sha512(_framed(x, unblinded) + b"Finalize").digest()

    def evaluate(self, sk: bytes, x: bytes) -> bytes:
        """The PRF output computed directly with the key (tests only: the service never
        sees x)."""
        issued = self._mul(sk, self.hash_to_group(x))
        return hashlib.sha512(_framed(x, issued) + b"Finalize").digest()

    # ------------------------------------------------------------------ proofs
    def _composites(self, pk: bytes, c: Sequence[bytes], d: Sequence[bytes],
                    sk: bytes | None = None) -> tuple[bytes, bytes]:
        seed = hashlib.sha512(_framed(pk, b"Seed-" + self.context)).digest()
        m = z = IDENTITY
        for i, (ci, di) in enumerate(zip(c, d, strict=True)):
            weight = self.hash_to_scalar(_framed(seed) + _i2osp(i, 2) + _framed(ci, di)
                                         + b"Composite")
            m = self._add(m, self._mul(weight, ci))
            if sk is None:
                z = self._add(z, self._mul(weight, di))
        return m, (self._mul(sk, m) if sk is not None else z)

    def _challenge(self, pk: bytes, m: bytes, z: bytes, t2: bytes, t3: bytes) -> bytes:
        return self.hash_to_scalar(_framed(pk, m, z, t2, t3) + b"Challenge")

    def _prove(self, sk: bytes, pk: bytes, c: Sequence[bytes], d: Sequence[bytes],
               nonce: bytes | None) -> bytes:
        m, z = self._composites(pk, c, d, sk)
        r = nonce or na.crypto_core_ristretto255_scalar_random()
        t2 = na.crypto_scalarmult_ristretto255_base(r)
        t3 = self._mul(r, m)
        ch = self._challenge(pk, m, z, t2, t3)
        s = na.crypto_core_ristretto255_scalar_sub(r, na.crypto_core_ristretto255_scalar_mul(
            ch, sk))
        return ch + s

    def verify(self, pk: bytes, blinded: Sequence[bytes], evaluated: Sequence[bytes],
               proof: bytes) -> None:
        """Raise InvalidProof unless ``proof`` shows ``evaluated`` = skS * ``blinded``
        for the key behind ``pk``."""
        if len(proof) != 64 or len(blinded) != len(evaluated) or not blinded:
            raise InvalidProof("malformed proof or answer")
        m, z = self._composites(pk, blinded, evaluated)
        ch, s = proof[:32], proof[32:]
        t2 = self._add(na.crypto_scalarmult_ristretto255_base(s), self._mul(ch, pk))
        t3 = self._add(self._mul(s, m), self._mul(ch, z))
        if self._challenge(pk, m, z, t2, t3) != ch:
            raise InvalidProof("the key service's proof does not verify under its "
                               "published public key")
