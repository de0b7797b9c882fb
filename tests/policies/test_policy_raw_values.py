"""Raw-looking values: what a leaked phone number, email, postcode or name looks like."""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pytest

from policies.raw_values import find_raw_values, known_names, suspicious_tokens

CODES = ["suspect", "offender", "facilitator", "victim", "phone", "email", "handle", "vrm",
         "imei", "person", "cse", "csa", "cce", "group", "online", "88A", "71/17", "2024",
         "2024-05", "18-24", "25-34", "W1", "A1", "IC1", "NS", "UNK", "GBR", "PAK", "POL",
         "ROU", "OC15", "OC01", "mk:name_dob", "mk:surname_initial_dob", "person_identifier",
         "co_suspect", "communication", "shared_address", "shared_vehicle", "sexual_grooming",
         "OFFICIAL-SENSITIVE", "offences_by_year", "M", "F", "X", "U", "R3", "true", "false"]


@pytest.mark.parametrize(("value", "why"), [
    ("07700 900123", "phone number"),
    ("+447700900123", "phone number"),
    ("(0113) 496 0123", "phone number"),
    ("356938035643809", "IMEI"),
    ("someone.real@example.co.uk", "email"),
    ("SW1A 1AA", "postcode"),
    ("ls14dy", "postcode"),
    ("AB12 CDE", "vehicle registration"),
    ("A123 BCD", "vehicle registration"),
    ("1990-05-17", "date"),
    ("17/05/1990", "date"),
    ("John Smith", "free text or a full name"),
    ("mohammed ali", "free text or a full name"),
    ("see you at the usual place", "free text"),
    ("Smith", "personal name"),
    ("Mohammed", "personal name"),
    ("Agnieszka", "personal name"),
    (hashlib.sha256(b"+447700900123").hexdigest(), "hex digest"),
    (hashlib.md5(b"+447700900123").hexdigest(), "hex digest"),
    ("x" * 65, "longer than 64"),
])
def test_raw_values_are_spotted(value: str, why: str) -> None:
    found = find_raw_values(pa.array(["suspect", value, "cse"]))
    assert [r.value for r in found] == [value]
    assert why in found[0].why


def test_the_systems_own_codes_are_not_raw() -> None:
    assert find_raw_values(pa.array(CODES)) == []


def test_counts_are_per_distinct_value_and_nulls_ignored() -> None:
    column = pa.chunked_array([["07700 900123"] * 3 + [None], ["cse", "07700 900123"]])
    (found,) = find_raw_values(column)
    assert found.rows == 4


def test_values_are_masked_for_error_messages() -> None:
    (found,) = find_raw_values(pa.array(["07700 900123"]))
    assert found.masked == "07********23"
    assert "900" not in found.masked


def test_the_name_list_is_large_and_excludes_our_vocabulary() -> None:
    names = known_names()
    assert len(names) > 5000
    assert {"smith", "mohammed", "jones"} <= names
    assert not names & {c.casefold() for c in CODES}


def test_random_tokens_pass_and_stuffed_tokens_do_not() -> None:
    rng = np.random.default_rng(7)
    tokens = rng.integers(0, 256, size=(200_000, 16), dtype=np.uint8)
    assert not suspicious_tokens(tokens).any()
    tokens[10, :13] = np.frombuffer(b"+447700900123", dtype=np.uint8)  # phone in a token
    tokens[20, 5:] = 0  # a short value zero-padded to 16 bytes
    assert np.flatnonzero(suspicious_tokens(tokens)).tolist() == [10, 20]
