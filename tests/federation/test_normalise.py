"""Normalisation: one written value, one normalised form — the basis of every token match."""

from __future__ import annotations

import datetime as dt
import random

import duckdb
import phonenumbers
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phone_forms import gb_mobile_nsn, separator, written_forms

from federation.normalise import (
    NORMALISERS,
    normalise_date,
    normalise_email,
    normalise_handle,
    normalise_imei,
    normalise_many,
    normalise_name,
    normalise_phone,
    normalise_phone_array,
    normalise_postcode,
    normalise_vrm,
    register_duckdb_functions,
)


@given(gb_mobile_nsn, separator)
def test_every_written_form_of_one_number_gives_one_e164(nsn: str, sep: str) -> None:
    values = {normalise_phone(form) for form in written_forms(nsn, sep)}
    assert values == {"+44" + nsn}


@given(gb_mobile_nsn, separator)
def test_fast_gb_path_agrees_with_phonenumbers(nsn: str, sep: str) -> None:
    """The folding shortcut must never disagree with the library's own parse."""
    for form in written_forms(nsn, sep):
        parsed = phonenumbers.parse(form, "GB")
        assert phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) \
            == normalise_phone(form)


@given(st.text(max_size=20))
@settings(max_examples=300)
def test_phone_normalisation_is_idempotent(raw: str) -> None:
    once = normalise_phone(raw)
    if once is not None:
        assert normalise_phone(once) == once


@pytest.mark.parametrize("raw", ["999", "101", "Voicemail", "Private number", "Withheld",
                                 "", "   ", None, "2025550123", "+44 12", "07911 12345"])
def test_values_that_are_not_numbers_give_none_not_errors(raw: str | None) -> None:
    """Short codes, words and a US number written without +1 are not GB numbers."""
    assert normalise_phone(raw) is None


def test_foreign_numbers_with_country_code_are_kept() -> None:
    assert normalise_phone("+1 202 555 0123") == "+12025550123"
    assert normalise_phone("0033 6 12 34 56 78") == "+33612345678"
    assert normalise_phone("2025550123", region="US") == "+12025550123"


@pytest.mark.parametrize(
    ("fn", "raw", "expected"),
    [
        (normalise_email, "  Jay.Smith@Example.COM ", "jay.smith@example.com"),
        (normalise_email, "mailto:<A@b.co.uk>", "a@b.co.uk"),
        (normalise_email, "not an email", None),
        (normalise_vrm, "ab12 cde", "AB12CDE"),
        (normalise_vrm, "A-B", "AB"),
        (normalise_vrm, "-", None),
        (normalise_imei, "49-015420-323751", "490154203237518"),  # check digit computed
        (normalise_imei, "490154203237518", "490154203237518"),
        (normalise_imei, "490154203237519", None),  # wrong check digit
        (normalise_imei, "4901542032375100", "490154203237518"),  # IMEISV
        (normalise_imei, "12345", None),
        (normalise_postcode, "sw1a1aa", "SW1A 1AA"),
        (normalise_postcode, " m1  1ae", "M1 1AE"),
        (normalise_postcode, "not a postcode", None),
        (normalise_name, "Dr. Mohammed  ALI", "mohammed ali"),
        (normalise_name, "Seán O'Brien-Smith", "sean obrien smith"),
        (normalise_name, "Мухаммед Али", "mukhammed ali"),
        (normalise_name, "Mr.", None),
        # titles, honorifics and generations anywhere in the name
        (normalise_name, "Sir William Smith", "william smith"),
        (normalise_name, "The Rt. Hon. Lady Jane", "the jane"),
        (normalise_name, "Smith Jr.", "smith"),
        (normalise_name, "Rev. Dr John Smith III", "john smith"),
        # placeholders for a name nobody knows are no name
        (normalise_name, "UNK", None),
        (normalise_name, "NS", None),
        (normalise_name, "N/K", None),
        (normalise_name, "Not Stated", None),
        (normalise_name, "NOT KNOWN", None),
        (normalise_name, "n/a", None),
        (normalise_name, "NULL", None),
        (normalise_name, "?", None),
        (normalise_name, "XX", None),
        (normalise_name, "Mr X", None),
        (normalise_name, "Unknown", None),
        # ... but a word of a real name is kept
        (normalise_name, "Na Li", "na li"),
        (normalise_name, "Xi", "xi"),
    ],
)
def test_normalised_forms(fn, raw: str, expected: str | None) -> None:  # type: ignore[no-untyped-def]
    assert fn(raw) == expected


