"""Network edges from real signed payloads: what `coordinator networks --json` shows an
analyst is pseudonymous entity ids joined by the forces' own links — nothing else.

The story is in `two_networks.py`: a northern network (Lancashire + West Yorkshire, through
Kyle, with Amy, a victim, hidden) and a southern one (Cumbria + Greater Manchester, through
Jordan).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.coordinator.coordinator_payloads import (  # noqa: F401  (fixture)
    DEAN,
    KYLE,
    LANCS,
    MARCUS,
    RAW_VALUES,
    WYP,
    federation_template,
)
from tests.coordinator.two_networks import CUMBRIA, GMP, JORDAN, RYAN, TwoNetworks, build


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory, federation_template: Path  # noqa: F811
        ) -> TwoNetworks:
    return build(federation_template, tmp_path_factory.mktemp("two") / "fed")


def by_forces(two: TwoNetworks) -> dict[tuple[str, ...], dict]:
    return {tuple(n["forces"]): n for n in two.networks}


def test_two_networks_each_with_its_members_edges(two: TwoNetworks) -> None:
    assert set(by_forces(two)) == {(LANCS, WYP), (CUMBRIA, GMP)}
    for network in two.networks:
        members = {m["entity_id"] for m in network["members"]}
        ends = {e["entity_a"] for e in network["edges"]} | {e["entity_b"]
                                                            for e in network["edges"]}
        assert ends == members  # every member is linked to the rest, and no outsider is
        assert all(e["entity_a"] < e["entity_b"] for e in network["edges"])


def test_the_edge_that_crosses_forces_is_the_shared_persons_own_phone(two: TwoNetworks
                                                                      ) -> None:
    north = by_forces(two)[(LANCS, WYP)]
    edges = {(e["entity_a"], e["entity_b"]): e for e in north["edges"]}
    kyle, kyle_phone = two.entity(LANCS, KYLE), two.entity(LANCS, KYLE, phone=True)
    assert kyle == two.entity(WYP, KYLE)  # linked nationally
    shared = edges[tuple(sorted((kyle, kyle_phone)))]
    assert shared["kinds"] == ["person_identifier"] and shared["forces"] == [LANCS, WYP]
    assert shared["n_links"] == 2
    dean_kyle = edges[tuple(sorted((two.entity(LANCS, DEAN), kyle)))]
    assert dean_kyle["kinds"] == ["co_suspect"] and dean_kyle["forces"] == [LANCS]
    marcus_kyle = edges[tuple(sorted((two.entity(WYP, MARCUS), kyle)))]
    assert marcus_kyle["forces"] == [WYP]


def test_the_edge_counts_match_the_submitted_links(two: TwoNetworks) -> None:
    """Each payload links person→phone per person and co-suspects in a chain (victims
    left out), plus a call from its first phone to each victim's phone."""
    south = by_forces(two)[(CUMBRIA, GMP)]
    # Cumbria: 3 person-phone + 2 co-suspect; GMP: 2 person-phone (Jordan's is shared)
    # + 1 co-suspect: 7 distinct pairs, 8 links.
    assert len(south["edges"]) == 7
    assert sum(e["n_links"] for e in south["edges"]) == 8
    jordan, ryan = two.entity(GMP, JORDAN), two.entity(GMP, RYAN)
    assert {"entity_a": min(jordan, ryan), "entity_b": max(jordan, ryan),
            "kinds": ["co_suspect"], "forces": [GMP], "n_links": 1} in south["edges"]
    north = by_forces(two)[(LANCS, WYP)]
    # Lancashire: 3 person-phone (Amy's hidden) -> 2, 1 co-suspect, 1 call to Amy (hidden);
    # West Yorkshire: 2 person-phone seen (Kyle's shared), Kyle-Marcus (Marcus-Amy hidden).
    assert len(north["edges"]) == 5
    assert sum(e["n_links"] for e in north["edges"]) == 6


def test_the_victim_is_never_an_edge_end_member_or_broker(two: TwoNetworks) -> None:
    assert len(two.amy) == 2
    for network in two.networks:
        seen = ({m["entity_id"] for m in network["members"]} | set(network["brokers"])
                | {e[k] for e in network["edges"] for k in ("entity_a", "entity_b")})
        assert not seen & two.amy


def test_the_json_holds_entity_ids_and_names_of_forces_only(two: TwoNetworks) -> None:
    text = json.dumps(two.networks)
    refs = {r for rows in two.own.values() for r in rows}
    assert refs and not [r for r in refs if r in text]
    assert not re.search(r"[0-9a-f]{32}", text)  # no reference, no token, in any form
    assert [v for v in RAW_VALUES if v and v in text] == []
    for network in two.networks:
        for edge in network["edges"]:
            assert set(edge) == {"entity_a", "entity_b", "kinds", "forces", "n_links"}
            assert set(edge["forces"]) <= set(network["forces"])
