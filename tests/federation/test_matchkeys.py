"""Person match keys: one person written two ways shares keys; two people rarely do."""

from __future__ import annotations

import datetime as dt

import duckdb
import pyarrow as pa
import pytest

from federation.errors import CrossforceError
from federation.matchkeys import (
    DEFAULT_KEYS,
    NAME_DOB_KEYS,
    MatchKey,
    match_key_tokens,
    match_key_values,
)
from federation.tokens import Tokeniser

TOKENISER = Tokeniser(b"match key tests token key 32 byt")

MOHAMMED = {"given_names": "Mohammed Yusuf", "family_name": "Ali", "dob": "1990-03-04",
            "postcode": "LS1 4AB", "address": "12 High Street, Flat 2, Leeds"}
#: the same man as another force wrote him: case, spacing, a title, day-first date, a
#: postcode without its space, a typo in the street
MOHAMMED_AGAIN = {"given_names": "MOHAMMED", "family_name": "Mr Ali", "dob": "04/03/1990",
                  "postcode": "ls14ab", "address": "12 Hihg Street, Leeds"}
#: a different man: same surname and birth year, similar first name, other home
MUHAMMAD = {"given_names": "Muhammad", "family_name": "Ali", "dob": "1990-11-21",
            "postcode": "B10 0AA", "address": "3 Coventry Road, Birmingham"}


def keys_of(*people: dict) -> list[dict[str, str]]:
    table = match_key_values(pa.Table.from_pylist(list(people)))
    out: list[dict[str, str]] = [{} for _ in people]
    for row, kind, value in zip(*(table.column(c).to_pylist() for c in table.column_names),
                                strict=True):
        out[row].setdefault(kind, value)
    return out


def shared(a: dict, b: dict) -> set[str]:
    ka, kb = keys_of(a, b)
    return {k for k in ka.keys() & kb.keys() if ka[k] == kb[k]}


def test_two_written_forms_of_one_person_share_most_keys():
    common = shared(MOHAMMED, MOHAMMED_AGAIN)
    assert {"mk:fn+sn", "mk:fn+dob", "mk:sn+dob", "mk:sn+pc", "mk:dob+pc",
            "mk:dob+loc"} <= common
    assert len(common) >= 12


def test_a_look_alike_shares_at_most_a_phonetic_key():
    assert shared(MOHAMMED, MUHAMMAD) <= {"mk:fn_ny+sn_ny", "mk:fn_mp+sn_mp+yob",
                                          "mk:fn_mp+yob", "mk:sn_mp+yob"}


def test_swapped_given_and_family_name_still_share_a_key():
    swapped = {**MOHAMMED, "given_names": "Ali", "family_name": "Mohammed"}
    assert "mk:nm+dob" in shared(MOHAMMED, swapped)


def test_a_transposed_day_and_month_still_shares_a_key():
    us_style = {**MOHAMMED, "dob": "1990-04-03"}
    assert "mk:fn+sn+dob_dm" in shared(MOHAMMED, us_style)


def test_keys_with_a_missing_field_are_left_out_not_made_of_blanks():
    (keys,) = keys_of({"given_names": "Ann", "family_name": None, "dob": None,
                       "postcode": "SW1A 1AA", "address": None})
    assert set(keys) == {"mk:fn+pc"}
    assert keys["mk:fn+pc"] == "ann|SW1A 1AA"


def test_a_date_column_and_its_written_forms_give_the_same_keys():
    (from_date,) = keys_of({**MOHAMMED, "dob": dt.date(1990, 3, 4)})  # a DATE column
    for written in ("1990-03-04", "04/03/1990", "19900304", "4 March 1990"):
        assert keys_of({**MOHAMMED, "dob": written})[0] == from_date, written


def test_tokens_are_16_bytes_and_name_their_fields():
    toks = match_key_tokens(pa.Table.from_pylist([MOHAMMED, MUHAMMAD]), TOKENISER)
    assert toks.schema.field("token").type == pa.binary(16)
    assert set(toks.column("token_kind").to_pylist()) <= {k.token_kind for k in DEFAULT_KEYS}
    # the SQL HMAC agrees with the tokeniser's reference path
    assert_each_row_has_the_token_of_its_value(pa.Table.from_pylist([MOHAMMED, MUHAMMAD]))


def assert_each_row_has_the_token_of_its_value(table: pa.Table) -> None:
    toks = match_key_tokens(table, TOKENISER)
    values = match_key_values(table)
    assert toks.num_rows == values.num_rows
    made = set(zip(*(toks.column(c).to_pylist() for c in ("row", "token_kind", "token")),
                   strict=True))
    expected = {(row, kind, TOKENISER.token(kind, value)) for row, kind, value in
                zip(*(values.column(c).to_pylist() for c in values.column_names), strict=True)}
    assert made == expected


