"""`crossforce node lookup-tokens`: a liaison's "is this phone known elsewhere?" leaves the
node as tokens only — the same tokens egress sends for the same number, so the coordinator
can match them — and the node's ledger records that tokens were made (counts only)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from egress_nodes import canary_template, copy_node, register_commands

from federation.keys import NodeKeys
from federation.tokens import Tokeniser


@pytest.fixture
def node(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    register_commands()
    return copy_node(canary_template(tmp_path_factory), tmp_path / "canary-node")


def _consultations(node: Path) -> list[tuple[str, str]]:
    con = duckdb.connect(str(node / "node.duckdb"), read_only=True)
    try:
        return con.execute("SELECT purpose, counts FROM ledger WHERE action = 'consultation' "
                           "ORDER BY seq").fetchall()
    finally:
        con.close()


def test_a_number_written_any_way_becomes_the_token_egress_would_send(cli, node: Path
                                                                       ) -> None:
    done = cli("node", "lookup-tokens", "--dir", node, "--purpose", "TOEX-CSE",
               "--phone", "07700 900417", "--phone", "+44 7700 900418",
               "--email", "Zeb.Canary@Example.org",
               "--justification", "is this phone known elsewhere", "--json")
    assert done.code == 0, done
    body = json.loads(done.out)
    secret = NodeKeys.load(node / "keys").linkage_secret
    tokeniser = Tokeniser(secret.derive("TOEX-CSE"))  # type: ignore[union-attr]
    assert body == {"tokens": [
        {"kind": "phone", "token": tokeniser.token("phone", "+447700900417").hex()},
        {"kind": "phone", "token": tokeniser.token("phone", "+447700900418").hex()},
        {"kind": "email", "token": tokeniser.token("email", "zeb.canary@example.org").hex()}]}
    for raw in ("900417", "900418", "Zeb", "canary"):
        assert raw.lower() not in done.out.lower()
    assert _consultations(node)[-1] == ("TOEX-CSE", '{"lookup_tokens":3}')


def test_lookup_token_mistakes_get_one_clear_line(cli, node: Path) -> None:
    before = _consultations(node)
    for args, message in ((("--justification", "why not"), "give at least one identifier"),
                          (("--phone", "not a number", "--justification", "why not"),
                           "not a phone this node can normalise")):
        done = cli("node", "lookup-tokens", "--dir", node, *args)
        assert done.code == 2 and done.err.startswith("error: ") and message in done.err
        assert "Traceback" not in done.err
    assert _consultations(node) == before  # nothing recorded for a refused request
