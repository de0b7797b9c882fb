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


def test_no_message_text_leaves_in_the_sealed_share_set(cli, world: Path,
                                                        tmp_path: Path) -> None:
    """Privacy canary: the share set sealed under a policy naming `language` holds the
    counts, and no message body — as written, lower-cased or as its digest."""
    import hashlib

    from egress_nodes import secret_file
    from test_egress_canary import _uncompressed

    from node.egress import egress

    assert cli("node", "keys", "import-secret", "--dir", world,
               secret_file(tmp_path)).code == 0

    with open_store(world) as (_, con):
        bodies = [b for (b,) in con.execute(
            "SELECT DISTINCT body FROM messages WHERE body IS NOT NULL "
            "AND length(trim(body)) >= 4").fetchall()]
    assert len(bodies) >= 6, "the world must hold the foreign messages counted above"
    result = egress(world, policy=_policy(True), out=tmp_path / "share.cfsub")
    assert result.payload is not None
    from federation.payload import Submission

    sent = Submission.from_bytes(result.payload).open().aggregates.column("name").to_pylist()
    assert TABLE in sent  # the counts did leave, so their bodies' absence means something
    for blob in (result.payload, _uncompressed(result.payload)):
        for body in bodies:
            for form in {body, body.lower(), body.strip()}:
                assert form.encode() not in blob, body
            assert hashlib.sha256(body.encode()).digest() not in blob, body
