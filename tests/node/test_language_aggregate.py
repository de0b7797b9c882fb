"""Counts of messages needing a translator leave a node only as the policy-named aggregate
``messages_needing_translation_by_language`` (for national translator planning): a count
per language, never text, and only when the force's policy names the dimension."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from analyses_worlds import build
from language_world import language_world

from node.egress import _aggregates_table
from node.store import open_store
from policies.model import default_policy_text, parse_policy
from policies.national_tables import every_cell

TABLE = "messages_needing_translation_by_language"


@pytest.fixture
def world(template_node: Path, tmp_path: Path) -> Path:
    return build(template_node, tmp_path, language_world())


def _policy(with_language: bool):  # noqa: ANN202
    """The default policy allowing only this breakdown (so only this table is built), or
    only nationality (which alone makes no table)."""
    text = default_policy_text("cse-national")
    start = text.index("dimensions = [")
    end = text.index("]", start) + 1
    dims = '["language"]' if with_language else '["nationality"]'
    return parse_policy(text[:start] + f"dimensions = {dims}" + text[end:], "test.toml")


def test_counts_per_language_leave_only_when_the_policy_names_language(world: Path) -> None:
    with open_store(world) as (_, con):
        named = _aggregates_table(con, _policy(True)).to_pylist()
        unnamed = _aggregates_table(con, _policy(False)).to_pylist()
    # 6 messages need a translator: pl 3, ur-Latn 2, ro 1 (English, emoji, "ok": none)
    cells = {json.loads(r["cell"])["language"]: r["count"] for r in named
             if r["name"] == TABLE}
    assert cells == {"pl": 3, "ro": 1, "ur-Latn": 2}
    assert all(r["name"] != TABLE for r in unnamed)
    # on the coordinator's closed list of cells: a count per language and nothing else
    known = set(every_cell().to_pylist())
    assert all(f"{TABLE}\x1f{r['cell']}" in known for r in named if r["name"] == TABLE)


def test_a_language_off_the_national_list_is_counted_as_other(world: Path) -> None:
    with open_store(world) as (_, con):
        con.execute("UPDATE messages SET language = 'fr' WHERE device_id = 'D2' AND "
                    "message_id = 'm1'")  # as if the Romanian message were French
        named = _aggregates_table(con, _policy(True)).to_pylist()
    cells = {json.loads(r["cell"])["language"]: r["count"] for r in named
             if r["name"] == TABLE}
    assert cells == {"other": 1, "pl": 3, "ur-Latn": 2}
