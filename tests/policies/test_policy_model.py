"""Policy files: validated into one SharePolicy, with errors that say where and what."""

from __future__ import annotations

import re

import pytest

from policies.model import (
    PolicyError,
    PolicyNotFound,
    SharePolicy,
    default_names,
    default_policy,
    default_policy_text,
    load_policy,
    parse_policy,
)

MINIMAL = """\
[purpose]
code = "TEST-PURPOSE"
lawful_basis = "DPA 2018 Part 3 s.31, a test purpose"
"""


def problems_of(text: str) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "policy.toml")
    return caught.value.problems


# --------------------------------------------------------------------------- defaults


def test_every_default_policy_is_valid_and_distinct() -> None:
    names = default_names()
    assert {"cse-national", "county-lines", "matching-only"} <= set(names)
    versions = {default_policy(n).version for n in names}
    assert len(versions) == len(names)


def test_a_minimal_policy_gets_the_safe_defaults(write_policy, minimal_policy_text) -> None:
    policy = load_policy(write_policy(minimal_policy_text))
    assert policy.share.roles == ["facilitator", "offender", "suspect"]
    assert policy.share.victims == "exclude"
    assert policy.disclosure.threshold == 10 and policy.disclosure.rounding == 5
    assert policy.disclosure.secondary_suppression
    assert policy.privacy is None
    assert policy.intelligence.handling_codes == ["P"]
    assert policy.aggregates.dimensions == []  # no aggregates unless named


def test_victims_are_opt_in_and_match_only() -> None:
    assert default_policy("county-lines").roles_match_only == frozenset()
    cse = default_policy("cse-national")
    assert cse.roles_match_only == {"victim"}
    assert "victim" not in cse.roles_shown


def test_token_kinds_follow_identifiers_and_match_keys() -> None:
    policy = default_policy("matching-only")
    assert policy.allows_token_kind("phone")
    assert not policy.allows_token_kind("email")
    assert policy.allows_token_kind("mk:name_dob")
    assert not policy.allows_token_kind("mk:")


# --------------------------------------------------------------------------- version


def test_version_is_the_sha256_of_the_canonical_json() -> None:
    import hashlib

    policy = default_policy("cse-national")
    assert re.fullmatch(r"[0-9a-f]{64}", policy.version)
    assert policy.version == hashlib.sha256(policy.canonical_json().encode()).hexdigest()


def test_version_ignores_comments_whitespace_order_and_written_out_defaults() -> None:
    original = parse_policy(MINIMAL + '[share]\nroles = ["suspect", "offender"]\n')
    reformatted = parse_policy(
        "# a comment the data owner added\n\n"
        '[share]\nroles   =   [ "offender",\n   "suspect", "suspect" ]  # reordered\n'
        'victims = "exclude"            # the default, written out\n\n'
        '[purpose]\nlawful_basis = "DPA 2018 Part 3 s.31, a test purpose"\n'
        'code = "TEST-PURPOSE"\n\n[disclosure]\nthreshold = 10\n'
    )
    assert reformatted.version == original.version


def test_writing_out_every_default_keeps_the_version() -> None:
    spelled_out = MINIMAL + """
[share]
identifiers = ["phone", "email", "handle", "vrm", "imei"]
match_keys = true
roles = ["suspect", "offender", "facilitator"]
victims = "exclude"
attributes = []
[links]
kinds = ["person_identifier", "co_suspect"]
communication_buckets = [1, 5, 20, 100]
[disclosure]
threshold = 10
rounding = 5
secondary_suppression = true
[retention]
days = 365
[stop_list]
max_distinct_contacts = 50
[intelligence]
handling_codes = ["P"]
"""
    assert parse_policy(spelled_out).version == parse_policy(MINIMAL).version


def test_version_changes_with_any_real_change() -> None:
    base = parse_policy(MINIMAL).version
    changed = [
        MINIMAL + "[disclosure]\nthreshold = 11\n",
        MINIMAL + '[share]\nvictims = "match-only"\n',
        MINIMAL + '[share]\nroles = ["suspect"]\n',
        MINIMAL.replace("a test purpose", "another test purpose"),
        MINIMAL + "[retention]\ndays = 366\n",
    ]
    versions = {parse_policy(text).version for text in changed}
    assert base not in versions and len(versions) == len(changed)