def test_handles_carry_their_platform() -> None:
    assert normalise_handle("IG", "@Some.User") == "instagram:some.user"
    assert normalise_handle("Snapchat", "https://www.snapchat.com/add/Jay99") == "snapchat:jay99"
    assert normalise_handle("instagram", "instagram:some.user") == "instagram:some.user"
    assert normalise_handle(None, "jay") is None  # no platform: not linkable


def test_dates_in_uk_and_iso_forms() -> None:
    want = dt.date(2003, 2, 1)
    for raw in ["2003-02-01", "01/02/2003", "1 Feb 2003", "2003-02-01T10:00:00Z", want]:
        assert normalise_date(raw) == want
    assert normalise_date("31/02/2003") is None
    assert normalise_date("soon") is None


ANY_KIND = st.sampled_from(sorted(NORMALISERS))


@given(ANY_KIND, st.text(max_size=30))
@settings(max_examples=300)
def test_every_normaliser_is_idempotent(kind: str, raw: str) -> None:
    once = NORMALISERS[kind](raw)
    if once is not None:
        assert NORMALISERS[kind](once) == once


def test_normalise_many_matches_one_by_one_and_keeps_order() -> None:
    raw = ["07911 123456", None, "voicemail", "+447911123456", "07911 123456"] * 1000
    assert normalise_many("phone", raw) == [normalise_phone(v) for v in raw]


def test_normalise_many_names_an_unknown_kind() -> None:
    with pytest.raises(ValueError, match="no normaliser for kind 'fax'"):
        normalise_many("fax", ["1"])


def test_normalisers_callable_from_duckdb_sql() -> None:
    con = duckdb.connect()
    register_duckdb_functions(con)
    rows = con.sql("SELECT normalise_phone(v), normalise_postcode(v) FROM (VALUES "
                   "('07911 123456'), (NULL), ('sw1a1aa')) t(v)").fetchall()
    assert rows == [("+447911123456", None), (None, None), (None, "SW1A 1AA")]


phone_like = st.one_of(
    st.builds(lambda nsn, sep, i: written_forms(nsn, sep)[i], gb_mobile_nsn, separator,
              st.integers(0, 7)),
    st.text("0123456789 +-().", max_size=16),
    st.text(max_size=12),
    st.none(),
)


@given(st.lists(phone_like, max_size=25))
@settings(max_examples=100, deadline=None)
def test_vectorised_phone_path_equals_one_by_one(values: list[str | None]) -> None:
    """The Arrow path must never disagree with normalise_phone, value for value."""
    assert normalise_phone_array(pa.array(values, pa.string())).to_pylist() == \
        [normalise_phone(v) for v in values]


def test_vectorised_phone_validity_matches_phonenumbers_on_random_numbers() -> None:
    rng = random.Random(7)
    values = [f"0{rng.randrange(10**(k - 1), 10**k)}" for k in (7, 9, 10) for _ in range(300)]
    values += ["07624 123456", "+44 1481 123456", "07781 123456", "01624 123456"]  # IM, GG
    assert normalise_phone_array(pa.array(values)).to_pylist() == \
        [normalise_phone(v) for v in values]


def test_normalise_many_large_inputs_take_the_arrow_path_with_the_same_result() -> None:
    raw = (["07911 123456", None, "Jay@Example.com", "+44 7911 123456"] * 20_000)
    assert normalise_many("phone", raw)[:4] == ["+447911123456", None, None, "+447911123456"]
    assert normalise_many("email", raw)[:4] == [None, None, "jay@example.com", None]
