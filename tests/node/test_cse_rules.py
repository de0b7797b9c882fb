# ruff: noqa: F811  (cse_node is a fixture imported from cse_cases)
"""The national CSE definition on hand-built cases (tests/node/cse_cases.py), one edge each.

Expected outcomes are worked out from DOMAIN.md §2 by hand, case by case."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cse_cases import cse_node, draft_with_19a  # noqa: F401  (a fixture)

from federation.cli import main
from policies.definition import DEFINITION_FILE


def _run(cli, node: Path, *args: object) -> dict:
    r = cli("node", "analyse", "cse", "--dir", node, "--json", *args)
    assert r.code == 0, r
    return json.loads(r.out)


@pytest.fixture(scope="module")
def national(cse_node: Path) -> dict:
    import io
    from contextlib import redirect_stdout

    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["node", "analyse", "cse", "--dir", str(cse_node), "--all", "--json"]) == 0
    return json.loads(out.getvalue())


def _cases(result: dict) -> dict[str, dict]:
    (table,) = result["tables"].values()
    return {r["case"]: r for r in table}


def _rules(result: dict, case: str) -> str:
    return _cases(result)[case]["R1 R2 R3"].replace(" ", "")


def test_a_victim_exactly_18_on_the_offence_date_is_not_a_child(national):
    # born 2005-06-15, offence 2023-06-15: 18 that day, although 19C says "under 16"
    assert _rules(national, "AGE18") == "nnn"
    assert _cases(national)["AGE18"]["finding"] == "flagged, fails R1"


def test_a_victim_one_day_short_of_18_is_a_child_and_money_is_an_exchange(national):
    assert _rules(national, "AGE17") == "yyn"   # alone: no group


def test_without_a_date_of_birth_the_age_range_decides(national):
    assert _rules(national, "RANGE") == "ynn"        # 14-16: under 18; no R2 signal
    assert _rules(national, "RANGEADULT") == "nnn"   # 18-21: not under 18
    # 15-19 cannot decide: the offence code does (22: a child under 16)
    assert _rules(national, "STRADDLE") == "ynn"


def test_without_any_age_the_offence_code_decides(national):
    assert _rules(national, "CODED") == "ynn"        # 20B: a victim under 13


def test_impossible_dates_cannot_be_evaluated_and_say_why(national):
    cases = _cases(national)
    assert _rules(national, "BADDATE") == "???"
    assert cases["BADDATE"]["finding"] == "offence date 2099-06-15 is in the future"
    assert _rules(national, "NODATE") == "???"
    assert cases["NODATE"]["finding"] == "no offence date (date_from)"
    assert _rules(national, "BORNAFTER") == "???"
    assert cases["BORNAFTER"]["finding"] == "victim VB born 2024-01-01, after the offence"


def test_a_flagged_crime_that_is_no_child_sexual_offence_is_a_misflag(national):
    assert _cases(national)["THEFT"]["finding"] == "flagged, fails R1"
    assert "not a child sexual offence" in _cases(national)["THEFT"]["why"]


def test_co_suspects_unidentified_suspects_and_facilitators_make_a_group(national):
    assert _rules(national, "GCOSUS") == "yyy"
    assert _cases(national)["GCOSUS"]["finding"] == "R3, not flagged"
    assert _rules(national, "GUNID") == "yyy"     # S3 + an unidentified suspect
    assert _rules(national, "GFACIL") == "yyy"    # S4 + a facilitator who abused no one
    assert _rules(national, "GSOLO") == "yyn"     # S5 is linked to none of VG's others


def test_weak_links_count_in_pairs_or_beside_a_strong_link_never_alone(national):
    assert _rules(national, "W1A") == "yyn"      # one shared contact: alone
    assert _rules(national, "W3A") == "yyy"      # two shared contacts: a pair
    for case in ("W2A", "W2B", "W2C"):           # A2-B2 call; A2-C2 one shared contact
        assert _rules(national, case) == "yyy"
    assert _cases(national)["W2C"]["why"].startswith("3 persons")


def test_hub_numbers_and_grade_e_intelligence_associate_no_one(national):
    assert _rules(national, "W4A") == "yyn"      # the taxi and pizza numbers are hubs
    assert _rules(national, "W5A") == "yyn"      # intelligence graded E


def test_recording_accuracy_and_misflag_counts(national):
    s = national["summary"]
    # R3: GCOSUS GUNID GFACIL W2A W2B W2C W3A W3B; flagged cse + group: GUNID GFACIL
    assert (s["r3"], s["flagged_group_cse"]) == (8, 3)   # AGE18 is flagged too
    assert s["recording_accuracy"] == "25.0% (2 of 8)"
    assert (s["r3_not_flagged"], s["flagged_failing_r1"], s["cannot_evaluate"]) == (6, 2, 3)


def test_the_evidence_of_one_case_reads_as_lines(cli, cse_node):
    result = _run(cli, cse_node, "--case", "W2A")
    (lines,) = result["tables"].values()
    text = [f"{r['rule']} {r['evidence (suggestion for analyst confirmation)']}"
            for r in lines]
    assert "R1 victim VW2 aged 15 on the offence date: date of birth 2008-03-10 -> under 18" \
        in text
    assert "R2 exchange recorded: gift" in text
    assert "R3 A2 + B2: 1 call(s)/message(s) between +447700900201 and +447700900202 " \
        "(strong)" in text
    assert "R3 A2 + C2: contact +447700900502 on both seized devices (weak, counts beside " \
        "a strong link)" in text
    assert "R3 group of 3 associated person(s): A2, B2, C2 (needs 2)" in text
    weak = _run(cli, cse_node, "--case", "W1A")
    (lines,) = weak["tables"].values()
    assert any("(weak, alone: does not count)" in v for r in lines for v in r.values())


def test_a_draft_definition_is_a_dry_run_named_as_such(cli, cse_node, tmp_path):
    draft = tmp_path / "draft.toml"
    draft.write_text(draft_with_19a(DEFINITION_FILE.read_text()))
    result = _run(cli, cse_node, "--definition", draft, "--all")
    assert result["summary"]["definition"].startswith("DRAFT definition draft.toml")
    assert _rules(result, "NOAGE") == "???"
    assert _cases(result)["NOAGE"]["finding"] == "victim VN has no date of birth or age range"
    no_hubs = tmp_path / "no_hubs.toml"
    no_hubs.write_text(DEFINITION_FILE.read_text().replace("max_device_share = 0.25",
                                                           "max_device_share = 1.0"))
    assert _rules(_run(cli, cse_node, "--definition", no_hubs, "--all"), "W4A") == "yyy"


def test_the_store_is_unchanged_but_for_one_ledger_entry(cli, cse_node, query):
    tables = ("persons", "crimes", "roles", "identifiers", "devices", "contacts", "intel")
    before = {t: query(cse_node, f"SELECT * FROM {t} ORDER BY ALL") for t in tables}
    entries = query(cse_node, "SELECT count(*) FROM ledger")[0][0]
    _run(cli, cse_node, "--all")
    assert {t: query(cse_node, f"SELECT * FROM {t} ORDER BY ALL") for t in tables} == before
    assert query(cse_node, "SELECT count(*) FROM ledger")[0][0] == entries + 1
    (purpose,) = query(cse_node, "SELECT purpose FROM ledger ORDER BY at_utc DESC LIMIT 1")[0]
    assert purpose == "analysis:cse"


def test_an_unknown_case_is_one_error_line(cli, cse_node):
    r = cli("node", "analyse", "cse", "--dir", cse_node, "--case", "NOPE")
    assert r.code == 2
    assert r.err.strip().splitlines() == [
        "error: no crime 'NOPE' on this node; list the cases with crossforce node analyse "
        "cse --dir DIR --all"]