def test_every_default_file_reformatted_keeps_its_version() -> None:
    for name in default_names():
        text = default_policy_text(name)
        stripped = "\n".join(line for line in text.splitlines()
                             if not line.lstrip().startswith("#"))
        spaced = re.sub(r" = ", "    =    ", stripped)
        assert parse_policy(spaced).version == default_policy(name).version, name


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(("extra", "expected"), [
    ('[share]\nroles = ["suspectt"]\n',
     "policy.toml:5: [share] roles: 'suspectt' is not a role (did you mean 'suspect'?); "
     "expected one of suspect, offender, witness, reporting_person, facilitator, associate"),
    ('[share]\nroles = ["victim", "suspect"]\n',
     "policy.toml:5: [share] roles: victims are never in 'roles'; set victims = "
     '"match-only"'),
    ('[share]\nvictims = "display"\n',
     "policy.toml:5: [share] victims: 'display' is not a victims setting; expected one of "
     "exclude, match-only"),
    ('[share]\nidentifiers = ["phone", "passport"]\n',
     "policy.toml:5: [share] identifiers: 'passport' is not an identifier kind"),
    ('[share]\nattributes = ["dob"]\n',
     "policy.toml:5: [share] attributes: 'dob' is not an item attribute"),
    ('[share]\nroles = "suspect"\n',
     "policy.toml:5: [share] roles: expected a list such as"),
    ('[share]\nmatch_keys = "yes"\n',
     "policy.toml:5: [share] match_keys: input should be a valid boolean, got 'yes'"),
    ('[links]\nkinds = ["comunication"]\n',
     "policy.toml:5: [links] kinds: 'comunication' is not a link kind (did you mean "
     "'communication'?)"),
    ("[links]\ncommunication_buckets = [1, 10, 5]\n",
     "policy.toml:5: [links] communication_buckets: bucket edges must be strictly increasing"),
    ("[links]\ncommunication_buckets = [2, 10]\n",
     "policy.toml:5: [links] communication_buckets: the first bucket edge must be 1"),
    ("[disclosure]\nthreshold = 0\n",
     "policy.toml:5: [disclosure] threshold: input should be greater than or equal to 1"),
    ('[disclosure]\nrounding = "5"\n',
     "policy.toml:5: [disclosure] rounding: input should be a valid integer, got '5'"),
    ("[disclosure]\nthreshhold = 10\n",
     "policy.toml:5: [disclosure] threshhold: unknown key; did you mean 'threshold'?"),
    ("[privacy]\nepsilon = 2.0\nbudget = 1.0\n",
     "policy.toml:4: [privacy]: epsilon 2.0 per query is more than the whole budget 1.0"),
    ("[privacy]\nepsilon = 0.5\n",
     "policy.toml:4: [privacy] budget: required key is missing"),
    ("[scope]\ndate_from = 2024-01-01\ndate_to = 2023-01-01\n",
     "policy.toml:4: [scope]: date_from 2024-01-01 is after date_to 2023-01-01"),
    ('[scope]\ndate_from = "2024-01-01"\n',
     "policy.toml:5: [scope] date_from: expected a TOML date such as 2020-01-01 (no quotes)"),
    ("[scope]\noffence_codes = [88]\n",
     "policy.toml:5: [scope] offence_codes: 88 is not a Home Office offence code"),
    ('[scope]\ncategories = ["county_lines"]\n',
     "policy.toml:5: [scope] categories: 'county_lines' is not a crime category"),
    ('[aggregates]\ndimensions = ["postcode"]\n',
     "policy.toml:5: [aggregates] dimensions: 'postcode' is not an aggregate dimension"),
    ('[intelligence]\nhandling_codes = ["P", "C"]\n',
     "policy.toml:5: [intelligence] handling_codes: intelligence with handling code C "
     "(sharing with conditions) never auto-shares"),
    ("[retention]\ndays = 0\n",
     "policy.toml:5: [retention] days: input should be greater than or equal to 1"),
    ("[stop_list]\nmax_distinct_contacts = 1\n",
     "policy.toml:5: [stop_list] max_distinct_contacts: input should be greater than or "
     "equal to 2"),
    ("[retension]\ndays = 30\n",
     "policy.toml:4: [retension]: unknown section; did you mean 'retention'?"),
])
def test_each_mistake_names_file_line_key_and_problem(extra: str, expected: str) -> None:
    problems = problems_of(MINIMAL + extra)
    assert len(problems) == 1, problems
    assert problems[0].startswith(expected), problems[0]


def test_purpose_mistakes() -> None:
    problems = problems_of('[purpose]\ncode = "toex cse"\nlawful_basis = "short"\n')
    assert problems == [
        "policy.toml:2: [purpose] code: 'toex cse' is not a purpose code; use 2-64 upper-case "
        "letters, digits, '-' or '_', e.g. TOEX-CSE-2026",
        "policy.toml:3: [purpose] lawful_basis: string should have at least 10 characters, "
        "got 'short'",
    ]


def test_a_missing_purpose_is_named() -> None:
    assert problems_of("[share]\nmatch_keys = false\n") == [
        "policy.toml: [purpose]: required key is missing"]


def test_all_problems_are_reported_at_once_in_line_order() -> None:
    problems = problems_of(MINIMAL + '[share]\nvictims = "all"\nroles = ["suspectt"]\n'
                           "[disclosure]\nrounding = 0\n")
    assert [p.split(":")[1] for p in problems] == ["5", "6", "8"]


def test_a_toml_syntax_error_names_the_line() -> None:
    problems = problems_of(MINIMAL + "[share\nroles = 1\n")
    assert len(problems) == 1
    assert problems[0].startswith("policy.toml: not valid TOML:")
    assert "line 4" in problems[0]


def test_missing_file_and_unknown_default_are_clear(tmp_path) -> None:
    with pytest.raises(PolicyNotFound, match="no such policy file"):
        load_policy(tmp_path / "nope.toml")
    with pytest.raises(PolicyNotFound, match="did you mean 'cse-national'"):
        default_policy("cse-natonal")


def test_the_policy_object_is_frozen() -> None:
    policy = default_policy("cse-national")
    with pytest.raises(Exception, match="frozen"):
        policy.share.roles = ["witness"]  # type: ignore[misc]
    assert isinstance(policy, SharePolicy)
