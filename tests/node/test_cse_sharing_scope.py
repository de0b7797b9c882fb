"""The shipped cse-national policy shares the suspects of every crime the national
definition finds group-based, not only those the force flagged: on the hand-built cases
(tests/node/cse_cases.py) GCOSUS (code 22, no flag, S1 and S2 suspects together) is in
scope; W1A/W1B (one weak link alone: not group-based) and GSOLO (one suspect) are not."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from cse_cases import write_cases
from egress_nodes import run, secret_file

from node.egress import egress
from policies.model import default_policy_text


def _node(root: Path, policy_text: str) -> Path:
    node = root / "node"
    run("node", "init", "--force", "Testshire", "--dir", node)
    run("node", "ingest", "--dir", node, write_cases(root / "in"))
    run("node", "keys", "import-secret", "--dir", node, secret_file(root))
    (root / "policy.toml").write_text(policy_text)
    egress(node, policy=str(root / "policy.toml"), out=root / "p.cfsub")
    return node


def _shared(node: Path) -> set[str]:
    con = duckdb.connect(str(node / "node.duckdb"), read_only=True)
    try:
        return {r[0] for r in con.execute(
            "SELECT local_id FROM egress_refs WHERE kind = 'person'").fetchall()}
    finally:
        con.close()


@pytest.mark.parametrize("by_definition", [True, False])
def test_group_based_cases_are_in_scope_whatever_their_flags(tmp_path, by_definition):
    text = default_policy_text("cse-national")
    assert "national_definition = true" in text
    if not by_definition:
        text = text.replace("national_definition = true", "national_definition = false")
    shared = _shared(_node(tmp_path, text))
    assert {"S3", "S4", "F1"} <= shared                  # GUNID, GFACIL: flagged
    assert ({"S1", "S2"} <= shared) is by_definition     # GCOSUS: not flagged
    assert not {"A1", "B1", "S5"} & shared               # not group-based
