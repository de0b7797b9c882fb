"""`crossforce demo --engine inprocess`: the whole story, run once for this module.

A 3-force scenario goes through the real commands (node init/ingest/keys, coordinator
init/register, one `crossforce node serve` gateway process per force), one federation round
over the in-process grid with the real ClientApp relay and the real coordinator service,
then is read back and scored. These tests check what a user is promised: networks that
cross force borders, person links close to the planted truth, hits for every force,
ledgers that verify, nothing raw at the coordinator, and no process left behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import re
from pathlib import Path
from typing import Any

import duckdb
import pytest
from demo_canary import leaks, raw_values
from demo_processes import processes_mentioning

from federation.cli import main
from scenario.demo import crossforce_json, shared_scope

FORCES, PERSONS, SEED = 3, 300, 7
#: measured 0.889 (8 of 10 true cross-force pairs, no false pair) at this size and seed
PERSON_LINK_F1_FLOOR = 0.75


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    """One demo run for the whole session, shared by pytest-xdist workers (a file lock:
    the first worker runs it, the others read its summary)."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the session's folder, common to all workers
    out, saved = base / "demo-inprocess", base / "demo-inprocess.json"
    with (base / "demo-inprocess.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not saved.exists():
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                code = main(["demo", "--engine", "inprocess", "--forces", str(FORCES),
                             "--persons-per-force", str(PERSONS), "--seed", str(SEED),
                             "--json", "--out", str(out)])
            assert code == 0, printed.getvalue()[-2000:]
            saved.write_text(printed.getvalue())
    return json.loads(saved.read_text()), out


def test_the_networks_found_cross_force_borders(demo_run: tuple[dict, Path]) -> None:
    summary, _ = demo_run
    assert summary["networks"], "no cross-force network found"
    for network in summary["networks"]:
        assert len(network["forces"]) >= 2
        assert network["n_persons"] + network["n_identifiers"] >= 2
    assert max(len(n["forces"]) for n in summary["networks"]) >= 2


def test_person_links_agree_with_the_planted_truth(demo_run: tuple[dict, Path]) -> None:
    summary, _ = demo_run
    links = summary["person_links"]
    assert links["f1"] >= PERSON_LINK_F1_FLOOR, links
    assert links["true_positives"] > 0
    for name in ("person_links", "network_membership"):
        assert {"precision", "recall", "f1"} <= summary[name].keys()
        assert 0.0 <= summary[name]["f1"] <= 1.0


def test_each_network_found_says_who_is_in_it(demo_run: tuple[dict, Path]) -> None:
    summary, _ = demo_run
    makeup = summary["network_makeup"]
    assert makeup, "a network was found, so its make-up is reported"
    for m in makeup:
        assert m["persons"] == (m["members"] + m["other_networks"] + m["lookalikes"]
                                + m["outsiders"])
        assert m["main_network"] is None or m["members"] > 0


def test_every_force_shared_and_got_its_hits(demo_run: tuple[dict, Path]) -> None:
    summary, _ = demo_run
    forces = summary["scenario"]["forces"]
    assert len(forces) == FORCES
    for force in forces:
        outcome = summary["federation"]["forces"][force]
        assert outcome["share"] == "submitted"
        assert outcome["hits"] == "delivered"
        hits = summary["hits"][force]
        assert hits["hits"] > 0 and hits["resolved"] == hits["hits"]
        assert hits["other_forces"] and force not in hits["other_forces"]


def test_every_ledger_verifies(demo_run: tuple[dict, Path]) -> None:
    summary, _ = demo_run
    ledger = summary["ledger"]
    assert set(ledger) == {*summary["scenario"]["forces"], "coordinator", "keyservice"}
    for owner, report in ledger.items():
        assert report["ok"], (owner, report["problems"])
    rounds = len(summary["purposes"])  # one round per purpose
    evaluations: dict[str, int] = {}
    for force in summary["scenario"]["forces"]:
        # one share set per round, and the batches of blinded values sent to the key
        # service (a later round asks only for values no earlier round made)
        evaluations[force] = ledger[force]["actions"]["disclosure"] - rounds
        assert 1 <= evaluations[force] <= rounds
    # the key service logged every batch the forces sent: one entry per batch of at most
    # 4,096 points, where a force logs one entry per operation (a round whose new values
    # outnumber a batch sends several)
    assert ledger["keyservice"]["actions"]["disclosure"] >= sum(evaluations.values())
    coordinator = ledger["coordinator"]["actions"]
    assert coordinator["collection"] == FORCES * rounds  # one payload per force and round
    assert coordinator["disclosure"] == FORCES * rounds  # one hits answer per force, round
    assert coordinator["combination"] == 2 * rounds  # per round: a linkage run, an aggregation


def test_national_aggregates_are_sums_of_released_counts(demo_run: tuple[dict, Path]) -> None:
    """Every national count is a sum of counts each force's gate released (each at least
    the threshold, rounded to 5), so it is one too; a cell no force released has none."""
    summary, _ = demo_run
    rows = summary["national_aggregates"]
    assert rows, "the default policy releases aggregate tables"
    assert summary["federation"]["aggregates"]["cells"] == len(rows)
    for row in rows:
        assert row["method"] == "share-sets" and row["purpose"] == "TOEX-CSE"
        assert 1 <= row["forces"] + row["forces_suppressed"] <= FORCES
        if row["count"] is None:
            assert row["forces"] == 0
        else:
            assert row["count"] >= 10 * row["forces"] and row["count"] % 5 == 0


def test_the_scope_scored_is_what_each_node_shares(demo_run: tuple[dict, Path]) -> None:
    """The demo recomputes who each force shared from the scenario files and the policy:
    it must agree with what the node itself says it shares (a dry run changes nothing),
    one person for all the records the node resolved into it."""
    summary, out = demo_run
    nodes = {force: out / "nodes" / force for force in summary["scenario"]["forces"]}
    scope, _ = shared_scope(out / "scenario", nodes, "cse-national")
    for force, node in nodes.items():
        records = [p for f, p in zip(scope.column("force").to_pylist(),
                                     scope.column("person_id").to_pylist(), strict=True)
                   if f == force]
        con = duckdb.connect(str(node / "node.duckdb"), read_only=True)
        try:
            persons = con.execute("SELECT count(DISTINCT local_person) FROM person_resolution "
                                  "WHERE list_contains(?, person_id)", [records]
                                  ).fetchall()[0][0]
        finally:
            con.close()
        dry_run = crossforce_json("node", "share", "--dir", node, "--dry-run", "--json")
        assert dry_run["items_by_kind"]["person"] == persons > 0


def test_the_timings_and_memory_are_reported(demo_run: tuple[dict, Path]) -> None:
    summary, _ = demo_run
    assert {"total", "federation", "round_collect", "round_link",
            "round_notify", "round_aggregate"} <= summary["timings"].keys()
    assert summary["peak_memory_mb"]["demo_process"] > 0


def test_no_process_is_left_running(demo_run: tuple[dict, Path]) -> None:
    _, out = demo_run
    assert processes_mentioning(str(out)) == []


# --------------------------------------------------------------------------- the canary


def test_no_raw_value_reaches_the_coordinator(demo_run: tuple[dict, Path]) -> None:
    summary, out = demo_run
    needles = raw_values(out / "scenario", summary["scenario"]["forces"])
    assert len(needles) > 1000  # the canary is real: thousands of values looked for
    coordinator = out / "coordinator"
    assert (coordinator / "coordinator.duckdb").is_file()
    assert leaks(coordinator, needles) == []


def test_the_canary_would_see_a_leak(demo_run: tuple[dict, Path], tmp_path: Path) -> None:
    summary, out = demo_run
    needles = raw_values(out / "scenario", summary["scenario"]["forces"])
    planted = tmp_path / "leaky"
    planted.mkdir()
    (planted / "notes.bin").write_bytes(b"\x00\x01" + sorted(needles)[42].encode() + b"\xff")
    assert len(leaks(planted, needles)) == 1


def test_the_drawing_is_self_contained_and_holds_no_raw_value(tmp_path: Path,
                                                               demo_run: tuple[dict, Path]
                                                               ) -> None:
    summary, out = demo_run
    drawing = Path(summary["networks_html"])
    assert drawing == out / "networks.html"
    page = drawing.read_text()
    assert page.count("<svg") == min(len(summary["networks"]), 6)
    # drawn from the coordinator's edges: one line per link between two members
    largest = sorted(summary["networks"],
                     key=lambda n: (-(n["n_persons"] + n["n_identifiers"]), n["network_id"]))
    assert page.count('<line class="edge"') == sum(n["n_links"] for n in largest[:6]) > 0
    assert "<script" not in page and "src=" not in page and "@import" not in page
    assert set(re.findall(r"https?://[^\"' )]+", page)) <= {"http://www.w3.org/2000/svg"}
    for force in summary["scenario"]["forces"]:
        assert force in page
    needles = raw_values(out / "scenario", summary["scenario"]["forces"])
    assert [n for n in needles if n in page] == []


# --------------------------------------------------------------------------- bad input


def test_a_folder_in_use_is_refused(cli, tmp_path: Path) -> None:  # noqa: ANN001
    (tmp_path / "something.txt").write_text("keep me")
    result = cli("demo", "--engine", "inprocess", "--out", tmp_path)
    assert result.code == 2
    assert "not empty" in result.err
    assert [p.name for p in tmp_path.iterdir()] == ["something.txt"]


def test_an_unknown_engine_is_refused(cli) -> None:  # noqa: ANN001
    result = cli("demo", "--engine", "simulation")
    assert result.code == 2
    assert "deployment or inprocess" in result.err


def test_every_purpose_gets_its_own_round_and_score(demo_run: tuple[dict, Path]) -> None:
    """One round per purpose: each is scored on its own, and every network found belongs
    to exactly one purpose (tokens are keyed per purpose, so they never join)."""
    summary, _ = demo_run
    codes = [p["purpose"] for p in summary["purposes"]]
    assert codes == ["TOEX-CSE", "TOEX-COUNTY-LINES", "TOEX-MODERN-SLAVERY", "MATCH-ONLY"]
    assert {n["purpose"] for n in summary["networks"]} <= set(codes)
    for p in summary["purposes"]:
        assert p["round"]["total"] > 0 and 0.0 <= p["person_links"]["f1"] <= 1.0
        assert p["networks_found"] == sum(n["purpose"] == p["purpose"]
                                          for n in summary["networks"])
