"""The national CSE definition file: validated like a sharing policy, versioned by content."""

from __future__ import annotations

import pytest

from policies.definition import DEFINITION_FILE, DefinitionError, load_definition, parse_definition

NATIONAL = DEFINITION_FILE.read_text()


def _problems(text: str) -> list[str]:
    with pytest.raises(DefinitionError) as exc:
        parse_definition(text, "draft.toml")
    return exc.value.problems


def _line(text: str, needle: str) -> int:
    return next(i for i, ln in enumerate(text.splitlines(), 1) if needle in ln)


def test_the_national_definition_loads_with_the_sourced_settings():
    d = load_definition()
    assert d.r1.age_threshold == 18
    assert d.r7.victim_criterion is False       # unverified: off by default
    assert d.strength("shared_contact") == d.strength("co_location") == "weak"
    assert "88A" in d.offences.cse_specific and "71/17" in d.offences.sexual
    assert len(d.version) == 64


def test_comments_and_order_do_not_change_the_version_but_a_setting_does():
    d = load_definition()
    reordered = NATIONAL.replace('flags = ["cse", "group"]', 'flags = ["group", "cse"]')
    assert parse_definition("# a comment\n" + reordered).version == d.version
    changed = NATIONAL.replace("age_threshold = 18", "age_threshold = 16")
    assert parse_definition(changed).version != d.version


def test_an_unknown_rule_is_one_line_with_file_line_and_a_suggestion():
    text = NATIONAL.replace("[r3]", "[r33]")
    assert _problems(text) == [
        f"draft.toml:{_line(text, '[r33]')}: [r33]: unknown section; did you mean 'r3'?"]


def test_an_unknown_offence_list_or_key_is_named_with_its_line():
    text = NATIONAL.replace("cse_specific = [", "cse_spesific = [")
    assert _problems(text) == [
        f"draft.toml:{_line(text, 'cse_spesific')}: [offences] cse_spesific: unknown key; "
        "did you mean 'cse_specific'?"]
    text = NATIONAL.replace('co_location = "weak"', 'colocation = "weak"')
    assert _problems(text) == [
        f"draft.toml:{_line(text, 'colocation =')}: [associations] colocation: unknown key; "
        "did you mean 'co_location'?"]


def test_values_off_their_vocabulary_are_refused():
    text = NATIONAL.replace('shared_vehicle = "strong"', 'shared_vehicle = "medium"')
    (problem,) = _problems(text)
    assert problem.startswith(f"draft.toml:{_line(text, 'shared_vehicle =')}: "
                              "[associations] shared_vehicle: 'medium' is not an association "
                              "strength")
    (problem,) = _problems(NATIONAL.replace('intel_grades = ["A", "B", "C", "D"]',
                                            'intel_grades = ["A", "F"]'))
    assert "'F' is not an intelligence assessment grade (A-E)" in problem


def test_a_code_outside_the_sexual_offences_would_do_nothing_and_is_refused():
    (problem,) = _problems(NATIONAL.replace('cse_specific = ["88A"]',
                                            'cse_specific = ["88A", "92A"]'))
    assert problem == ("draft.toml: definition: [offences] cse_specific names 92A, not in "
                       "[offences] sexual: R1 never holds for them, so the entry would do "
                       "nothing")


def test_an_impossible_review_window_is_refused():
    (problem,) = _problems(NATIONAL.replace("closed_to = 2025-03-31",
                                            "closed_to = 2009-03-31"))
    assert "closed_from 2010-01-01 is after closed_to 2009-03-31" in problem


def test_a_missing_file_is_one_line(tmp_path):
    with pytest.raises(DefinitionError) as exc:
        load_definition(tmp_path / "nope.toml")
    assert exc.value.problems == [f"{tmp_path / 'nope.toml'}: no such definition file"]


def test_the_cli_prints_one_error_line_for_a_bad_draft(cli, tmp_path):
    draft = tmp_path / "draft.toml"
    draft.write_text(NATIONAL.replace("[r3]", "[r33]"))
    r = cli("node", "analyse", "cse", "--dir", tmp_path, "--definition", draft)
    assert r.code == 2
    assert r.err.strip() == (f"error: draft.toml:{_line(draft.read_text(), '[r33]')}: "
                             "[r33]: unknown section; did you mean 'r3'?")
