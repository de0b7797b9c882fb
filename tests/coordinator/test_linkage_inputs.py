"""Linkage takes opaque tokens only, and refuses anything else before touching the store."""

from __future__ import annotations

import duckdb
import pytest
from linkage_data import WORLD_SMALL, encode

from coordinator.linkage import link
from coordinator.schema import REQUIRED_COLUMNS, TOKEN_BYTES, check_linkage_inputs
from coordinator.settings import LinkageSettings
from federation.errors import CrossforceError


def test_inputs_are_blob_tokens_and_refs_only():
    """The schema linkage checks is the privacy contract: refs and tokens are BLOBs."""
    assert REQUIRED_COLUMNS["tokens"]["token"] == "BLOB"
    assert REQUIRED_COLUMNS["tokens"]["ref"] == "BLOB"
    assert REQUIRED_COLUMNS["items"]["ref"] == "BLOB"
    con = duckdb.connect()
    encode(con, {"force a": WORLD_SMALL, "force b": WORLD_SMALL})
    check_linkage_inputs(con)
    lengths = con.execute("SELECT DISTINCT octet_length(token), octet_length(ref) FROM tokens"
                          ).fetchall()
    assert lengths == [(TOKEN_BYTES, TOKEN_BYTES)]


def test_a_raw_value_column_is_refused():
    con = duckdb.connect()
    con.execute("CREATE TABLE items (force VARCHAR, ref BLOB, kind VARCHAR)")
    con.execute("CREATE TABLE tokens (force VARCHAR, ref BLOB, token_kind VARCHAR, "
                "token VARCHAR)")
    con.execute("INSERT INTO tokens VALUES ('force a', '\\x00'::BLOB, 'phone', '07700900123')")
    with pytest.raises(CrossforceError, match=r"`tokens` column `token` is VARCHAR, must be BLOB"):
        link(con)


def test_a_token_that_is_not_16_bytes_is_refused():
    con = duckdb.connect()
    encode(con, {"force a": WORLD_SMALL})
    con.execute("INSERT INTO tokens VALUES ('force a', ?, 'phone', ?)",
                [bytes(16), b"07700900123"])
    with pytest.raises(CrossforceError, match=r"1 value\(s\) in tokens.token are not 16-byte"):
        link(con)
    assert not con.execute("SELECT count(*) FROM information_schema.tables "
                           "WHERE table_name = 'entities'").fetchone()[0]


def test_an_empty_store_says_what_to_do():
    with pytest.raises(CrossforceError, match="no `items` table; submit payloads first"):
        link(duckdb.connect())


def test_a_missing_column_is_named():
    con = duckdb.connect()
    con.execute("CREATE TABLE items (force VARCHAR, ref BLOB)")
    with pytest.raises(CrossforceError, match="`items` lacks column `kind`"):
        link(con)


@pytest.mark.parametrize(("values", "message"), [
    ({"match_probability": 1.5}, "match_probability: Input should be less than 1"),
    ({"min_agreeing_keys": 0}, "min_agreeing_keys: Input should be greater than or equal to 1"),
    ({"max_token_frequency": 1}, "max_token_frequency"),
    ({"identifier_kinds": ["mk:fn+dob"]}, "identifier_kinds must not be match keys"),
    ({"treshold": 0.9}, "treshold: Extra inputs are not permitted"),
])
def test_bad_settings_are_refused_by_name(values, message):
    with pytest.raises(CrossforceError, match=message):
        LinkageSettings.parse(values)


def test_default_settings_are_the_documented_ones():
    s = LinkageSettings.parse({})
    assert (s.match_probability, s.cross_force_only, s.one_to_one) == (0.5, False, True)
    assert (s.within_force_weight, s.veto_weight, s.passes, s.count_implied_keys,
            s.one_to_one_exempt_weight) == (10.0, -10.0, 2, False, None)
    assert (s.chance, s.strict_chance, s.one_to_one_sibling_weight) == (
        "per_key", "conditional", 0.0)