def test_another_key_gives_other_tokens():
    table = pa.Table.from_pylist([MOHAMMED])
    a = match_key_tokens(table, TOKENISER).column("token").to_pylist()
    b = match_key_tokens(table, Tokeniser(b"another purpose token key 32 byt")
                         ).column("token").to_pylist()
    assert not set(a) & set(b)


def test_a_duckdb_relation_is_accepted():
    con = duckdb.connect()
    rel = con.sql("SELECT 'Ann' AS given_names, 'Lee' AS family_name, DATE '1970-01-02' AS dob")
    assert set(match_key_values(rel, NAME_DOB_KEYS).column("token_kind").to_pylist()) >= {
        "mk:fn+sn", "mk:fn+dob", "mk:sn+dob"}


def test_a_persons_table_without_names_is_refused_by_column():
    with pytest.raises(CrossforceError, match="lacks column\\(s\\) family_name"):
        match_key_values(pa.table({"given_names": ["Ann"], "dob": ["1970-01-02"]}))


def test_an_unknown_field_is_refused():
    with pytest.raises(ValueError, match="unknown fields \\['shoe_size'\\]"):
        MatchKey(("fn", "shoe_size"))


def test_every_row_keeps_its_own_token_when_the_work_is_split_over_threads():
    # enough people for many record batches, and values shared by many rows (a household
    # postcode), which are hashed once and handed back to every row holding them
    people = [{"given_names": f"Ann{chr(97 + i % 26)}{chr(97 + i // 26 % 26)}",
               "family_name": "Lee" if i % 3 else "Khan",
               "dob": f"19{50 + i % 40}-0{1 + i % 9}-1{i % 10}",
               "postcode": ["LS1 4AB", "B10 0AA"][i % 2],
               "address": f"{i % 50} High Street, Leeds"} for i in range(6000)]
    assert_each_row_has_the_token_of_its_value(pa.Table.from_pylist(people))


# --------------------------------------------------------------------------- names


def person(given: str | None, family: str | None, dob: str | None = "1980-02-03",
           **extra: str | None) -> dict:
    return {"given_names": given, "family_name": family, "dob": dob, **extra}


NAME_KINDS = {k.token_kind for k in DEFAULT_KEYS
              if set(k.fields) & {"fn", "sn", "nm", "nw", "fi", "ini", "fn_can", "fn_mp",
                                  "sn_mp", "fn_ny", "sn_ny"}}


def all_values(*people: dict) -> list[set[tuple[str, str]]]:
    table = match_key_values(pa.Table.from_pylist(list(people)))
    out: list[set[tuple[str, str]]] = [set() for _ in people]
    for row, kind, value in zip(*(table.column(c).to_pylist() for c in table.column_names),
                                strict=True):
        out[row].add((kind, value))
    return out


def shared_kinds(a: dict, b: dict) -> set[str]:
    va, vb = all_values(a, b)
    return {kind for kind, _ in va & vb}


@pytest.mark.parametrize("unknown", ["UNK", "NS", "N/K", "nk", "Unknown", "NOT STATED",
                                     "Not Known", "none", "NULL", "N/A", "na", "-", "?", "X",
                                     "xx", "", "  "])
def test_a_placeholder_for_an_unknown_name_is_no_name(unknown):
    a, b = all_values(person(unknown, unknown), person(unknown, unknown, "1975-06-07"))
    assert not {kind for kind, _ in a | b} & NAME_KINDS
    # the same two strangers share no name key, only what their other fields give
    assert not shared_kinds(person(unknown, unknown), person(unknown, unknown)) & NAME_KINDS


def test_a_placeholder_family_name_leaves_the_given_name_keys():
    (keys,) = all_values(person("Ann", "UNK"))
    assert ("mk:fn+dob", "ann|19800203") in keys
    assert not [v for _, v in keys if "unk" in v]


def test_titles_are_no_part_of_a_name():
    for titled in (person("Sir William", "Smith"), person("William", "Smith Jr"),
                   person("Rev. Dr William", "Smith III"), person("Rt. Hon. William", "Smith")):
        assert all_values(titled) == all_values(person("William", "Smith")), titled


@pytest.mark.parametrize(("nick", "name"), [("Willie", "William"), ("Bob", "Robert"),
                                            ("Rob", "Robert"), ("Liz", "Elizabeth"),
                                            ("Jack", "John")])
def test_a_nickname_and_its_name_share_a_key(nick, name):
    assert "mk:fn_can+dob" in shared_kinds(person(nick, "Smith"), person(name, "Smith"))
    # the nickname key holds whole names only, each form its own value
    (forms,) = all_values(person(nick, "Smith"))
    assert ("mk:fn_can+dob", f"{name.lower()}|19800203") in forms


def test_a_name_with_no_nickname_is_its_own_canonical_form():
    (keys,) = all_values(person("Zebedia", "Smith"))
    assert {v for k, v in keys if k == "mk:fn_can+dob"} == {"zebedia|19800203"}


def test_different_names_do_not_share_a_nickname_key():
    assert "mk:fn_can+dob" not in shared_kinds(person("William", "Smith"),
                                               person("Robert", "Smith"))


