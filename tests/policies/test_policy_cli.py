"""`crossforce policy`: check, show and list, as a data owner uses them."""

from __future__ import annotations

import json

from policies.model import default_policy


def test_check_prints_ok_and_the_version(cli, write_policy, minimal_policy_text) -> None:
    path = write_policy(minimal_policy_text)
    result = cli("policy", "check", path)
    assert result.code == 0
    version = result.out.split("version ")[1].strip()
    assert result.out == f"OK {path}: purpose TEST-PURPOSE, version {version}\n"
    assert len(version) == 64


def test_check_lists_every_problem_with_its_line(cli, write_policy,
                                                  minimal_policy_text) -> None:
    path = write_policy(minimal_policy_text + '[share]\nroles = ["suspectt"]\n'
                        'victims = "yes"\n')
    result = cli("policy", "check", path)
    assert result.code == 2
    assert result.err.splitlines() == [
        "error: policy policy.toml is not valid (2 problems):",
        "  policy.toml:5: [share] roles: 'suspectt' is not a role (did you mean 'suspect'?); "
        "expected one of suspect, offender, witness, reporting_person, facilitator, associate",
        "  policy.toml:6: [share] victims: 'yes' is not a victims setting; expected one of "
        "exclude, match-only",
    ]


def test_check_a_missing_file(cli, tmp_path) -> None:
    result = cli("policy", "check", tmp_path / "absent.toml")
    assert result.code == 2
    assert result.err.strip().endswith("absent.toml: no such policy file")


def test_show_a_default_by_name_says_what_leaves(cli) -> None:
    result = cli("policy", "show", "cse-national")
    assert result.code == 0
    assert f"Purpose TOEX-CSE (policy version {default_policy('cse-national').version})" \
        in result.out
    assert "victims: take part in matching only" in result.out
    assert "counts under 10 suppressed, others rounded to 5" in result.out
    assert "C-coded intelligence never auto-shares" in result.out


def test_show_a_file_as_json(cli, write_policy, minimal_policy_text) -> None:
    result = cli("policy", "show", write_policy(minimal_policy_text), "--json")
    assert result.code == 0
    shown = json.loads(result.out)
    assert shown["purpose"]["code"] == "TEST-PURPOSE"
    assert shown["share"]["victims"] == "exclude"
    assert len(shown["version"]) == 64


def test_show_an_unknown_name_suggests_the_closest(cli) -> None:
    result = cli("policy", "show", "county-line")
    assert result.code == 2
    assert "did you mean 'county-lines'?" in result.err


def test_list_names_every_default(cli) -> None:
    result = cli("policy", "list")
    assert result.code == 0
    for name in ("cse-national", "county-lines", "matching-only"):
        assert name in result.out
        assert default_policy(name).version[:12] in result.out


def test_every_command_explains_itself(cli) -> None:
    for command in ("check", "show", "list"):
        result = cli("policy", command, "--help")
        assert result.code == 0
        assert "Usage: crossforce policy " + command in " ".join(result.out.split())


def test_show_spells_out_differential_privacy(cli, write_policy, minimal_policy_text) -> None:
    path = write_policy(minimal_policy_text + "[privacy]\nepsilon = 0.5\nbudget = 4.0\n")
    result = cli("policy", "show", path)
    assert result.code == 0
    assert ("differential privacy: epsilon 0.5 per aggregate table, budget 4 for this "
            "purpose, up to 1 cell(s) per person") in result.out
    assert "aggregates: none" in result.out
