"""The quality bench's own parts: the cross-force pairwise metric, the seeded split and the
node input it writes (dirty dates of birth). The bench's numbers are never asserted."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from bench.bench_linkage_real import (
    FORCES,
    cross_force_pairwise,
    load_fake_1000,
    split,
    subset_people,
    with_singletons,
)
from bench.real_path import write_records


def test_only_pairs_held_by_different_forces_count():
    # person p: 3 records, two in force a; person q: one record in each of a, b
    force = pd.Series(["a", "a", "b", "a", "b"])
    person = pd.Series(["p", "p", "p", "q", "q"])
    # predicted: p's three together (2 cross pairs right) and q's a-record wrongly with them
    predicted = pd.Series(["x", "x", "x", "x", "y"])
    q = cross_force_pairwise(force, person, predicted)
    assert q["true_pairs"] == 3  # p: (1,3) (2,3); q: (4,5)
    assert q["found_pairs"] == 3  # x: records 1,2,4 in a x record 3 in b
    assert q["true_positives"] == 2
    assert q["precision"] == q["recall"] == 2 / 3


def test_unpredicted_records_are_singletons():
    records = pd.DataFrame({"force": ["a", "b", "b"], "record_id": ["1", "2", "3"]})
    groups = with_singletons(records, {("a", "1"): 7, ("b", "2"): 7})
    assert groups[0] == groups[1] != groups[2]
    assert cross_force_pairwise(records["force"], pd.Series(["p", "p", "p"]),
                                groups)["found_pairs"] == 1


def test_split_is_seeded_and_keeps_every_record():
    people = subset_people(load_fake_1000(), 40, seed=3)
    assert people["person"].nunique() == 40
    a, b = split(people, seed=3), split(people, seed=3)
    assert list(a["force"]) == list(b["force"])
    assert set(a["force"]) <= set(FORCES) and len(a) == len(people)


def _persons(folder: Path) -> dict[str, str]:
    with (folder / "persons.csv").open(newline="") as f:
        return {row["person_id"]: row["dob"] for row in csv.DictReader(f)}


def test_dates_of_birth_go_as_written_unless_blanking_is_asked(tmp_path: Path):
    df = pd.DataFrame({"record_id": ["1", "2", "3", "4"], "given_name": ["ann"] * 4,
                       "surname": ["lee"] * 4,
                       "dob": ["1971-06-24", "1971-02-30", "2999-01-01", None],
                       "city": ["leeds", None, "york", None],
                       "email": ["a@b.uk", None, None, None]})
    assert _persons(write_records(df, tmp_path / "clean", raw_dobs=False)) == {
        "1": "1971-06-24", "2": "", "3": "", "4": ""}
    assert _persons(write_records(df, tmp_path / "raw")) == {
        "1": "1971-06-24", "2": "1971-02-30", "3": "2999-01-01", "4": ""}
    with (tmp_path / "clean" / "identifiers.csv").open(newline="") as f:
        assert [r["value"] for r in csv.DictReader(f)] == ["a@b.uk"]
    with (tmp_path / "clean" / "addresses.csv").open(newline="") as f:
        assert [(r["person_id"], r["address"], r["town"]) for r in csv.DictReader(f)] == [
            ("1", "leeds", "leeds"), ("3", "york", "york")]