@pytest.mark.parametrize(("a", "b"), [
    (("Mary Ann", "Smith"), ("Mary", "Ann Smith")),
    (("Ahmed", "Khan Ali"), ("Ahmed Khan", "Ali")),
    (("Ahmed", "Khan Ali"), ("Ali Ahmed", "Khan"))])
def test_names_split_otherwise_between_the_fields_share_a_key(a, b):
    assert "mk:nw+dob" in shared_kinds(person(*a), person(*b))


def test_two_typos_one_in_each_name_still_share_the_initials_key():
    assert {"mk:ini+dob", "mk:ini+ym"} <= shared_kinds(person("Jayden", "Bennett"),
                                                       person("Jyayden", "Bnennet"))


# --------------------------------------------------------------------------- dates


DAY_KEYS = {"mk:fn+dob", "mk:fn+sn+md", "mk:fn+sn+dob_dm", "mk:ini+md", "mk:nm+dob"}


def kinds_of(**p: str | None) -> set[str]:
    (keys,) = all_values(person("Ann", "Lee", **p))
    return {kind for kind, _ in keys}


def test_a_date_known_to_the_month_gives_no_key_on_the_day():
    kinds = kinds_of(dob="1980-02-01", dob_precision="month")
    assert not kinds & DAY_KEYS
    assert {"mk:fn+sn+ym", "mk:ini+ym", "mk:fn_mp+yob"} <= kinds


def test_a_date_known_to_the_year_keys_on_the_year_alone():
    kinds = kinds_of(dob="1980-06-01", dob_precision="year")
    assert not kinds & (DAY_KEYS | {"mk:fn+sn+ym", "mk:ini+ym"})
    assert {"mk:fn_mp+sn_mp+yob", "mk:fn_mp+yob"} <= kinds


def test_a_first_of_january_is_read_as_a_year_with_or_without_a_precision_column():
    assert kinds_of(dob="1980-01-01") == kinds_of(dob="1980-06-01", dob_precision="year")
    assert kinds_of(dob="1980-01-01", dob_precision="day") == kinds_of(
        dob="1980-06-01", dob_precision="year")


def test_a_date_known_to_the_day_keeps_every_date_key():
    assert kinds_of(dob="1980-02-03", dob_precision="day") == kinds_of(dob="1980-02-03")
    assert kinds_of(dob="1980-02-03", dob_precision=None) >= DAY_KEYS
    # the 1st of a month is an ordinary day when nothing says otherwise
    assert kinds_of(dob="1980-02-01") >= DAY_KEYS


def test_the_nickname_and_split_name_tokens_are_the_tokens_of_their_values():
    assert_each_row_has_the_token_of_its_value(pa.Table.from_pylist(
        [person("Willie", "Smith"), person("Mary Ann", "Smith"), person("UNK", "UNK")]))


# --------------------------------------------------------------------------- typos


@pytest.mark.parametrize(("a", "b", "kind"), [
    (("Jamie", "Hoffman"), ("Jajie", "Hoffman"), "mk:fn_d1+dob"),    # a letter wrong
    (("Portia", "Coumans"), ("Porti", "Coumans"), "mk:fn_d1+dob"),   # a letter missing
    (("Beau", "Vincent"), ("Baeu", "Vincent"), "mk:fn_d1+dob"),      # two letters swapped
    (("Chelsea", "Morrison"), ("Chelsea", "Morrson"), "mk:sn_d1+dob"),
    (("Madison", "Dixon"), ("Madison", "Dixson"), "mk:sn_d1+dob"),   # a letter added
])
def test_one_typo_in_a_name_still_shares_a_typo_key_with_the_date(a, b, kind):
    assert kind in shared_kinds(person(*a), person(*b))


def test_names_two_typos_apart_share_no_typo_key():
    assert not {"mk:fn_d1+dob", "mk:sn_d1+dob"} & shared_kinds(
        person("Jamie", "Hoffman"), person("Jxmxe", "Hxffmxn"))


def test_a_typo_key_never_stands_on_a_name_alone():
    """Beside the other name alone, a typo key makes look-alikes of namesakes (Mohammed and
    Mohamed Davidson born 20 years apart): every typo key carries the full date of birth."""
    typo_keys = [k for k in DEFAULT_KEYS if {"fn_d1", "sn_d1"} & set(k.fields)]
    assert typo_keys and all("dob" in k.fields for k in typo_keys)


def test_the_typo_forms_of_a_name_are_bounded_so_their_number_hides_its_length():
    from federation.matchkeys import TYPO_LETTERS

    (short,), (long,) = (all_values(person(n, "Lee")) for n in ("Ann", "Maximiliana"))
    count = {name: sum(k == "mk:fn_d1+dob" for k, _ in keys)
             for name, keys in (("short", short), ("long", long))}
    assert count["short"] == 3                      # ann, nn, an (twice): distinct forms
    assert count["long"] == TYPO_LETTERS + 1        # only the first letters are expanded
