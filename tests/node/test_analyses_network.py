"""`node analyse network`: centrality, communities, paths and exports on hand-built nodes.

The path node: P1's seized phone X1 calls P2's phone X2 50 times and P3's phone X3 once;
P2's seized phone X2 calls X3 50 times. P1 and P2 are suspects on crime C1; P2 and P3
live at one address (UPRN 100). 8 entities (3 persons, 3 phones, 1 crime, 1 address), 10
links (2 device owners, 1 phone recorded for P3, 2 roles, 2 addresses, 3 contact pairs).

The star node: five persons L1..L5 each call S's seized phone (L1 once, ..., L5 five
times), and nothing else: a star with S at the centre.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import igraph as ig
import pytest
from analysis_nodes import (
    DEVICE_COLUMNS,
    analyse,
    calls,
    days,
    load,
    only_the_ledger_grows,
    refused,
)

X1, X2, X3 = "07700 900001", "07700 900002", "07700 900003"


@pytest.fixture
def path_node(cli, node: Path, write) -> Path:
    rows = [("D1", t, "outgoing", X2) for t in days(1, 25, 9) + days(1, 25, 10, month=2)]
    rows += [("D1", days(1, 1, 12)[0], "outgoing", X3)]
    rows += [("D2", t, "outgoing", X3) for t in days(1, 25, 9) + days(1, 25, 10, month=2)]
    load(cli, node, write, {
        "persons": "person_id,given_names,family_name\nP1,Adam,One\nP2,Bo,Two\n"
                   "P3,Cy,Three\n",
        "crimes": "crime_id,ho_offence_code,date_from\nC1,88A,2022-06-01\n",
        "roles": "crime_id,person_id,role\nC1,P1,suspect\nC1,P2,suspect\n",
        "identifiers": f"person_id,kind,value\nP3,phone,{X3}\n",
        "addresses": "person_id,address,postcode,uprn\nP2,1 High St,LA1 1AA,100\n"
                     "P3,1 High St,LA1 1AA,100\n",
        "devices": DEVICE_COLUMNS + f"D1,P1,,{X1},Europe/London,GB\n"
                                    f"D2,P2,,{X2},Europe/London,GB\n",
        "calls": calls(rows),
    })
    return node


@pytest.fixture
def star_node(cli, node: Path, write) -> Path:
    leaves = {f"L{i}": f"07700 9001{i:02d}" for i in range(1, 6)}
    rows = [("DS", t, "incoming", num) for i, num in enumerate(leaves.values(), 1)
            for t in days(1, i, 20)]
    load(cli, node, write, {
        "persons": "person_id,given_names,family_name\nS,Sam,Centre\n"
                   + "".join(f"{p},Leaf,{p}\n" for p in leaves),
        "identifiers": "person_id,kind,value\n" + "".join(
            f"{p},phone,{n}\n" for p, n in leaves.items()),
        "devices": DEVICE_COLUMNS + "DS,S,,07700 900100,Europe/London,GB\n",
        "calls": calls(rows),
    })
    return node


def test_the_centre_of_a_star_is_the_most_central_person(cli, star_node: Path) -> None:
    out = analyse(cli, star_node, "network")
    ranked = {r["entity"]: r for r in out["tables"]["most central persons by pagerank"]}
    s = ranked["S"]
    assert out["tables"]["most central persons by pagerank"][0]["entity"] == "S"
    # persons view: each phone is folded into its one person, so S has 5 links, weighted
    # by the calls 1 + 2 + 3 + 4 + 5 = 15; every pair of the 5 leaves (10 pairs) passes
    # through S; S is 1 link from everyone (closeness 1), a leaf 1 from S and 2 from the
    # other 4: closeness 5 / (1 + 8) = 0.556
    assert (s["degree"], s["w_degree"], s["betweenness"], s["closeness"]) == (5, 15, 10, 1.0)
    assert s["eigenvector"] == 1.0 and s["k_core"] == 1
    for leaf in ("L1", "L5"):
        assert ranked[leaf]["degree"] == 1 and ranked[leaf]["betweenness"] == 0
        assert math.isclose(ranked[leaf]["closeness"], 5 / 9, abs_tol=1e-3)
    # the leaf called most (L5) is nearest the centre by eigenvector
    assert ranked["L5"]["eigenvector"] > ranked["L1"]["eigenvector"]


def test_the_path_from_a_to_b_goes_through_the_known_intermediary(cli, path_node: Path
                                                                   ) -> None:
    out = analyse(cli, path_node, "network", "--path", "P1", "P3")
    shortest = out["tables"]["shortest path (fewest links) person:P1 → person:P3"]
    strongest = out["tables"][
        "strongest path (links of many contacts first) person:P1 → person:P3"]
    # fewest links: P1 - X1 - X3 - P3 over the single call (3 links); strongest (distance
    # 1 / weight): via P2's phone X2, 1 + 1/50 + 1/50 + 1 = 2.04 < 1 + 1/1 + 1 = 3
    assert [r["entity"] for r in shortest] == ["P1", "+447700900001", "+447700900003", "P3"]
    assert [r["entity"] for r in strongest] == ["P1", "+447700900001", "+447700900002",
                                                "+447700900003", "P3"]
    assert strongest[1]["link to next"] == "contact (50 calls)"
    assert out["summary"]["path_links"] == 3


def test_the_connecting_network_of_two_persons_and_a_crime(cli, path_node: Path) -> None:
    out = analyse(cli, path_node, "network", "--connect", "P3", "--connect", "C1")
    got = {(r["entity"], r["chosen"]) for r in out["tables"]["connecting network"]}
    # P3 and C1 are 3 links apart both ways (P3 - address - P2 - C1, P3 - X3 - ... is
    # longer): the shortest path is the one through the shared address
    assert got == {("P3", True), ("C1", True), ("P2", False),
                   ("100", False)}


def test_leiden_communities_are_the_same_with_the_same_seed(cli, path_node: Path) -> None:
    a = analyse(cli, path_node, "network", "--seed", 7)
    b = analyse(cli, path_node, "network", "--seed", 7)
    key = "communities (Leiden), largest first"
    assert a["tables"][key] == b["tables"][key]
    assert a["summary"]["communities"] >= 1


def test_graphml_and_i2_files_hold_every_entity_and_link(cli, path_node: Path,
                                                         tmp_path: Path) -> None:
    gml, prefix = tmp_path / "net.graphml", tmp_path / "net"
    r = cli("node", "analyse", "network", "--dir", path_node, "--graphml", gml,
            "--i2", prefix)
    assert r.code == 0, r
    g = ig.Graph.Read_GraphML(str(gml))
    assert (g.vcount(), g.ecount()) == (8, 10)
    assert sorted(g.vs["type"]) == ["address", "crime", "person", "person", "person",
                                    "phone", "phone", "phone"]
    with open(f"{prefix}_entities.csv", newline="") as f:
        entities = list(csv.DictReader(f))
    with open(f"{prefix}_links.csv", newline="") as f:
        links = list(csv.DictReader(f))
    assert len(entities) == 8 and len(links) == 10
    assert {e["entity_id"] for e in entities} >= {"person:P1", "crime:C1", "address:100"}
    contact = [k for k in links if k["link_type"] == "contact"]
    assert sorted(float(k["weight"]) for k in contact) == [1.0, 50.0, 50.0]
    assert {k["direction"] for k in contact} == {"from-to"}
    p1 = next(e for e in entities if e["entity_id"] == "person:P1")
    assert p1["description"] == "Adam One" and p1["degree"] != ""


def test_html_picture_of_a_persons_neighbourhood_is_self_contained(cli, path_node: Path,
                                                                   tmp_path: Path) -> None:
    page = tmp_path / "p1.html"
    r = cli("node", "analyse", "network", "--dir", path_node, "--around", "P1", "--hops", 1,
            "--html", page)
    assert r.code == 0, r
    text = page.read_text()
    # one link from P1: its phone X1 and crime C1 (3 entities, 2 links)
    assert "3 entities, 2 links" in text and "<svg" in text
    assert "<script" not in text and 'src="http' not in text and 'href="http' not in text
    assert text.count("<circle") == 1 + 1  # P1, and the legend's person


@pytest.mark.parametrize(("args", "message"), [
    (["--path", "P1", "P99"], "--path P99: no such entity"),
    (["--connect", "P1"], "--connect needs two or more"),
    (["--rank-by", "fame"], "--rank-by fame: choose one of"),
    (["--view", "mine"], "--view mine: choose persons or entities"),
    (["--around", "Z9", "--html", "x.html"], "--around Z9: no such entity"),
])
def test_bad_input_is_one_line_and_exit_2(cli, path_node: Path, args: list[str],
                                          message: str) -> None:
    assert message in refused(cli, path_node, "network", *args)


def test_an_empty_node_is_told_to_load_records(cli, node: Path) -> None:
    assert "holds no records yet" in refused(cli, node, "network")


def test_the_store_is_unchanged_but_for_one_ledger_entry(cli, path_node: Path,
                                                         query) -> None:
    assert only_the_ledger_grows(cli, query, path_node, "network", "--path", "P1", "P3") == (
        "consultation", "analysis:network")
