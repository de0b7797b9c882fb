"""Tokens: keyed, fixed-width, byte-identical on every path, and one per written number."""

from __future__ import annotations

import hashlib
import hmac

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from phone_forms import gb_mobile_nsn, separator, written_forms

from federation.keys import LinkageSecret
from federation.tokens import (
    TOKEN_BYTES,
    Tokeniser,
    binary_to_numpy,
    token_sql,
    tokenise_relation,
    tokens_to_arrow,
)

SECRET = LinkageSecret(bytes(range(32)))
KEY = SECRET.derive("op-kingfisher", 1)
TOKENISER = Tokeniser(KEY)


def reference(key: bytes, kind: str, value: str) -> bytes:
    """The definition: HMAC-SHA256(key, kind ‖ 0x1f ‖ value), first 16 bytes."""
    return hmac.digest(key, kind.encode() + b"\x1f" + value.encode(), "sha256")[:TOKEN_BYTES]


def test_token_key_derivation_is_standard_hkdf_sha256() -> None:
    """RFC 5869 written out with the standard library, so the key is reproducible anywhere."""
    prk = hmac.digest(b"crossforce/linkage", bytes(range(32)), "sha256")
    info = b"crossforce token key v1\x1fop-kingfisher\x1f1"
    assert hmac.digest(prk, info + b"\x01", "sha256") == KEY


def test_known_answer_vector() -> None:
    """Pinned values: any change to derivation or message layout breaks linkage across
    forces running different versions, so it must be deliberate."""
    assert KEY.hex() == "44815b961d714f4a23da459fc88f2e6afa3f27600093f8bbbf3cc4146d4fc444"
    assert TOKENISER.token("phone", "+447700900123").hex() == "7b41a561a5d0dd1103e11f779d886f67"
    assert TOKENISER.token("email", "jay@example.com").hex() == "d5a866b99c25ac1f34272d0ba40aa007"


VALUES = ["+447700900123", "jay@example.com", "é ünïcödé", "", "x" * 200, "+447911123456"]


def test_every_fast_path_is_byte_identical_to_hmac_digest() -> None:
    want = np.array([list(reference(KEY, "phone", v)) for v in VALUES], dtype=np.uint8)
    assert (TOKENISER.tokens("phone", VALUES) == want).all()  # Python path
    many = [f"+44791{i:07d}" for i in range(25_000)]  # above the DuckDB threshold
    got = TOKENISER.tokens("phone", many)
    assert got.shape == (25_000, TOKEN_BYTES) and got.dtype == np.uint8
    for i in (0, 1, 12_345, 24_999):
        assert got[i].tobytes() == reference(KEY, "phone", many[i])
    con = duckdb.connect()
    rows = con.execute(f"SELECT {token_sql('v', chr(39) + 'phone' + chr(39))} FROM "
                       "unnest($vals) t(v)", {**TOKENISER.sql_params(), "vals": VALUES}
                       ).fetchall()
    assert [r[0] for r in rows] == [reference(KEY, "phone", v) for v in VALUES]


def test_a_key_longer_than_a_block_is_hashed_first_as_hmac_does() -> None:
    long_key = bytes(range(100))
    assert Tokeniser(long_key).token("phone", "+447700900123") == \
        hmac.digest(long_key, b"phone\x1f+447700900123", hashlib.sha256)[:16]


def test_tokens_differ_across_purposes_epochs_and_kinds() -> None:
    value = "+447700900123"
    base = Tokeniser(SECRET.derive("op-kingfisher", 1)).token("phone", value)
    assert base != Tokeniser(SECRET.derive("op-heron", 1)).token("phone", value)
    assert base != Tokeniser(SECRET.derive("op-kingfisher", 2)).token("phone", value)
    assert base != Tokeniser(SECRET.rotated().derive("op-kingfisher")).token("phone", value)
    assert base != TOKENISER.token("mk:name_dob", value)
    assert base != hashlib.sha256(value.encode()).digest()[:16]  # not a plain hash


@given(gb_mobile_nsn, separator)
@settings(max_examples=50, deadline=None)
def test_every_written_form_of_one_number_gives_one_token(nsn: str, sep: str) -> None:
    forms = written_forms(nsn, sep)
    tokens, ok = TOKENISER.tokens_from_raw("phone", forms)
    assert ok.all()
    assert len({t.tobytes() for t in tokens}) == 1
    assert tokens[0].tobytes() == reference(KEY, "phone", "+44" + nsn)


def test_tokens_from_raw_marks_values_that_are_not_numbers() -> None:
    raw = ["07700 900123", None, "Voicemail", "+44 7700 900123", "999"]
    tokens, ok = TOKENISER.tokens_from_raw("phone", raw)
    assert ok.tolist() == [True, False, False, True, False]
    assert (tokens[~ok] == 0).all()
    assert tokens[0].tobytes() == tokens[3].tobytes() == reference(KEY, "phone",
                                                                   "+447700900123")


def test_missing_values_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="index 1 is missing"):
        TOKENISER.tokens("phone", ["+447700900123", None])  # type: ignore[list-item]
    assert TOKENISER.tokens("phone", []).shape == (0, TOKEN_BYTES)


def test_tokenise_a_relation_inside_duckdb() -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE phones AS SELECT * FROM (VALUES (1, '+447700900123'), "
                "(2, NULL), (3, '+447911123456')) t(id, value)")
    rel = tokenise_relation(con, TOKENISER, "phone", "phones", "value")
    rows = rel.order("id").fetchall()
    assert rows[0][2] == reference(KEY, "phone", "+447700900123")
    assert rows[1][2] is None
    from_rel = tokenise_relation(con, TOKENISER, "phone", con.table("phones"), "value")
    assert from_rel.order("id").fetchall() == rows
    assert con.execute("SELECT typeof(token) FROM (SELECT * FROM rel) LIMIT 1").fetchone() \
        == ("BLOB",)


def test_the_key_pads_are_never_stored_in_the_database() -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE phones AS SELECT '+447700900123' AS value")
    tokenise_relation(con, TOKENISER, "phone", con.table("phones"), "value").fetchall()
    ipad = TOKENISER.sql_params()["cf_ipad"].hex()
    ddl = " ".join(r[0] or "" for r in con.execute(
        "SELECT sql FROM duckdb_views() UNION ALL SELECT sql FROM duckdb_tables()").fetchall())
    assert ipad not in ddl.lower() and "cf_ipad" not in ddl


def test_tokens_round_trip_through_arrow_without_hex() -> None:
    tokens = TOKENISER.tokens("phone", VALUES)
    arrow = tokens_to_arrow(tokens)
    assert arrow.type == pa.binary(TOKEN_BYTES)
    assert (binary_to_numpy(arrow) == tokens).all()


def test_a_short_token_key_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        Tokeniser(b"short")
