"""RFC 9497 OPRF(ristretto255, SHA-512): the Appendix A.1 vectors in both modes, and the
two implementations (libsodium reference, voprf fast path) checked against each other.

The vectors are the RFC's own (Seed a3.., KeyInfo "test key"); the cross-checks feed one
implementation's messages to the other, so a bug in either shows as a disagreement.
"""

from __future__ import annotations

import os

import duckdb
import pytest

from federation.keyservice import suite
from federation.keyservice.oprf import MODE_OPRF, MODE_VOPRF, InvalidProof, Suite

h = bytes.fromhex
SEED, KEY_INFO = h("a3" * 32), b"test key"
INPUTS = (h("00"), h("5a" * 17))
BLIND_1 = h("64d37aed22a27f5191de1c1d69fadb899d8862b58eb4220029e036ec4c1f6706")
BLIND_2 = h("222a5e897cf59db8145db8d16e597e8facb80ae7d4e26d9881aa6f61d645fc0e")

# A.1.1 OPRF mode
OPRF_SK = "5ebcea5ee37023ccb9fc2d2019f9d7737be85591ae8652ffa9ef0f4d37063b0e"
OPRF_VECTORS = [  # input, blinded element, evaluation element, output
    (INPUTS[0], "609a0ae68c15a3cf6903766461307e5c8bb2f95e7e6550e1ffa2dc99e412803c",
     "7ec6578ae5120958eb2db1745758ff379e77cb64fe77b0b2d8cc917ea0869c7e",
     "527759c3d9366f277d8c6020418d96bb393ba2afb20ff90df23fb7708264e2f3"
     "ab9135e3bd69955851de4b1f9fe8a0973396719b7912ba9ee8aa7d0b5e24bcf6"),
    (INPUTS[1], "da27ef466870f5f15296299850aa088629945a17d1f5b7f5ff043f76b3c06418",
     "b4cbf5a4f1eeda5a63ce7b77c7d23f461db3fcab0dd28e4e17cecb5c90d02c25",
     "f4a74c9c592497375e796aa837e907b1a045d34306a749db9f34221f7e750cb4"
     "f2a6413a6bf6fa5e19ba6348eb673934a722a7ede2e7621306d18951e7cf2c73"),
]
# A.1.2 VOPRF mode
VOPRF_SK = "e6f73f344b79b379f1a0dd37e07ff62e38d9f71345ce62ae3a9bc60b04ccd909"
VOPRF_PK = "c803e2cc6b05fc15064549b5920659ca4a77b2cca6f04f6b357009335476ad4e"
VOPRF_VECTORS = [  # input, blinded, evaluated, proof, output (proof nonce = BLIND_2)
    (INPUTS[0], "863f330cc1a1259ed5a5998a23acfd37fb4351a793a5b3c090b642ddc439b945",
     "aa8fa048764d5623868679402ff6108d2521884fa138cd7f9c7669a9a014267e",
     "ddef93772692e535d1a53903db24367355cc2cc78de93b3be5a8ffcc6985dd06"
     "6d4346421d17bf5117a2a1ff0fcb2a759f58a539dfbe857a40bce4cf49ec600d",
     "b58cfbe118e0cb94d79b5fd6a6dafb98764dff49c14e1770b566e42402da1a7d"
     "a4d8527693914139caee5bd03903af43a491351d23b430948dd50cde10d32b3c"),
    (INPUTS[1], "cc0b2a350101881d8a4cba4c80241d74fb7dcbfde4a61fde2f91443c2bf9ef0c",
     "60a59a57208d48aca71e9e850d22674b611f752bed48b36f7a91b372bd7ad468",
     "401a0da6264f8cf45bb2f5264bc31e109155600babb3cd4e5af7d181a2c9dc0a"
     "67154fabf031fd936051dec80b0b6ae29c9503493dde7393b722eafdf5a50b02",
     "8a9a2f3c7f085b65933594309041fc1898d42d0858e59f90814ae90571a6df60"
     "356f4610bf816f27afdd84f47719e480906d27ecd994985890e5f539e7ea74b6"),
]
# A.1.2 test vector 3: both inputs in one batch, blinds BLIND_1 and BLIND_2
BATCH_BLINDED_2 = "90a0145ea9da29254c3a56be4fe185465ebb3bf2a1801f7124bbbadac751e654"
BATCH_NONCE = h("419c4f4f5052c53c45f3da494d2b67b220d02118e0857cdbcf037f9ea84bbe0c")
BATCH_PROOF = ("cc203910175d786927eeb44ea847328047892ddf8590e723c37205cb74600b0a"
               "5ab5337c8eb4ceae0494c2cf89529dcf94572ed267473d567aeed6ab873dee08")


@pytest.mark.parametrize(("x", "blinded", "evaluated", "output"), OPRF_VECTORS)
def test_oprf_mode_vectors(x: bytes, blinded: str, evaluated: str, output: str) -> None:
    oprf = Suite(MODE_OPRF)
    sk, _pk = oprf.derive_key_pair(SEED, KEY_INFO)
    assert sk.hex() == OPRF_SK
    blind, element = oprf.blind(x, BLIND_1)
    assert element.hex() == blinded
    (answer,), proof = oprf.blind_evaluate(sk, [element])
    assert (answer.hex(), proof) == (evaluated, b"")
    assert oprf.finalize(x, blind, answer).hex() == output
    assert oprf.evaluate(sk, x).hex() == output


