"""`node analyse common` on a hand-built store (analyses_worlds.common_world): common
contacts of three phones, a taxi firm found to be a hub, related phones told apart."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from analyses_worlds import ORG, TAXI, X, Y, Z, build, by, common_world, run, store_tables


@pytest.fixture(scope="module")
def world(template_node: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(template_node, tmp_path_factory.mktemp("common"), common_world())


def three(cli, world: Path, *extra: str) -> dict:
    return run(cli, world, "common", "--device", "D1", "--device", "D2", "--device", "D3",
               *extra)


def test_common_contacts_of_three_phones_rank_by_sharing_then_rarity(cli, world) -> None:
    out = three(cli, world)
    rows = out["tables"]["common contacts"]
    # X: all three by calls (3). Y: D1 and D2 by calls (2). Z: D1 by a call, D2 and D3 by
    # address book only (1 + 2 x 0.5 = 2). Y and Z tie; Y is on 2 of the node's 8 phones,
    # Z on 3, so Y is rarer and comes first.
    assert [r["contact"] for r in rows] == [X, Y, Z]
    x, y, z = rows
    assert (x["subjects"], x["by_communication"], x["evidence"]) == (3, 3, "calls/messages")
    assert x["shared_by"] == "D1 (1), D2 (1), D3 (1)"
    assert y["rarity_idf"] == pytest.approx(math.log(8 / 2), abs=1e-4)
    assert z["rarity_idf"] == pytest.approx(math.log(8 / 3), abs=1e-4)
    assert (z["subjects"], z["by_contact_book_only"], z["evidence"]) == (3, 2, "contact book")
    assert z["shared_by"] == "D1 (1), D2 (book), D3 (book)" and z["name"] == "Zed"


def test_a_taxi_number_called_by_six_unrelated_phones_is_a_hub_listed_apart(
        cli, world) -> None:
    out = three(cli, world)
    # contacts shared by unrelated groups: TAXI 6, X 3, Z 3, Y 2, W 2, Q 2 (ORG's two
    # callers are related: 1). Median 2.5, MAD 0.5: fence 2.5 + 3 x 1.4826 x 0.5 = 4.72,
    # so a hub needs 5 unrelated groups: only TAXI.
    assert out["summary"]["hub_threshold"] == 5
    (hub,) = out["tables"]["hubs (contacts of many unrelated devices), listed apart"]
    assert (hub["contact"], hub["subjects"], hub["devices_on_node"],
            hub["unrelated_groups"]) == (TAXI, 3, 6, 6)
    assert TAXI not in {r["contact"] for r in out["tables"]["common contacts"]}
    # the analyst may move the line: at 7, the taxi is an ordinary common contact, shared
    # by all three like X but on 6 of the node's phones, not 3: so after X
    moved = three(cli, world, "--hub-min", "7")
    assert [r["contact"] for r in moved["tables"]["common contacts"]] == [X, TAXI, Y, Z]


def test_phones_that_call_each_other_are_one_group_not_two(cli, world) -> None:
    out = run(cli, world, "common")
    org = by(out["tables"]["common contacts"], "contact")[ORG]
    # D7 calls D8's own number: both callers of ORG are one group
    assert (org["devices_on_node"], org["unrelated_groups"]) == (2, 1)
    assert out["summary"]["subjects"] == 8


def test_subjects_sharing_most_count_non_hub_contacts(cli, world) -> None:
    out = three(cli, world)
    pairs = by(out["tables"]["subjects sharing most"], "subject_a", "subject_b")
    # without the taxi: D1 holds X, Y, Z; D2 holds X, Y, Z; D3 holds X, Z
    assert (pairs["D1", "D2"]["shared"], pairs["D1", "D2"]["jaccard"]) == (3, 1.0)
    assert (pairs["D1", "D3"]["shared"], pairs["D1", "D3"]["jaccard"]) == (2, 0.667)
    assert (pairs["D2", "D3"]["shared"], pairs["D2", "D3"]["jaccard"]) == (2, 0.667)


def test_common_changes_nothing_but_one_ledger_entry(cli, world, query) -> None:
    before = store_tables(query, world)
    ledger = query(world, "SELECT count(*) FROM ledger")[0][0]
    r = cli("node", "analyse", "common", "--dir", world, "--device", "D1", "--device", "D2")
    assert r.code == 0, r
    assert store_tables(query, world) == before
    assert query(world, "SELECT count(*) FROM ledger")[0][0] == ledger + 1
    assert query(world, "SELECT action, purpose FROM ledger ORDER BY seq DESC LIMIT 1") == [
        ("consultation", "analysis:common")]
