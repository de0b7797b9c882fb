"""Disclosure control: the 10-5 rule plus secondary suppression against differencing."""

from __future__ import annotations

import itertools
import json
from collections import defaultdict

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies.disclosure import control_aggregates


def table(name: str, cells: dict[tuple[str, ...], int | None], dims: tuple[str, ...]) -> pa.Table:
    return pa.table({
        "name": [name] * len(cells),
        "cell": [json.dumps(dict(zip(dims, key, strict=True))) for key in cells],
        "count": pa.array(list(cells.values()), pa.int64()),
    })


def published(result: pa.Table) -> dict[tuple[str, str], int | None]:
    return {(n, c): v for n, c, v in zip(result.column("name").to_pylist(),
                                         result.column("cell").to_pylist(),
                                         result.column("count").to_pylist(), strict=True)}


def margins_with_one_suppressed(result: pa.Table) -> list[tuple]:
    """Margins (cells agreeing on all dimensions but one) holding exactly one suppressed cell."""
    groups: dict[tuple, list[int | None]] = defaultdict(list)
    for (name, cell), count in published(result).items():
        values = json.loads(cell)
        for dim in values:
            rest = tuple(sorted((k, v) for k, v in values.items() if k != dim))
            groups[(name, dim, rest)].append(count)
    return [m for m, counts in groups.items()
            if sum(c is None for c in counts) == 1 and len(counts) > 1]


def test_small_counts_are_suppressed_and_the_rest_rounded_to_five() -> None:
    # offences by category in one force: 8 CCE offences is under the threshold
    counts = {("cse",): 47, ("csa",): 112, ("cce",): 8, ("online",): 23}
    result = control_aggregates(table("offences", counts, ("offence_category",)),
                                secondary=False)
    assert result.column("count").to_pylist() == [45, 110, None, 25]


def test_rounding_goes_to_the_nearest_multiple_of_the_base() -> None:
    counts = {(str(i),): n for i, n in enumerate([10, 12, 13, 17, 18, 1000, 1002])}
    result = control_aggregates(table("t", counts, ("year",)), secondary=False)
    assert result.column("count").to_pylist() == [10, 10, 15, 15, 20, 1000, 1000]


def test_threshold_and_base_are_the_policys_to_set() -> None:
    counts = {("a",): 4, ("b",): 5, ("c",): 14, ("d",): 16}
    result = control_aggregates(table("t", counts, ("role",)), threshold=5, rounding=10,
                                secondary=False)
    assert result.column("count").to_pylist() == [None, 10, 10, 20]  # halves round up


def test_one_suppressed_category_would_be_recovered_from_the_total_so_a_second_goes() -> None:
    # A recipient who knows the force's total (190) could compute CCE = 190 - 47 - 112 - 23.
    counts = {("cse",): 47, ("csa",): 112, ("cce",): 8, ("online",): 23}
    result = control_aggregates(table("offences", counts, ("offence_category",)))
    # the next-smallest cell (online, 23) is suppressed as well; nothing else is lost
    assert result.column("count").to_pylist() == [45, 110, None, None]
    assert margins_with_one_suppressed(result) == []


def test_secondary_suppression_cascades_across_rows_and_columns() -> None:
    # offence category x year. CSE 2023 = 3 is primary-suppressed; protecting its row
    # suppresses CSE 2024, protecting its column suppresses CSA 2023, which leaves CSA's
    # row with one suppressed cell, so CSA 2024 goes too.
    counts = {("cse", "2023"): 3, ("cse", "2024"): 40, ("cce", "2023"): 55,
              ("cce", "2024"): 61, ("csa", "2023"): 22, ("csa", "2024"): 18}
    result = control_aggregates(table("by_year", counts, ("offence_category", "year")))
    assert result.column("count").to_pylist() == [None, None, 55, 60, None, None]
    assert margins_with_one_suppressed(result) == []


def test_without_secondary_suppression_differencing_recovers_the_small_cell() -> None:
    counts = {("cse", "2023"): 3, ("cse", "2024"): 40, ("cce", "2023"): 55,
              ("cce", "2024"): 61, ("csa", "2023"): 22, ("csa", "2024"): 18}
    exposed = control_aggregates(table("by_year", counts, ("offence_category", "year")),
                                 secondary=False)
    assert margins_with_one_suppressed(exposed)  # the attack the rule exists to stop


def test_input_nulls_count_as_suppressed_and_tables_are_independent() -> None:
    a = table("a", {("x",): None, ("y",): 50, ("z",): 60}, ("role",))
    b = table("b", {("x",): 30, ("y",): 50}, ("role",))
    result = control_aggregates(pa.concat_tables([a, b]))
    assert result.column("count").to_pylist() == [None, None, 60, 30, 50]


def test_rows_keep_their_order_and_the_schema_is_the_share_set_one() -> None:
    counts = {("2024", "suspect"): 31, ("2023", "victim"): 12, ("2022", "offender"): 99}
    source = table("t", counts, ("year", "role"))
    result = control_aggregates(source)
    assert result.column("cell").to_pylist() == source.column("cell").to_pylist()
    assert result.schema == pa.schema([("name", pa.string()), ("cell", pa.string()),
                                       ("count", pa.int64())])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_no_margin_of_a_national_sized_3d_table_is_left_with_one_suppressed_cell(
        seed: int) -> None:
    # 12 offence codes x 16 years x 5 roles, counts like a force's: many small cells
    rng = np.random.default_rng(seed)
    codes = [f"{c}" for c in ("17A", "19C", "19E", "20A", "21", "22A", "23", "71/17", "88A",
                              "88C", "88E", "86")]
    years = [str(y) for y in range(2010, 2026)]
    roles = ["suspect", "offender", "facilitator", "witness", "associate"]
    keys = list(itertools.product(codes, years, roles))
    values = rng.negative_binomial(2, 0.08, size=len(keys))
    counts = dict(zip(keys, values.tolist(), strict=True))
    result = control_aggregates(table("cube", counts, ("ho_offence_code", "year", "role")))
    out = result.column("count").to_pylist()
    assert any(v is None for v in out) and any(v is not None for v in out)
    assert margins_with_one_suppressed(result) == []
    # primary suppression is exact: every true count under 10 is suppressed
    assert all(o is None for o, v in zip(out, values, strict=True) if v < 10)
    assert all(o % 5 == 0 for o in out if o is not None)


@settings(max_examples=15, deadline=None)
@given(st.integers(2, 6), st.integers(2, 6), st.integers(0, 2**32 - 1))
def test_property_any_2d_table_is_protected(rows: int, cols: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    keys = list(itertools.product([f"r{i}" for i in range(rows)],
                                  [f"c{j}" for j in range(cols)]))
    values = rng.integers(0, 40, size=len(keys))
    result = control_aggregates(table("t", dict(zip(keys, values.tolist(), strict=True)),
                                      ("role", "year")))
    out = result.column("count").to_pylist()
    assert margins_with_one_suppressed(result) == []
    assert all(o is None for o, v in zip(out, values, strict=True) if v < 10)
