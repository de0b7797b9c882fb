# ruff: noqa: F811  (cse_node is a fixture imported from cse_cases)
"""The national view of recording consistency leaves a node only as policy-named aggregates
on closed cells, disclosure-controlled like every aggregate — never a case, person or
value (the house canary pattern: search the payload bytes).

Hand count of cse_recording on tests/node/cse_cases.py (child sexual offences and flagged
crimes; NOAGE's 19A is neither): (r3, flagged) GUNID GFACIL = 2; (r3, not_flagged)
GCOSUS W2A W2B W2C W3A W3B = 6; (r2, not_flagged) AGE17 GSOLO W1A W1B W4A W4B W5A W5B = 8;
(r1, not_flagged) RANGE STRADDLE CODED = 3; (none, flagged) AGE18; (none, partly) THEFT;
(none, not_flagged) RANGEADULT; (cannot_evaluate, not_flagged) BADDATE NODATE BORNAFTER = 3.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow.ipc as ipc
import pytest
from cse_cases import PERSONS, cse_node  # noqa: F401  (a fixture)
from egress_nodes import PERMISSIVE_POLICY, run, secret_file

from federation.payload import Submission
from node.egress import egress
from policies.national_tables import CSE_FLAGGED, CSE_RULES

EXPECTED = {("r3", "flagged"): 2, ("r3", "not_flagged"): 6, ("r2", "not_flagged"): 8,
            ("r1", "not_flagged"): 3, ("none", "flagged"): 1, ("none", "partly"): 1,
            ("none", "not_flagged"): 1, ("cannot_evaluate", "not_flagged"): 3}


@pytest.fixture(scope="module")
def shared(cse_node: Path) -> tuple[Path, bytes]:
    run("node", "keys", "import-secret", "--dir", cse_node, secret_file(cse_node.parent))
    policy = cse_node.parent / "permissive.toml"
    policy.write_text(PERMISSIVE_POLICY)
    result = egress(cse_node, policy=str(policy), out=cse_node.parent / "p.cfsub")
    assert result.payload is not None
    return cse_node, result.payload


def _cells(payload: bytes, name: str) -> dict[tuple[str, ...], int | None]:
    rows = Submission.from_bytes(payload).open().aggregates.to_pylist()
    return {tuple(json.loads(r["cell"]).values()): r["count"] for r in rows
            if r["name"] == name}


def test_every_closed_cell_leaves_and_counts_are_the_hand_counts_give_or_take_the_noise(
        shared):
    cells = _cells(shared[1], "cse_recording")
    assert set(cells) == {(r, f) for r in CSE_RULES for f in CSE_FLAGGED}
    for cell, count in cells.items():
        # threshold 1, rounding 1: the cell-key perturbation (at most 2) is all that moves
        assert abs((count or 0) - EXPECTED.get(cell, 0)) <= 2, cell


def test_completeness_leaves_as_field_status_counts(shared):
    cells = _cells(shared[1], "cse_completeness")
    assert len(cells) == 5 * 9
    # R3 suspects' nationality: S1 GBR, S3 NS and 9 blank (one row per suspect and case)
    assert abs((cells[("r3", "nationality:blank")] or 0) - 9) <= 2


def test_no_case_person_or_value_of_the_cases_is_in_the_payload(shared):
    node, payload = shared
    share = Submission.from_bytes(payload).open()
    out = io.BytesIO()
    for table in (share.items, share.tokens, share.links, share.aggregates):
        with ipc.new_stream(out, table.schema) as writer:
            writer.write_table(table)
    plain = out.getvalue()
    names = [line.split(",")[2] for line in PERSONS.splitlines()[2:]]
    needles = ["GCOSUS", "BORNAFTER", "RANGEADULT", "Facilitator", "2005-06-15",
               "07700 900501", "+447700900501", *names]
    for blob in (payload, plain):
        assert not [n for n in needles if n.encode() in blob]


def test_under_the_shipped_policy_counts_are_suppressed_or_rounded(cse_node):
    """cse-national: under 10 suppressed, the rest rounded to 5 (after the noise)."""
    result = egress(cse_node, policy="cse-national", dry_run=True)
    rows = result.share_set.aggregates.to_pylist()
    cse = [r["count"] for r in rows if r["name"].startswith("cse_")]
    assert len(cse) == 15 + 45
    assert all(c is None or (c >= 10 and c % 5 == 0) for c in cse)
    assert sum(c is None for c in cse) >= 55     # only R2-not-flagged (8) can reach 10


def test_the_coordinator_shows_them_per_force_and_nationally(shared, tmp_path, cli):
    node, _payload = shared
    coord = tmp_path / "coord"
    run("coordinator", "init", "--dir", coord)
    run("coordinator", "register", "--dir", coord, "--force", "Testshire", "--public-key",
        node / "keys" / "public.json")
    run("coordinator", "submit", "--dir", coord, node.parent / "p.cfsub")
    r = cli("coordinator", "aggregates", "--dir", coord, "--recording", "--json")
    assert r.code == 0, r
    force, national = json.loads(r.out)
    assert (force["force"], national["force"]) == ("Testshire", "national (all forces)")
    # hand counts 8 R3 cases (2 flagged), 2 flagged failing R1; each of the summed cells
    # moved by at most 2 (threshold 1, rounding 1)
    assert abs(force["r3_cases"] - 8) <= 6 and abs(force["r3_flagged"] - 2) <= 2
    assert abs(force["flagged_failing_r1"] - 2) <= 4
    assert national["r3_cases"] == force["r3_cases"]
    # (r3, partly) holds no case: a zero leaves as a suppressed count does, so the R3 total
    # is a lower bound and no accuracy is claimed from it
    assert "r3_cases" in force["suppressed"] and force["recording_accuracy"] is None


def test_a_secure_sum_may_ask_for_them_by_name_on_their_closed_cells():
    from policies.national_tables import NATIONAL_TABLES, NationalLayout

    layout = NationalLayout(tables=("cse_completeness", "cse_recording"), years=(2020, 2021))
    assert layout.tables == ("cse_recording", "cse_completeness")
    assert layout.size == 5 * 3 + 5 * 9
    assert "cse_recording" not in NATIONAL_TABLES   # not in every secure sum by default
