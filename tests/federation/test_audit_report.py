"""`crossforce audit report | export --ico | dpia` on the small federation of
tests/federation/audit_world.py (both forces hold the same hand-written canary people and
run the default policy cse-national).

What each ledger holds, by construction of that federation:
- each node: 9 ingest collections (one per canary file: persons, crimes, roles,
  identifiers, addresses, vehicles, devices, calls, messages), 1 combination (its own
  duplicate records resolved before sharing), 1 disclosure (the share set), 1 collection
  (the hits file) — 12 s.62 entries, plus its genesis entry;
- the coordinator: 2 alterations (registering each force), 2 collections (the payloads),
  1 combination (linkage), 4 consultations (per force: its victim references looked up,
  and `coordinator hits --out`) — 9, plus its genesis entry.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from pathlib import Path

import pytest

from tests.federation.audit_world import FORCES, world_template
from tests.node.egress_nodes import CANARY_RAW


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return world_template(tmp_path_factory)


def test_the_ico_export_has_one_row_per_logged_action_and_no_content(cli, world: Path,
                                                                      tmp_path: Path) -> None:
    out = tmp_path / "s62.csv"
    r = cli("audit", "export", "--ico", "--federation", world, "--period", "this-month",
            "--out", out)
    assert r.code == 0, r
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 12 + 12 + 9 and "wrote 33 logged action(s)" in r.out
    assert list(rows[0]) == ["action", "at_utc", "actor", "force", "log", "purpose",
                             "justification", "recipients", "counts", "payload_hash",
                             "policy_hash", "entry_id", "entry_hash"]
    per_log = {log: Counter(r["action"] for r in rows if r["log"] == log)
               for log in (*FORCES, "coordinator")}
    for force in FORCES:
        assert per_log[force] == {"collection": 10, "combination": 1, "disclosure": 1}
    assert per_log["coordinator"] == {"alteration": 2, "collection": 2, "combination": 1,
                                      "consultation": 4}
    share = next(r for r in rows if r["action"] == "disclosure" and r["log"] == FORCES[0])
    assert share["recipients"] == "coordinator" and "person" not in share["counts"].split(";")
    assert "items:person=4" in share["counts"].split(";")
    # the coordinator's collection of that payload carries the same hash
    assert any(r["log"] == "coordinator" and r["action"] == "collection"
               and r["payload_hash"] == share["payload_hash"] for r in rows)
    text = out.read_text()
    leaked = [v for values in CANARY_RAW.values() for v in values if v in text]
    assert leaked == []


def test_an_export_of_a_month_with_nothing_logged_has_the_header_only(cli, world: Path) -> None:
    r = cli("audit", "export", "--ico", "--federation", world, "--period", "2019-02")
    assert r.code == 0 and r.out.splitlines() == [
        "action,at_utc,actor,force,log,purpose,justification,recipients,counts,payload_hash,"
        "policy_hash,entry_id,entry_hash"]


def test_the_report_counts_what_each_force_sent_by_kind(cli, world: Path) -> None:
    r = cli("audit", "report", "--federation", world, "--format", "csv")
    assert r.code == 0, r
    rows = list(csv.DictReader(io.StringIO(r.out)))
    sent = {(x["force"], x["kind"]): int(x["count"]) for x in rows
            if x["section"] == "flows" and x["direction"].endswith("→ coordinator")}
    for force in FORCES:
        # S1, S2 (suspects), F1 (facilitator) and V1 (victim, match-only)
        assert sent[(force, "person")] == 4
        # S1, S2, F1, V1's numbers and the two seized devices' own numbers
        assert sent[(force, "phone")] == 6
        # CN51ARY (S1 and S2 write it two ways: one vehicle) and V1's QZ19XYV
        assert sent[(force, "vrm")] == 2
        assert (sent[(force, "email")], sent[(force, "handle")], sent[(force, "imei")]) == \
            (2, 2, 2)
    back = [x for x in rows if x["section"] == "flows" and x["direction"] ==
            f"coordinator → {FORCES[0]}"]
    assert [x["kind"] for x in back] == ["hits"] and int(back[0]["count"]) > 0
    consulted = {(x["ledger"], x["actor"]): int(x["consultations"]) for x in rows
                 if x["section"] == "consultations"}
    assert sum(consulted.values()) == 4
    assert not [x for x in rows if x["section"] in ("erasures", "refusals", "finding")]


def test_the_markdown_report_states_the_verification(cli, world: Path) -> None:
    r = cli("audit", "report", "--federation", world)
    assert r.code == 0, r
    assert "Verification: **verified: 3 ledgers" in r.out
    assert "## Erasures (0)" in r.out and "## Data flows (" in r.out


def test_the_dpia_describes_each_forces_processing(cli, world: Path) -> None:
    r = cli("audit", "dpia", "--federation", world)
    assert r.code == 0, r
    for force in FORCES:
        assert f"#### {force} — purpose `TOEX-CSE`" in r.out
    assert "Retention at the coordinator: 730 days from receipt" in r.out
    # the note that explains the mark, then necessity, risks, measures and sign-off
    assert "victims: match-only" in r.out and r.out.count("**TO COMPLETE**") == 5
    with (world / "coordinator" / "keys" / "public.json").open() as f:
        assert json.load(f)["owner"] == "coordinator"  # read, never changed


def test_bad_report_input_gets_one_line(cli, world: Path) -> None:
    r = cli("audit", "report", "--federation", world, "--period", "June")
    assert r.code == 2 and "--period 'June'" in r.err
    r = cli("audit", "report", "--federation", world, "--format", "html")
    assert r.code == 2 and "needs --out" in r.err
    r = cli("audit", "export", "--federation", world)
    assert r.code == 2 and "--ico" in r.err
