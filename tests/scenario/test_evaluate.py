"""Scoring findings against a planted truth: pairwise, cross-force, restricted to scope."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from scenario.evaluate import Makeup, network_makeup, score

TRUTH = """force,person_id,real_id,network_id,is_lookalike,lookalike_of
kent,K1,R1,N1,false,
kent,K2,R2,N1,false,
kent,K3,R3,,false,
essex,E1,R1,N1,false,
essex,E2,R4,,true,R3
essex,E3,R2,N1,false,
sussex,S1,R1,N1,false,
"""


@pytest.fixture
def truth_dir(tmp_path: Path) -> Path:
    (tmp_path / "persons.csv").write_text(TRUTH)
    return tmp_path


def table(rows: list[tuple]) -> pa.Table:
    cols = list(zip(*rows, strict=True))
    return pa.table({"force": cols[0], "person_id": cols[1],
                     "entity_id": pa.array(cols[2], pa.int64()),
                     "network_id": pa.array(cols[3], pa.string())})


def scope_of(rows: list[tuple[str, str]]) -> pa.Table:
    return pa.table({"force": [r[0] for r in rows], "person_id": [r[1] for r in rows]})


ALL = scope_of([("kent", "K1"), ("kent", "K2"), ("kent", "K3"), ("essex", "E1"),
                ("essex", "E2"), ("essex", "E3"), ("sussex", "S1")])


def test_perfect_findings_score_one(truth_dir: Path) -> None:
    found = table([("kent", "K1", 1, "A"), ("essex", "E1", 1, "A"), ("sussex", "S1", 1, "A"),
                   ("kent", "K2", 2, "A"), ("essex", "E3", 2, "A")])
    s = score(truth_dir, found, ALL)
    # R1 in three forces = 3 cross-force pairs, R2 in two = 1 pair
    assert s["person_links"].true_positives == 4
    assert s["person_links"].f1 == 1.0
    # network N1 holds five records = 10 pairs
    assert s["network_membership"].true_positives == 10
    assert s["network_membership"].f1 == 1.0


def test_a_lookalike_merge_is_a_false_positive_and_a_missed_record_a_false_negative(
        truth_dir: Path) -> None:
    found = table([("kent", "K1", 1, None), ("essex", "E1", 1, None),
                   ("kent", "K3", 3, None), ("essex", "E2", 3, None)])  # K3 ~ E2 look-alikes
    links = score(truth_dir, found, ALL)["person_links"]
    assert (links.true_positives, links.false_positives, links.false_negatives) == (1, 1, 3)
    assert links.precision == pytest.approx(0.5)
    assert links.recall == pytest.approx(0.25)


def test_records_out_of_scope_do_not_count(truth_dir: Path) -> None:
    found = table([("kent", "K1", 1, None), ("essex", "E1", 1, None)])
    scope = scope_of([("kent", "K1"), ("essex", "E1")])
    assert score(truth_dir, found, scope)["person_links"].f1 == 1.0


def test_same_force_pairs_are_not_person_links(truth_dir: Path) -> None:
    found = table([("kent", "K1", 1, None), ("kent", "K2", 1, None)])
    links = score(truth_dir, found, ALL)["person_links"]
    assert links.false_positives == 0


# ------------------------------------------------------------- who is in a found network

MAKEUP_TRUTH = TRUTH + """kent,K4,R5,N2,false,
essex,E4,R6,,false,
"""


@pytest.fixture
def makeup_truth(tmp_path: Path) -> Path:
    (tmp_path / "persons.csv").write_text(MAKEUP_TRUTH)
    return tmp_path


def networks(rows: list[tuple[str, str, int | None]]) -> pa.Table:
    return pa.table({"force": [r[0] for r in rows], "person_id": [r[1] for r in rows],
                     "entity_id": pa.array([None] * len(rows), pa.int64()),
                     "network_id": pa.array([r[2] for r in rows], pa.int64())})


EVERYONE = scope_of([("kent", "K1"), ("kent", "K2"), ("kent", "K3"), ("kent", "K4"),
                     ("essex", "E1"), ("essex", "E2"), ("essex", "E3"), ("essex", "E4"),
                     ("sussex", "S1")])


def test_the_makeup_names_the_planted_network_and_counts_who_else_is_in(
        makeup_truth: Path) -> None:
    found = networks([
        # network 7: R1 (three records, one person) and R2 of N1; R5 of N2; look-alike E2;
        # E4, in no planted network
        ("kent", "K1", 7), ("essex", "E1", 7), ("sussex", "S1", 7), ("kent", "K2", 7),
        ("kent", "K4", 7), ("essex", "E2", 7), ("essex", "E4", 7),
        ("essex", "E3", 8), ("kent", "K3", 8),  # network 8: R2's other record, and K3
    ])
    makeup = network_makeup(makeup_truth, found, EVERYONE)
    assert [m.as_dict() for m in makeup] == [
        {"network_id": 7, "persons": 5, "main_network": "N1", "members": 2,
         "other_networks": 1, "lookalikes": 1, "outsiders": 1},
        {"network_id": 8, "persons": 2, "main_network": "N1", "members": 1,
         "other_networks": 0, "lookalikes": 0, "outsiders": 1},
    ]


def test_a_network_of_outsiders_only_has_no_main_network(makeup_truth: Path) -> None:
    makeup = network_makeup(makeup_truth, networks([("kent", "K3", 3), ("essex", "E4", 3)]),
                            EVERYONE)
    assert makeup == [Makeup(3, 2, None, 0, 0, 0, 2)]


def test_the_makeup_counts_only_records_in_scope(makeup_truth: Path) -> None:
    found = networks([("kent", "K1", 7), ("essex", "E1", 7), ("essex", "E4", 7)])
    scope = scope_of([("kent", "K1"), ("essex", "E1")])
    assert network_makeup(makeup_truth, found, scope) == [Makeup(7, 1, "N1", 1, 0, 0, 0)]


def test_a_tie_between_planted_networks_goes_to_the_first_id(makeup_truth: Path) -> None:
    found = networks([("kent", "K4", 9), ("kent", "K1", 9)])
    assert network_makeup(makeup_truth, found, EVERYONE)[0].main_network == "N1"


def test_a_victim_only_record_is_not_scored_as_a_person_link(truth_dir: Path) -> None:
    """R2 is a victim in essex (E3): by design kent is never told of it, so the missing
    kent-essex link of R2 is no miss; R1's links still count."""
    scope = ALL.append_column("shown", pa.array([r != ("essex", "E3") for r in zip(
        ALL.column("force").to_pylist(), ALL.column("person_id").to_pylist(), strict=True)]))
    found = table([("kent", "K1", 1, None), ("essex", "E1", 1, None),
                   ("sussex", "S1", 1, None)])
    links = score(truth_dir, found, scope)["person_links"]
    assert (links.true_positives, links.false_negatives) == (3, 0)
    assert score(truth_dir, found, ALL)["person_links"].false_negatives == 1
