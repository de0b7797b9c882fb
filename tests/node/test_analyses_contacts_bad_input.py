"""Bad input to contacts, common and timeline: one line saying what to change, exit 2, no
traceback, and no ledger entry (nothing was consulted)."""

from __future__ import annotations

from pathlib import Path

import pytest
from analyses_worlds import build, contacts_world


@pytest.fixture(scope="module")
def world(template_node: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(template_node, tmp_path_factory.mktemp("bad"), contacts_world())


@pytest.mark.parametrize(("args", "message"), [
    (["contacts", "--device", "D3"],
     "no device 'D3' on this node (2 known; list them with crossforce node status"),
    (["contacts", "--person", "P44"], "no person 'P44' on this node; did you mean P4"),
    (["contacts", "--person", "P3"], "person 'P3' has no seized device attributed"),
    (["contacts", "--device", "D1", "--from", "2030-01-01"],
     "no calls or messages of D1 between 2030-01-01 00:00 and the end: widen --from/--to"),
    (["contacts", "--from", "2024-02-01", "--to", "2024-01-01"],
     "--to 2024-01-01 is before --from 2024-02-01"),
    (["contacts", "--from", "1 Jan"], "--from '1 Jan': not a date"),
    (["contacts", "--night", "10pm-6am"], "--night '10pm-6am': write the window as HH:MM"),
    (["common", "--device", "D1"], "common contacts need two or more subjects"),
    (["common", "--device", "D1", "--device", "D2", "--from", "2030-01-01"],
     "no calls or messages of D1, D2 between 2030-01-01"),
    (["timeline", "--identifier", "07700 900999"],
     "--identifier '07700 900999' (read as +447700900999): no call, message"),
    (["timeline", "--device", "D7"], "no device 'D7' on this node"),
    (["timeline", "--person", "P1", "--from", "2030-01-01"],
     "nothing recorded for this selection between 2030-01-01"),
    (["timeline", "--device", "D1", "--heat", "--from", "2030-01-01"],
     "no calls or messages for this selection between 2030-01-01"),
])
def test_bad_input_is_one_line_naming_what_to_change(cli, world, query, args,
                                                     message) -> None:
    ledger = query(world, "SELECT count(*) FROM ledger")[0][0]
    r = cli("node", "analyse", args[0], "--dir", world, *args[1:])
    assert r.code == 2, r
    assert r.err.startswith(f"error: {message}"), r.err
    assert r.err.count("\n") == 1 and "Traceback" not in r.err
    assert query(world, "SELECT count(*) FROM ledger")[0][0] == ledger


@pytest.mark.parametrize("analysis", ["contacts", "common"])
def test_a_node_without_seized_devices_says_to_load_one(cli, node, write, analysis) -> None:
    r = cli("node", "ingest", "--dir", node,
            write("persons.csv", "person_id,given_names,family_name\nP1,A,B\n"))
    assert r.code == 0, r
    r = cli("node", "analyse", analysis, "--dir", node)
    assert r.code == 2 and r.err.startswith("error: this node holds no seized devices: load "
                                            "an extraction first"), r
