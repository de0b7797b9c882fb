"""`crossforce node share` and `node keys`: what a force's data owner types."""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import pytest
from egress_nodes import canary_template, copy_node, register_commands, secret_file

from federation.payload import Submission


@pytest.fixture
def node(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    register_commands()
    return copy_node(canary_template(tmp_path_factory), tmp_path / "canary-node")


def _ledger_actions(node: Path) -> list[str]:
    con = duckdb.connect(str(node / "node.duckdb"), read_only=True)
    try:
        return [r[0] for r in con.execute("SELECT action FROM ledger ORDER BY seq").fetchall()]
    finally:
        con.close()


def test_dry_run_prints_what_would_leave_and_changes_nothing(cli, node: Path) -> None:
    before = _ledger_actions(node)
    r = cli("node", "share", "--dir", node, "--dry-run")
    assert r.code == 0, r
    assert "DRY RUN" in r.out and f"policy: {node / 'policy.toml'}" in r.out
    assert "person_identifier" in r.out and "sample tokens: email" in r.out
    assert _ledger_actions(node) == before


def test_dry_run_json_matches_the_real_share(cli, node: Path, tmp_path: Path) -> None:
    dry = json.loads(cli("node", "share", "--dir", node, "--dry-run", "--json").out)
    r = cli("node", "share", "--dir", node, "--out", tmp_path / "p.cfsub", "--json")
    assert r.code == 0, r
    real = json.loads(r.out)
    for key in ("items_by_kind", "items_by_role", "tokens_by_kind", "links_by_kind",
                "aggregates_by_table", "sample_tokens", "policy_version"):
        assert dry[key] == real[key], key
    sub = Submission.from_bytes((tmp_path / "p.cfsub").read_bytes())
    assert sub.content_hash == real["payload_hash"]
    assert _ledger_actions(node)[-1] == "disclosure"


def test_share_uses_the_nodes_policy_file(cli, node: Path, tmp_path: Path) -> None:
    from policies.model import default_policy_text

    (node / "policy.toml").write_text(default_policy_text("matching-only"))
    r = cli("node", "share", "--dir", node, "--dry-run", "--json")
    info = json.loads(r.out)
    assert info["purpose"] == "MATCH-ONLY" and info["policy"].endswith("policy.toml")


def test_share_can_encrypt_to_the_coordinator(cli, node: Path, tmp_path: Path) -> None:
    from federation.keys import NodeKeys

    coordinator = NodeKeys.create(tmp_path / "coord-keys", "coordinator")
    r = cli("node", "share", "--dir", node, "--out", tmp_path / "p.cfsub", "--encrypt-to",
            tmp_path / "coord-keys" / "public.json")
    assert r.code == 0, r
    sub = Submission.from_bytes((tmp_path / "p.cfsub").read_bytes())
    assert sub.header.encryption is not None
    assert sub.open(coordinator.encryption).counts()["items"] > 0


@pytest.mark.parametrize("args, message", [
    ((), "exactly one of --dry-run"),
    (("--dry-run", "--out", "x.cfsub"), "exactly one of --dry-run"),
    (("--dry-run", "--purpose", "TOEX-COUNTY-LINES"), "not this node's policy purpose"),
    (("--dry-run", "--policy", "no-such-policy"), "no default policy named"),
    (("--out", "x.cfsub", "--encrypt-to", "nothing-here"), "--encrypt-to"),
])
def test_share_mistakes_get_one_clear_line(cli, node: Path, args: tuple, message: str
                                           ) -> None:
    r = cli("node", "share", "--dir", node, *args)
    assert r.code == 2 and message in r.err, r
    assert not (Path.cwd() / "x.cfsub").exists()


def test_keys_import_secret_and_show(cli, node: Path, tmp_path: Path) -> None:
    (node / "keys" / "linkage_secret.json").unlink()
    r = cli("node", "share", "--dir", node, "--dry-run")
    assert r.code == 2 and "import-keyservice" in r.err  # the fix it names
    shown = json.loads(cli("node", "keys", "show", "--dir", node, "--json").out)
    assert shown["has_linkage_secret"] is False
    r = cli("node", "keys", "import-secret", "--dir", node, secret_file(tmp_path))
    assert r.code == 0 and "epoch 1" in r.out, r
    assert os.stat(node / "keys" / "linkage_secret.json").st_mode & 0o077 == 0
    again = cli("node", "keys", "import-secret", "--dir", node, secret_file(tmp_path))
    assert again.code == 2 and "--replace" in again.err
    shown = json.loads(cli("node", "keys", "show", "--dir", node, "--json").out)
    assert shown["has_linkage_secret"] is True and shown["linkage_epoch"] == "1"
    assert cli("node", "share", "--dir", node, "--dry-run").code == 0


def test_generate_secret_refuses_to_overwrite(cli, tmp_path: Path) -> None:
    register_commands()
    target = tmp_path / "secret.json"
    assert cli("node", "keys", "generate-secret", target).code == 0
    r = cli("node", "keys", "generate-secret", target)
    assert r.code == 2 and "refusing to overwrite" in r.err


def test_rotating_keys_moves_to_a_new_epoch_whose_tokens_do_not_join_the_old(
        cli, node: Path, tmp_path: Path) -> None:
    before = cli("node", "share", "--dir", node, "--dry-run", "--json")
    assert before.code == 0, before
    r = cli("node", "keys", "rotate", "--dir", node)
    assert r.code == 0 and "epoch 2" in r.out, r
    shown = json.loads(cli("node", "keys", "show", "--dir", node, "--json").out)
    assert shown["linkage_epoch"] == "2"
    after = cli("node", "share", "--dir", node, "--dry-run", "--json")
    assert after.code == 0, after
    old, new = json.loads(before.out), json.loads(after.out)
    assert new["epoch"] == old["epoch"] + 1
    assert old["tokens"] == new["tokens"] > 0
    assert {json.dumps(t, sort_keys=True) for t in new["sample_tokens"]}.isdisjoint(
        json.dumps(t, sort_keys=True) for t in old["sample_tokens"])


def test_generate_secret_into_a_missing_folder_is_a_clear_error(cli, tmp_path: Path) -> None:
    register_commands()
    r = cli("node", "keys", "generate-secret", tmp_path / "no-such-folder" / "secret.json")
    assert r.code == 2 and "no such folder" in r.err
    assert not (tmp_path / "no-such-folder").exists()
