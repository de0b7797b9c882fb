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