@pytest.mark.parametrize(("x", "blinded", "evaluated", "proof", "output"), VOPRF_VECTORS)
def test_voprf_mode_vectors(x: bytes, blinded: str, evaluated: str, proof: str,
                            output: str) -> None:
    voprf = Suite(MODE_VOPRF)
    sk, pk = voprf.derive_key_pair(SEED, KEY_INFO)
    assert (sk.hex(), pk.hex()) == (VOPRF_SK, VOPRF_PK)
    blind, element = voprf.blind(x, BLIND_1)
    assert element.hex() == blinded
    (answer,), made = voprf.blind_evaluate(sk, [element], nonce=BLIND_2)
    assert (answer.hex(), made.hex()) == (evaluated, proof)
    voprf.verify(pk, [element], [answer], made)
    assert voprf.finalize(x, blind, answer).hex() == output


def test_voprf_batch_vector_one_proof_for_two_inputs() -> None:
    voprf = Suite(MODE_VOPRF)
    sk, pk = voprf.derive_key_pair(SEED, KEY_INFO)
    blinds = (BLIND_1, BLIND_2)
    elements = [voprf.blind(x, b)[1] for x, b in zip(INPUTS, blinds, strict=True)]
    assert [e.hex() for e in elements] == [VOPRF_VECTORS[0][1], BATCH_BLINDED_2]
    answers, proof = voprf.blind_evaluate(sk, elements, nonce=BATCH_NONCE)
    assert proof.hex() == BATCH_PROOF
    voprf.verify(pk, elements, answers, proof)
    outputs = [voprf.finalize(x, b, a) for x, b, a in zip(INPUTS, blinds, answers, strict=True)]
    assert [o.hex() for o in outputs] == [VOPRF_VECTORS[0][4], VOPRF_VECTORS[1][4]]


def test_the_fast_implementation_matches_the_vectors_and_the_reference() -> None:
    """voprf derives the RFC's key, evaluates the RFC's blinded element to the RFC's
    answer, and its outputs equal the reference's for values of our own."""
    fast = suite.Evaluator(SEED, KEY_INFO)
    assert fast.public_key.hex() == VOPRF_PK
    reference = Suite(MODE_VOPRF)
    sk, pk = reference.derive_key_pair(SEED, KEY_INFO)
    answer = fast.evaluate(h(VOPRF_VECTORS[0][1]))
    assert answer[suite.PROOF_BYTES:].hex() == VOPRF_VECTORS[0][2]
    # voprf's proof (its own random nonce) verifies under the reference
    reference.verify(pk, [h(VOPRF_VECTORS[0][1])], [answer[suite.PROOF_BYTES:]],
                     answer[:suite.PROOF_BYTES])
    # reference blinds + fast service + reference finalize == reference direct evaluation
    values = [suite.prf_input("phone", "+447700900123"), suite.prf_input("mk:fn+dob", "x|y")]
    blinded = [reference.blind(v) for v in values]
    answer = fast.evaluate(b"".join(e for _, e in blinded))
    evaluated = [answer[64 + 32 * i:96 + 32 * i] for i in range(len(values))]
    reference.verify(pk, [e for _, e in blinded], evaluated, answer[:64])
    outputs = [reference.finalize(v, b, z)
               for v, (b, _), z in zip(values, blinded, evaluated, strict=True)]
    assert outputs == [reference.evaluate(sk, v) for v in values]


def test_the_reference_service_answers_the_fast_client() -> None:
    """voprf blinds and finalizes; the libsodium reference evaluates and proves."""
    reference = Suite(MODE_VOPRF)
    sk, pk = reference.derive_key_pair(os.urandom(32), b"crossforce keyservice epoch 1")
    values = [suite.prf_input("email", f"person{i}@example.org") for i in range(5)]
    states, blinded = suite.blind(values)
    elements = [blinded[i:i + 32] for i in range(0, len(blinded), 32)]
    answers, proof = reference.blind_evaluate(sk, elements)
    outputs = suite.finalize(states, proof + b"".join(answers), pk)
    assert outputs == [reference.evaluate(sk, v) for v in values]


def test_a_proof_made_with_another_key_is_refused_by_both() -> None:
    honest = suite.Evaluator(os.urandom(32), b"epoch 1")
    other = suite.Evaluator(os.urandom(32), b"epoch 1")  # a service using a second key
    values = [b"crossforce/v1|phone|+447700900001", b"crossforce/v1|phone|+447700900002"]
    states, blinded = suite.blind(values)
    answer = other.evaluate(blinded)
    with pytest.raises(InvalidProof, match="does not verify"):
        suite.finalize(states, answer, honest.public_key)
    elements = [blinded[:32], blinded[32:]]
    with pytest.raises(InvalidProof):
        Suite(MODE_VOPRF).verify(honest.public_key, elements,
                                 [answer[64:96], answer[96:]], answer[:64])
    # the right key with the answers swapped: the batch proof no longer fits either
    with pytest.raises(InvalidProof):
        suite.finalize(states, answer[:64] + answer[96:] + answer[64:96], other.public_key)


def test_tokens_bind_purpose_and_epoch() -> None:
    y = bytes(range(64))
    one = suite.token(y, "CSE-NATIONAL", 1)
    assert len(one) == 16
    assert one != suite.token(y, "CSE-NATIONAL", 2)
    assert one != suite.token(y, "OTHER-PURPOSE", 1)
    # the same HMAC inside DuckDB, as egress computes it from the node's cached outputs
    con = duckdb.connect()
    got = con.execute(f"SELECT {suite.token_sql('$y')}",
                      {"y": y, "cf_token_message": "token|CSE-NATIONAL|1"}).fetchone()[0]
    assert bytes(got) == one
