"""The pieces of relay containment that need no SuperLink: which relay bundles a force
approves, the refusal to run uncontained without root, and the probe `node join` runs as
the relay user before starting."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from relay_env import fab_hash, need_root, open_folder, relay_python, relay_user

from federation.errors import CrossforceError
from federation.flower import containment
from federation.flower.deployment import write_app
from node.serve_cli import _approved

OTHER = "ab" * 32


def test_the_relay_hash_is_the_bundle_flwr_run_sends(tmp_path: Path, cli) -> None:  # noqa: ANN001
    sent = fab_hash(write_app(tmp_path))
    assert containment.relay_fab_hash() == sent
    result = cli("node", "relay-hash")
    assert result.code == 0 and result.out.strip() == f"sha256:{sent}"


def test_what_a_force_approves(tmp_path: Path) -> None:
    builtin = containment.relay_fab_hash()
    assert _approved(tmp_path, None) == {builtin}  # by default: its own installation's relay
    (tmp_path / "federation").mkdir()
    (tmp_path / containment.APPROVED_FILE).write_text(f"# reviewed 2026-12-01\nsha256:{OTHER}\n")
    assert _approved(tmp_path, None) == {OTHER}  # the file replaces the default
    assert _approved(tmp_path, [builtin.upper()]) == {builtin}  # the option wins
    with pytest.raises(CrossforceError, match="not a relay app hash"):
        _approved(tmp_path, ["deadbeef"])


def test_without_root_join_says_why_and_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(CrossforceError, match="--insecure-dev") as raised:
        containment.ensure_relay_user("crossforce-relay-nobody-here")
    assert "cannot read this node's folder" in str(raised.value)
    with pytest.raises(CrossforceError, match="unprivileged user, not root"):
        containment.ensure_relay_user("root")


def test_the_probe_sees_what_the_relay_user_could_read() -> None:
    need_root()
    user = relay_user("crossforce-relay-t0")
    python = relay_python(user)
    root = open_folder("crossforce-probe-")
    try:
        node = root / "node"
        (node / "keys").mkdir(parents=True)
        (node / "node.duckdb").write_bytes(b"persons")
        os.chmod(node / "node.duckdb", 0o644)
        os.chmod(node, 0o755)
        files = containment.stage_relay_files(
            root / "relay", user, node_config={"force": "north", "gateway": "http://x"},
            secret_file=_file(root / "secret", "s" * 64), auth_key=_file(root / "key", "k"),
            root_certificates=_file(root / "ca.pem", "ca"))
        env = containment.relay_environment(files.directory)
        deny = [node, node / "node.duckdb", node / "keys"]

        def check() -> None:
            found = containment.probe(python, user, env, deny=deny, allow=[files.secret],
                                      cwd=files.directory)
            containment.check_containment(found, user.name)

        with pytest.raises(CrossforceError, match="can read .*node.duckdb"):
            check()  # a careless install: the folder and the store open to all
        assert containment.close_node_folder(node)
        check()  # closed: nothing of the node is readable, its own secret copy is
        assert os.stat(files.secret).st_uid == user.uid
        assert oct(os.stat(files.directory).st_mode & 0o777) == "0o700"
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _file(path: Path, text: str) -> Path:
    path.write_text(text)
    os.chmod(path, 0o600)
    return path
