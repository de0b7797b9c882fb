# ruff: noqa: F811  (cse_node is a fixture imported from cse_cases)
"""Beaconport review (R7) and ranking on the hand-built cases (tests/node/cse_cases.py).

Closed with no further action, all meeting R3: GCOSUS (S1 S2), GUNID (S3 + unidentified),
GFACIL (S4 + a facilitator), W2A (A2, previously reviewed), W3A (A3, deceased). GFACIL,
W2A and W3A each have one suspect on the crime (the others are a facilitator, or suspects
on other crimes against the same victim), so each criterion excludes: 3, 1 and 1.
Eligible: GCOSUS and GUNID. New evidence for GCOSUS, closed 2024-01-10: S1's phone DS1
extracted 2024-02-01 (weight 2); a hit naming S2 with two other forces (10 x 2 = 20) in
national network 7, which also holds X1 (one other person: 1). Score 23; GUNID 0.

A second node (``beaconport_node``) adds what eligibility and ranking must tell apart:
GCSA, a group of two co-suspects closed OC16 that records no CSE flag and no exchange
(R2 fails, so not R3) — still eligible, Beaconport reviews abuse and exploitation; GNET,
whose suspects N1 and N2 are only in national network 9 (hit reason "network": no other
force holds them), with three other persons of the force in it; and LATER, a group-based
case after GCOSUS's closure with both S1 and S2 suspects on it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cse_cases import FILES, add_hits, cse_node, write_cases  # noqa: F401  (a fixture)

from federation.cli import main

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
        (1, "national network 7: 1 other person(s) of this force in it"),
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


# the second node: cse_cases plus these rows
MORE = {
    "persons.csv": """VQ,Quinn,Recorded,2008-02-02,true,,,,,,
Q1,Quentin,Askew,1972-01-01,true,,,,,,
Q2,Quincy,Barlow,1973-02-02,true,,,,,,
VN2,Nia,Netherton,2008-03-03,true,,,,,,
N1,Ned,Northwood,1974-03-03,true,,,,,,
N2,Nat,Newbold,1975-04-04,true,,,,,,
O1,Olly,Other,1976-05-05,true,,,,,,
O2,Otto,Other,1977-06-06,true,,,,,,
O3,Owen,Other,1978-07-07,true,,,,,,
VL,Lia,Later,2009-04-04,true,,,,,,
VT,Tia,Tied,2008-05-05,true,,,,,,
T1,Ted,Tanner,1979-08-08,true,,,,,,
T2,Tom,Tilling,1980-09-09,true,,,,,,
""",
    "crimes.csv": """GCSA,22,2023-06-15,,OC16,2024-01-10,,,,false
GNET,22,2023-06-15,,OC16,2024-01-10,,,gift,false
LATER,22,2024-06-01,,,,,,gift,
GTIE,22,2023-06-15,,OC16,2024-01-10,,,gift,false
TIED,49,2022-03-01,,,,,,,
QA,49,2024-03-01,,,,,,,
QB,49,2024-04-01,,,,,,,
QC,49,2024-05-01,,,,,,,
QD,49,2024-06-01,,,,,,,
""",
    "roles.csv": """GCSA,VQ,victim
