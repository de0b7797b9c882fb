"""The baseline for linkage quality: Splink on the RAW records, a standard configuration.

All records of all forces are de-duplicated together (`dedupe_only` over one table with a
`source_dataset` column naming the force), as the Splink quickstart does on fake_1000:
NameComparison on given and family name, DateOfBirthComparison on the date as text
(impossible dates as null), locality and postcode exact with term-frequency adjustments,
the street number and street where the set has them, EmailComparison where it has emails.
Candidate pairs from several blocking rules (given name + DOB, surname, DOB, first two
letters of both names, given name + locality, postcode, email) — the quickstart's two rules
alone miss a third of fake_1000's true pairs. λ from deterministic rules (recall 0.7), u
by random sampling, m by EM over two blocking rules, predictions above match weight -5,
clusters at match probability 0.95 (also reported at 0.5).

    splink_clusters(records) -> {record_id: cluster_id}, seconds, {other threshold: ...}
"""

from __future__ import annotations

import logging
import time
from typing import Any

import duckdb

#: cluster threshold (match probability), as the Splink quickstart: the baseline
CLUSTER_THRESHOLD = 0.95
#: also clustered at (from the same predictions), to show how much the threshold matters
OTHER_THRESHOLDS = (0.5,)


def _has(df: Any, column: str) -> bool:
    return column in df.columns and bool(df[column].notna().any())


def splink_settings(df: Any) -> Any:
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    tf = {"term_frequency_adjustments": True}
    comparisons = [
        cl.NameComparison("given_name").configure(**tf),
        cl.NameComparison("surname").configure(**tf),
        cl.DateOfBirthComparison("dob", input_is_string=True, invalid_dates_as_null=True),
    ]
    blocking = [block_on("given_name", "dob"), block_on("surname"), block_on("dob"),
                block_on("substr(given_name, 1, 2)", "substr(surname, 1, 2)")]
    if _has(df, "city"):
        comparisons.append(cl.ExactMatch("city").configure(**tf))
        blocking.append(block_on("given_name", "city"))
    if _has(df, "postcode"):
        comparisons.append(cl.ExactMatch("postcode").configure(**tf))
        blocking.append(block_on("postcode"))
    if _has(df, "street_number"):
        comparisons.append(cl.ExactMatch("street_number").configure(**tf))
    if _has(df, "address_1"):
        comparisons.append(cl.JaroWinklerAtThresholds("address_1", [0.9, 0.7]))
    if _has(df, "email"):
        comparisons.append(cl.EmailComparison("email"))
        blocking.append(block_on("email"))
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="record_id",
        comparisons=comparisons,
        blocking_rules_to_generate_predictions=blocking,
        retain_intermediate_calculation_columns=False,
    )


def splink_clusters(records: Any, others: tuple[float, ...] = OTHER_THRESHOLDS
                    ) -> tuple[dict[str, int], float, dict[float, dict[str, int]]]:
    """Cluster the raw records of every force with Splink: (record_id -> cluster at
    CLUSTER_THRESHOLD, seconds of training + prediction + that clustering, {threshold:
    record_id -> cluster} at the `others`). `records` is one frame in
    `bench.real_path`'s common layout with a `force` column."""
    from splink import DuckDBAPI, Linker, block_on

    logging.getLogger("splink").setLevel(logging.ERROR)
    columns = [c for c in ("record_id", "given_name", "surname", "dob", "street_number",
                           "address_1", "city", "postcode", "email") if c in records.columns]
    df = records[columns].astype(object).where(records[columns].notna(), None).copy()
    df["record_id"] = df["record_id"].astype(str)
    df["source_dataset"] = records["force"].astype(str).to_numpy()
    t0 = time.perf_counter()
    con = duckdb.connect()
    con.register("raw_df", df)
    # every column text, as read from a CSV file
    con.execute("CREATE TABLE raw_records AS SELECT "
                + ", ".join(f"CAST({c} AS VARCHAR) AS {c}" for c in df.columns)
                + " FROM raw_df")
    db = DuckDBAPI(con)
    linker = Linker(db.register("raw_records"), splink_settings(df), log_level=None)
    training = linker.training
    training.estimate_probability_two_random_records_match(
        [block_on("given_name", "surname", "dob"),
         block_on("substr(given_name, 1, 2)", "surname", "substr(dob, 1, 4)")],
        recall=0.7)
    training.estimate_u_using_random_sampling(max_pairs=1e6)
    training.estimate_parameters_using_expectation_maximisation(
        block_on("given_name", "surname"))
    training.estimate_parameters_using_expectation_maximisation(block_on("dob"))
    predictions = linker.inference.predict(threshold_match_weight=-5)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, CLUSTER_THRESHOLD)

    def read(table: Any) -> dict[str, int]:
        rows = con.execute(f"SELECT record_id, cluster_id FROM {table.physical_name}"
                           ).fetchall()
        ids = {c: i for i, c in enumerate(sorted({str(c) for _, c in rows}))}
        return {str(r): ids[str(c)] for r, c in rows}

    baseline = read(clusters)
    seconds = time.perf_counter() - t0
    other = {t: read(linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, t)) for t in others}
    con.close()
    return baseline, seconds, other
