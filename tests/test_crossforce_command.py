"""The one `crossforce` command: every group is there and explains itself."""

from __future__ import annotations

import pytest


def test_top_level_help_lists_every_group(cli) -> None:
    result = cli("--help")
    assert result.code == 0
    for group in ("scenario", "node", "coordinator", "policy", "audit", "demo"):
        assert group in result.out


@pytest.mark.parametrize("group", ["scenario", "node", "coordinator", "policy", "audit"])
def test_each_group_explains_what_it_is_for(cli, group: str) -> None:
    result = cli(group, "--help")
    assert result.code == 0
    assert "Usage: crossforce " + group in " ".join(result.out.split())


def test_unknown_command_is_a_clear_usage_error(cli) -> None:
    result = cli("nodes")
    assert result.code == 2
    assert "No such command" in result.err


def _duckdb_query_cut_by(interrupt) -> BaseException:  # noqa: ANN001
    """Run a long DuckDB query and cut it short the way `interrupt(con)` does."""
    import threading
    import time

    import duckdb

    con = duckdb.connect()
    threading.Thread(target=lambda: (time.sleep(0.3), interrupt(con)), daemon=True).start()
    try:
        con.execute("SELECT count(*) FROM range(100000000000) a")
    except BaseException as exc:  # noqa: BLE001 — what DuckDB raises is the point
        return exc
    raise AssertionError("the query was not interrupted")


def test_ctrl_c_during_a_duckdb_query_is_an_abort_not_a_traceback() -> None:
    """DuckDB swallows a SIGINT that lands mid-query and raises RuntimeError('Query
    interrupted'): `crossforce` must still say "Aborted." (exit 130), as for any Ctrl-C
    (`crossforce demo` showed a traceback when Ctrl-C hit a store migration)."""
    import os
    import signal

    from federation.cli import interrupted

    by_signal = _duckdb_query_cut_by(lambda con: os.kill(os.getpid(), signal.SIGINT))
    by_call = _duckdb_query_cut_by(lambda con: con.interrupt())
    assert interrupted(by_signal) and interrupted(by_call)
    assert not interrupted(RuntimeError("Query failed"))
    assert not interrupted(ValueError("Query interrupted"))