GCSA,Q1,suspect
GCSA,Q2,suspect
GNET,VN2,victim
GNET,N1,suspect
GNET,N2,suspect
LATER,VL,victim
LATER,S1,suspect
LATER,S2,suspect
GTIE,VT,victim
GTIE,T1,suspect
GTIE,T2,suspect
TIED,T1,suspect
TIED,X1,suspect
QA,Q1,suspect
QB,Q1,suspect
QC,Q1,suspect
QD,Q1,suspect
""",
}


@pytest.fixture(scope="module")
def beaconport_node(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import duckdb

    root = tmp_path_factory.mktemp("beaconport")
    folder = write_cases(root / "in")
    for name, rows in MORE.items():
        (folder / name).write_text(FILES[name] + rows)
    node = root / "node"
    assert main(["node", "init", "--force", "Testshire", "--dir", str(node)]) == 0
    assert main(["node", "ingest", "--dir", str(node), str(folder)]) == 0
    add_hits(node)
    con = duckdb.connect(str(node / "node.duckdb"))
    con.execute("""INSERT INTO received_hits
        SELECT 'b2', ('\\x1' || i)::BLOB, 'TOEX-CSE', 1, 'person', p, NULL, 20 + i, 9,
               ['Northshire'], 1.0, 'network'
        FROM (VALUES (1, 'N1'), (2, 'N2'), (3, 'O1'), (4, 'O2'), (5, 'O3')) AS t(i, p)""")
    # T1 and T2: only in network 7 (X1's and S2's), held by no other force
    con.execute("""INSERT INTO received_hits
        SELECT 'b2', ('\\x2' || i)::BLOB, 'TOEX-CSE', 1, 'person', p, NULL, 30 + i, 7,
               ['Northshire'], 1.0, 'network'
        FROM (VALUES (1, 'T1'), (2, 'T2')) AS t(i, p)""")
    con.execute("INSERT INTO hit_batches VALUES ('b2', now(), 'a hits file', 7, 7, 0)")
    con.close()
    return node


def test_a_group_case_recorded_without_cse_evidence_is_still_eligible(cli, beaconport_node,
                                                                      tmp_path):
    result = _review(cli, beaconport_node, "--pack", tmp_path)
    s = result["summary"]
    assert (s["closed_group_cases"], s["eligible"]) == (8, 5)
    assert s["eligible_not_recorded_as_cse"] == 1
    assert "GCSA" in [r["case"] for r in result["tables"][RANKED]]
    page = (tmp_path / "GCSA.html").read_text()
    assert "recorded as CSE (R2: a CSE flag, an exchange or a CSE-specific offence" in page
    assert "Q1 + Q2: suspects together on GCSA (strong)" in page
    # ... while the definition still says it is not group-based CSE (R2 fails), and why
    r = cli("node", "analyse", "cse", "--dir", beaconport_node, "--case", "GCSA", "--json")
    assert r.code == 0, r
    (table,) = json.loads(r.out)["tables"].values()
    rows = [(row["rule"], row["met"], row["evidence (suggestion for analyst confirmation)"])
            for row in table]
    assert ("R3", "no", "Q1 + Q2: suspects together on GCSA (strong)") in rows
    assert any(rule == "R3" and met == "no" and line.startswith("group-based, but not R3: "
               "R2 fails") for rule, met, line in rows)


def test_a_suspect_another_force_holds_outranks_one_only_in_its_network(cli,
                                                                         beaconport_node):
    result = _review(cli, beaconport_node)
    ranked = [(r["case"], r["score"]) for r in result["tables"][RANKED]]
    # GCOSUS: S2 held by two forces (20), S1's phone (2), network 7's X1, T1 and T2 (3),
    # LATER (3); GNET: network 9 with Northshire, once for the case (2); its size is not
    # counted; GCSA: Q1's four later cases (8); GTIE below
    assert ranked == [("GCOSUS", 28), ("GTIE", 7), ("GCSA", 8), ("GNET", 2), ("GUNID", 0)]
    lines = [(r["case"], r["weight"], r["evidence"])
             for r in result["tables"][NEW_EVIDENCE]]
    assert ("GNET", 2, "N1, N2: in national network 9 with Northshire, though no other "
            "force holds them or their identifiers (linked through other records)") in lines
    # a later case both suspects are on counts once, naming both
    assert ("GCOSUS", 3, "S1, S2: suspect(s) on LATER (22, 2024-06-01), a group-based "
            "case") in lines
    assert [c for c, _w, _line in lines].count("GNET") == 1


def test_a_network_only_suspect_who_offended_with_a_person_another_force_holds(
        cli, beaconport_node):
    """GTIE's T1 and T2 are only in network 7 (no other force holds them); this force's
    own records make T1 a co-suspect of X1 (on TIED), whom Northshire holds in network 7.
    That tie is evidence from another force (5 per suspect per force, plus the network's
    two other persons here, S2 and X1): GTIE ranks above GCSA, whose suspect's four later
    local cases score more (8) but any force could have seen them."""
    result = _review(cli, beaconport_node)
    rows = {r["case"]: r for r in result["tables"][RANKED]}
    assert (rows["GTIE"]["score"], rows["GTIE"]["from other forces"]) == (7, 5)
    assert (rows["GCSA"]["score"], rows["GCSA"]["from other forces"]) == (8, 0)
    assert rows["GTIE"]["rank"] < rows["GCSA"]["rank"]
    lines = [(r["case"], r["weight"], r["evidence"])
             for r in result["tables"][NEW_EVIDENCE] if r["case"] == "GTIE"]
    assert sorted(lines) == [
        ("GTIE", 2, "national network 7: 2 other person(s) of this force in it"),
        ("GTIE", 5, "T1: held by no other force, but a co-suspect of X1 on TIED, whom "
                    "Northshire hold(s) (network 7)")]
