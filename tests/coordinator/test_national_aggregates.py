"""National aggregates: the coordinator sums what each force's gate released, per cell.

Two forces submit real signed share sets whose aggregate tables differ; the coordinator
shows national sums only — never one force's count — says how many forces held a cell
back, counts a resubmission once, and keeps a SecAgg+ round's national vector apart.
"""

from __future__ import annotations

import dataclasses
import json
import re

import pyarrow as pa
import pytest
from coordinator_payloads import (
    AMY,
    DEAN,
    KYLE,
    MARCUS,
    PURPOSE,
    Federation,
    PoliceForce,
    federation,  # noqa: F401  (fixture)
    federation_template,  # noqa: F401  (fixture)
)

from coordinator.aggregates import national_aggregates, record_secure_sum
from federation.errors import CrossforceError
from federation.ledger import verify_ledger
from federation.payload import Submission
from policies.disclosure import AGGREGATES_SCHEMA

CSE_2024 = '{"offence_category":"cse","year":"2024"}'
CSE_2025 = '{"offence_category":"cse","year":"2025"}'
# a category of the national layout (the coordinator refuses cells off the layout)
MS_2025 = '{"offence_category":"cce","year":"2025"}'


def payload(force: PoliceForce, counts: dict[str, int | None], **kwargs: object) -> bytes:
    """A real signed share set whose aggregate table is ``crimes_by_category_year``."""
    share = force.share_set([KYLE, DEAN, AMY, MARCUS])
    table = pa.table({"name": ["crimes_by_category_year"] * len(counts),
                      "cell": list(counts), "count": pa.array(list(counts.values()),
                                                              pa.int64())},
                     schema=AGGREGATES_SCHEMA)
    share = dataclasses.replace(share, aggregates=table)
    return Submission.seal(share, force.signer, **kwargs).to_bytes()  # type: ignore[arg-type]


def submit(cli, federation: Federation, name: str, data: bytes) -> None:  # noqa: ANN001, F811
    result = cli("coordinator", "submit", "--dir", federation.dir,
                 federation.write(name, data))
    assert result.code == 0, result


def national(cli, federation: Federation, *args: str) -> dict[str, dict]:  # noqa: ANN001, F811
    result = cli("coordinator", "aggregates", "--dir", federation.dir, "--json", *args)
    assert result.code == 0, result
    return {json.dumps(row["cell"], sort_keys=True): row for row in json.loads(result.out)}


def key(cell: str) -> str:
    return json.dumps(json.loads(cell), sort_keys=True)


@pytest.fixture
def two_forces(cli, federation: Federation) -> Federation:  # noqa: ANN001, F811
    submit(cli, federation, "lancs.bin",
           payload(federation.lancs, {CSE_2024: 65, CSE_2025: None, MS_2025: 15}))
    submit(cli, federation, "wyp.bin",
           payload(federation.wyp, {CSE_2024: 30, CSE_2025: 45}))
    return federation


def test_a_national_count_is_the_sum_of_what_the_forces_released(
        cli, two_forces: Federation) -> None:  # noqa: ANN001
    rows = national(cli, two_forces)
    assert {cell: (r["count"], r["forces"], r["forces_suppressed"]) for cell, r in
            rows.items()} == {key(CSE_2024): (95, 2, 0),   # 65 + 30
                              key(CSE_2025): (45, 1, 1),   # a lower bound: Lancashire held back
                              key(MS_2025): (15, 1, 0)}
    assert {r["method"] for r in rows.values()} == {"share-sets"}
    assert {r["purpose"] for r in rows.values()} == {PURPOSE}
    assert {r["table"] for r in rows.values()} == {"crimes_by_category_year"}


