# ruff: noqa: F811  (cse_node is a fixture imported from cse_cases)
"""Beaconport review (R7) and ranking on the hand-built cases (tests/node/cse_cases.py).

Closed with no further action, all meeting R3: GCOSUS (S1 S2), GUNID (S3 + unidentified),
GFACIL (S4 + a facilitator), W2A (A2, previously reviewed), W3A (A3, deceased). GFACIL,
W2A and W3A each have one suspect on the crime (the others are a facilitator, or suspects
on other crimes against the same victim), so each criterion excludes: 3, 1 and 1.
Eligible: GCOSUS and GUNID. New evidence for GCOSUS, closed 2024-01-10: S1's phone DS1
extracted 2024-02-01 (weight 2); a hit naming S2 with two other forces (10 x 2 = 20) in
national network 7, which also holds X1 (one other record: 1). Score 23; GUNID 0.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cse_cases import add_hits, cse_node  # noqa: F401  (a fixture)

NEW_EVIDENCE = "new evidence since closure (one line each, with its weight)"
RANKED = "closed cases eligible for review, most new evidence first"


@pytest.fixture(scope="module")
def hits_node(cse_node: Path) -> Path:
    """The node after a hits batch named S2 and X1 (cse_cases.add_hits)."""
    return add_hits(cse_node)


def _review(cli, node: Path, *args: object) -> dict:
    r = cli("node", "analyse", "review", "--dir", node, "--json", *args)
    assert r.code == 0, r
    return json.loads(r.out)


def test_eligibility_follows_r7_and_says_what_excluded_the_rest(cli, hits_node):
    s = _review(cli, hits_node)["summary"]
    assert (s["closed_group_cases"], s["eligible"]) == (5, 2)
    assert (s["fewer_suspects"], s["previously_reviewed"], s["suspect_deceased"]) == (3, 1, 1)


def test_cases_rank_by_new_evidence_each_line_with_its_weight(cli, hits_node):
    result = _review(cli, hits_node)
    ranked = [(r["rank"], r["case"], r["score"]) for r in result["tables"][RANKED]]
    assert ranked == [(1, "GCOSUS", 23), (2, "GUNID", 0)]
    lines = [(r["weight"], r["evidence"]) for r in result["tables"][NEW_EVIDENCE]]
    assert lines == [
        (20, "S2: cross-force hit (network 7) with Northshire, Westshire"),
        (2, "S1: phone DS1 extracted 2024-02-01, after the closure"),
        (1, "S2: 1 other record(s) of this force in the same national network 7"),
    ]


def test_the_unverified_victim_criterion_is_off_unless_asked_for(cli, hits_node):
    # every victim here is 15: turning it on excludes nothing, and says it is on
    result = _review(cli, hits_node, "--victim-criterion")
    assert result["summary"]["eligible"] == 2
    assert result["summary"]["definition"].endswith("+ the UNVERIFIED victim criterion")


def test_a_review_pack_is_one_self_contained_readable_page_per_case(cli, hits_node,
                                                                    tmp_path):
    _review(cli, hits_node, "--pack", tmp_path / "packs")
    assert sorted(p.name for p in (tmp_path / "packs").iterdir()) == ["GCOSUS.html",
                                                                      "GUNID.html"]
    page = (tmp_path / "packs" / "GCOSUS.html").read_text()
    assert "<script" not in page and "http" not in page and "<link" not in page
    assert "S2: cross-force hit (network 7) with Northshire, Westshire" in page
    assert "Operation Beaconport eligibility (R7)" in page
    assert "S1 + S2: suspects together on GCOSUS (strong)" in page
    assert "Sam Onslow" in page                              # persons on the case
