"""`node init` and the store: what a new node holds, and who may open it."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import federation.duckdb_files as duckdb_files
import node.store as store_mod
from node.migrations import DATA_TABLES, MIGRATIONS


def test_init_creates_config_store_and_keys(cli, tmp_path: Path, query) -> None:
    node = tmp_path / "new-node"
    r = cli("node", "init", "--force", "Testshire", "--dir", node)
    assert r.code == 0 and "created node for Testshire" in r.out
    config = tomllib.loads((node / "node.toml").read_text())
    assert config["force"] == "Testshire" and config["created_at"]
    assert (node / "keys").is_dir() and any((node / "keys").iterdir())
    versions = query(node, "SELECT version FROM schema_migrations ORDER BY version")
    assert [v for (v,) in versions] == [m.version for m in MIGRATIONS]
    tables = {t for (t,) in query(node, "SELECT table_name FROM information_schema.tables")}
    assert set(DATA_TABLES) <= tables
    assert {"phones", "emails", "online_handles", "locations", "communication_events",
            "quarantine", "source_files"} <= tables


def test_every_data_table_keeps_its_source_file(node: Path, query) -> None:
    for t in DATA_TABLES:
        cols = {c for (c,) in query(node, "SELECT column_name FROM information_schema.columns "
                                          f"WHERE table_name = '{t}'")}
        assert "source_file" in cols, t
    msg_cols = {c for (c,) in query(node, "SELECT column_name FROM information_schema.columns "
                                          "WHERE table_name = 'messages'")}
    assert {"body", "language"} <= msg_cols


def test_init_refuses_to_overwrite_a_node(cli, node: Path) -> None:
    before = (node / "node.toml").read_text()
    r = cli("node", "init", "--force", "Other", "--dir", node)
    assert r.code == 2 and "already holds a node" in r.err
    assert (node / "node.toml").read_text() == before


def test_init_refuses_a_non_empty_folder(cli, tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "notes.txt").write_text("mine")
    r = cli("node", "init", "--force", "Avon", "--dir", tmp_path / "x")
    assert r.code == 2 and "not empty" in r.err


def test_commands_on_a_folder_that_is_not_a_node_say_so(cli, tmp_path: Path) -> None:
    r = cli("node", "status", "--dir", tmp_path)
    assert r.code == 2 and "not a node" in r.err and "node init" in r.err


def test_a_store_held_by_another_process_names_that_process(
        cli, node: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
         "print('ready', flush=True); time.sleep(60)", str(node / "node.duckdb")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        monkeypatch.setattr(duckdb_files, "LOCK_WAIT_S", 0.3)
        r = cli("node", "status", "--dir", node)
        assert r.code == 2
        assert f"process {holder.pid}" in r.err and "in use" in r.err
        assert "Traceback" not in r.err
    finally:
        holder.kill()
        holder.wait()


def test_migrations_are_applied_once(node: Path) -> None:
    for _ in range(2):  # every open migrates; nothing is applied twice
        with store_mod.open_store(node) as (_config, con):
            assert con.execute("SELECT count(*) FROM schema_migrations").fetchone() == (
                len(MIGRATIONS),)