def test_the_table_shows_national_figures_and_no_force_s_own_count(
        cli, two_forces: Federation) -> None:  # noqa: ANN001
    result = cli("coordinator", "aggregates", "--dir", two_forces.dir)
    assert result.code == 0, result
    assert "crimes_by_category_year — op-test (share-sets, 3 cells)" in result.out
    assert "offence category" in result.out and "cce" in result.out
    shown = set(re.findall(r"\d+", result.out))
    assert {"95", "45", "15"} <= shown
    assert not {"65", "30"} & shown  # Lancashire's and West Yorkshire's own counts
    assert "Lancashire" not in result.out and "West Yorkshire" not in result.out


def test_a_resubmission_replaces_the_force_s_counts(cli, two_forces: Federation) -> None:  # noqa: ANN001
    submit(cli, two_forces, "lancs-2.bin",
           payload(two_forces.lancs, {CSE_2024: 40, CSE_2025: 10}))
    rows = national(cli, two_forces)
    assert rows[key(CSE_2024)]["count"] == 70          # 40 + 30, the old 65 is gone
    assert (rows[key(CSE_2025)]["count"], rows[key(CSE_2025)]["forces"]) == (55, 2)
    assert key(MS_2025) not in rows


def test_filters_and_a_clear_error_for_an_unknown_method(cli, two_forces: Federation) -> None:  # noqa: ANN001
    assert national(cli, two_forces, "--purpose", "another-purpose") == {}
    assert len(national(cli, two_forces, "--table", "crimes_by_category_year")) == 3
    assert national(cli, two_forces, "--method", "secure-sum") == {}
    bad = cli("coordinator", "aggregates", "--dir", two_forces.dir, "--method", "average")
    assert bad.code == 2 and "unknown aggregation method 'average'" in bad.err


def test_looking_is_logged_as_a_consultation(cli, two_forces: Federation) -> None:  # noqa: ANN001
    national(cli, two_forces)
    with two_forces.store() as store:
        (action, counts), = store.con.execute(
            "SELECT action, counts FROM ledger ORDER BY seq DESC LIMIT 1").fetchall()
        assert action == "consultation" and json.loads(counts) == {"cells": 3}
        assert verify_ledger(store.con, store.keys.signer.public_key).ok


def test_a_secure_sum_is_kept_apart_and_replaced_by_the_next_round(
        cli, two_forces: Federation) -> None:  # noqa: ANN001
    cells = [("crimes_by_category_year", CSE_2024), ("crimes_by_category_year", MS_2025)]
    with two_forces.store() as store:
        record_secure_sum(store.con, purpose=PURPOSE, epoch=1, cells=cells,
                          counts=[70, 0], contributors=3)
        record_secure_sum(store.con, purpose=PURPOSE, epoch=1, cells=cells[:1],
                          counts=[75], contributors=3)
        held = national_aggregates(store.con, method="secure-sum").to_pylist()
    assert [(r["cell"], r["count"], r["forces"], r["forces_suppressed"]) for r in held] == [
        (CSE_2024, 75, 3, None)]
    rows = national(cli, two_forces, "--method", "share-sets")
    assert rows[key(CSE_2024)]["count"] == 95  # the share-set sum is untouched


@pytest.mark.parametrize(("cells", "counts", "contributors", "message"), [
    ([("t", CSE_2024)], [1, 2], 2, "2 counts for 1 cells"),
    ([("t", CSE_2024)], [5], 1, "at least 2 contributing forces"),
    ([("t", CSE_2024)], [-5], 2, "negative count"),
    ([("t", '["not", "an", "object"]')], [5], 2, "is not a JSON object"),
])
def test_a_bad_secure_sum_is_refused_and_nothing_is_stored(
        two_forces: Federation, cells: list, counts: list, contributors: int,
        message: str) -> None:
    with two_forces.store() as store:
        with pytest.raises(CrossforceError, match=message):
            record_secure_sum(store.con, purpose=PURPOSE, epoch=1, cells=cells,
                              counts=counts, contributors=contributors)
        assert store.con.execute("SELECT count(*) FROM secure_sums").fetchall() == [(0,)]
