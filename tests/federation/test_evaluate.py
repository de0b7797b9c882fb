"""Scoring findings against a planted truth: pairwise, cross-force, restricted to scope."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from federation.evaluate import score

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
