"""The coordinator folder: one DuckDB store with a versioned schema, keys, and one owner
at a time (DESIGN.md §12)."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from coordinator_payloads import (  # noqa: F401  (fixtures)
    Federation,
    federation,
    federation_template,
)

from coordinator.store import MIGRATIONS, STORE_FILE, init_store, open_existing, open_store
from federation.errors import CrossforceError


def test_init_makes_a_migrated_store_and_private_keys(tmp_path: Path, cli) -> None:
    d = tmp_path / "coord"
    result = cli("coordinator", "init", "--dir", d)
    assert result.code == 0, result
    assert "ledger signing key  SHA256:" in result.out
    con = duckdb.connect(str(d / STORE_FILE), read_only=True)
    try:
        versions = con.execute("SELECT version FROM store_migrations").fetchall()
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    finally:
        con.close()
    assert versions == [(m.version,) for m in MIGRATIONS]
    assert {"forces", "submissions", "items", "tokens", "links", "aggregates", "ledger",
            "seen_payloads", "entities"} <= tables
    for name in ("signing_key.pem", "encryption_key.pem"):
        assert stat.S_IMODE((d / "keys" / name).stat().st_mode) == 0o600
    assert (d / "keys" / "public.json").exists()


def test_init_refuses_to_overwrite_a_coordinator(tmp_path: Path, cli) -> None:
    d = tmp_path / "coord"
    assert cli("coordinator", "init", "--dir", d).code == 0
    key = (d / "keys" / "signing_key.pem").read_bytes()
    result = cli("coordinator", "init", "--dir", d)
    assert result.code == 2
    assert result.err.strip() == (f"error: {d} already holds a coordinator; refusing to "
                                  "overwrite it (choose another --dir)")
    assert (d / "keys" / "signing_key.pem").read_bytes() == key


def test_opening_again_applies_no_step_twice(tmp_path: Path) -> None:
    init_store(tmp_path / "c").close()
    for _ in range(2):
        with open_store(tmp_path / "c") as store:
            assert store.con.execute("SELECT count(*) FROM store_migrations"
                                     ).fetchone()[0] == len(MIGRATIONS)


def test_a_folder_that_is_not_a_coordinator_is_named(tmp_path: Path, cli) -> None:
    result = cli("coordinator", "status", "--dir", tmp_path)
    assert result.code == 2
    assert result.err.strip() == (
        f"error: {tmp_path} is not a coordinator (no {STORE_FILE}); create one with "
        f"`crossforce coordinator init --dir {tmp_path}`")


def test_the_store_holds_only_opaque_bytes_where_data_goes(tmp_path: Path) -> None:
    with init_store(tmp_path / "c").con as con:
        types = dict(con.execute(
            "SELECT table_name || '.' || column_name, data_type FROM duckdb_columns() "
            "WHERE table_name IN ('items', 'tokens', 'links')").fetchall())
    for column in ("items.ref", "tokens.ref", "tokens.token", "links.ref_a", "links.ref_b"):
        assert types[column] == "BLOB"


def test_while_the_service_runs_the_cli_is_told_who_holds_the_store(
        federation: Federation, tmp_path: Path) -> None:  # noqa: F811
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from coordinator.service import open_service;"
         f" s = open_service({str(federation.dir)!r}); print('ready', flush=True);"
         " sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(CrossforceError) as err:
            open_existing(federation.dir, wait_s=0.3)
        message = str(err.value)
        assert f"is in use by process {holder.pid}" in message
        assert "one owner at a time" in message
        assert "Conflicting lock" not in message
    finally:
        holder.communicate("")
    assert holder.returncode == 0


def test_a_coordinator_refuses_to_run_holding_a_linkage_secret(
        federation: Federation, cli) -> None:  # noqa: F811
    from federation.keys import LinkageSecret

    keys = federation.dir / "keys"
    LinkageSecret.generate().save(keys / "linkage_secret.json")
    result = cli("coordinator", "status", "--dir", federation.dir)
    assert result.code == 2
    assert result.err.strip() == (
        f"error: {keys} holds a linkage secret; the coordinator must hold no key that can "
        "make or reverse tokens (DESIGN.md §1.2) — remove it from there")
