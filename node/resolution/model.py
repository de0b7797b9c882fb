"""The resolution model: Splink (the UK government's probabilistic linkage library) on DuckDB,
de-duplicating one force's own person records on their raw values.

Comparisons (best level first; Splink learns m and u per level, and term frequencies
weigh common names down):
- given name: exact, a nickname of the same name (bob = robert), Jaro-Winkler >= 0.92,
  given and family name swapped, same initial;
- family name: exact, Jaro-Winkler >= 0.92, >= 0.80, a family name found among the other
  record's name words (names split differently between the two fields);
- date of birth: exact (precise dates only), one character apart, day and month swapped,
  same year and month, same year (imprecise dates meet precise ones here);
- postcode: exact, same district;
- identifiers: a phone, e-mail, handle or vehicle recorded against both.

Trained without labels (random-sampled u, EM for m, the match share from a strict
deterministic rule). A store too small to train on uses the shipped parameters
(`default_model.json`: trained the same way on FEBRL3, an open de-duplication set, with
the levels FEBRL3 never shows — nicknames, swapped dates, shared identifiers — set by
hand, a wholly different date of birth counted firmly against (m = 0.01), and no term
frequencies).
Every sampling step is seeded, so the same store gives the same model.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

DEFAULT_MODEL = Path(__file__).with_name("default_model.json")
#: fewer records than this: too few pairs to train on, use the shipped parameters
MIN_RECORDS_TO_TRAIN = 400
SEED = 20_240_601
#: share of a store's duplicates the strict rule (same names and date of birth) finds, as
#: training and the untrained fallback both assume it
STRICT_RULE_RECALL = 0.7


@dataclass(frozen=True)
class Predictions:
    """Scored record pairs and how the model was obtained."""

    pairs: pa.Table          # person_id_l, person_id_r, match_weight, match_probability
    model: str               # 'trained' | 'default'
    settings: dict[str, Any]  # the Splink model (m, u per level) as Splink writes it


#: how many of given name, family name and date of birth wholly disagree (both known, and
#: at no level of their comparison above "else")
_DISAGREE = """(
    (({a}.fn IS NOT NULL AND {b}.fn IS NOT NULL
      AND jaro_winkler_similarity({a}.fn, {b}.fn) < 0.8
      AND left({a}.fn, 1) <> left({b}.fn, 1)
      AND len(list_intersect({a}.fn_names, {b}.fn_names)) = 0
      AND coalesce(jaro_winkler_similarity({a}.fn, {b}.sn), 0) < 0.92)::INT)
  + (({a}.sn IS NOT NULL AND {b}.sn IS NOT NULL
      AND jaro_winkler_similarity({a}.sn, {b}.sn) < 0.8
      AND NOT list_contains({a}.name_words, {b}.sn)
      AND NOT list_contains({b}.name_words, {a}.sn))::INT)
  + (({a}.yob IS NOT NULL AND {b}.yob IS NOT NULL AND {a}.yob <> {b}.yob
      AND coalesce(damerau_levenshtein({a}.dob_s, {b}.dob_s), 9) > 1)::INT))"""


#: born years apart (not a one-character slip) and sharing no phone or e-mail: namesakes,
#: however alike the names (Lachlan Nguyen 1993 and Lachlan Nguyen 1966)
_NAMESAKES = """
    {a}.yob IS NOT NULL AND {b}.yob IS NOT NULL
    AND abs(CAST({a}.yob AS INTEGER) - CAST({b}.yob AS INTEGER)) > 1
    AND coalesce(damerau_levenshtein({a}.dob_s, {b}.dob_s), 9) > 1
    AND coalesce(len(list_intersect({a}.ids, {b}.ids)), 0) = 0"""


def _comparisons() -> list[Any]:
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    given = cl.CustomComparison(output_column_name="given_name", comparison_levels=[
        cll.NullLevel("fn"),
        cll.ExactMatchLevel("fn").configure(tf_adjustment_column="fn"),
        cll.CustomLevel("len(list_intersect(fn_names_l, fn_names_r)) > 0",
                        "a nickname of the same name"),
        cll.JaroWinklerLevel("fn", 0.92),
        cll.CustomLevel("jaro_winkler_similarity(fn_l, sn_r) >= 0.92 AND "
                        "jaro_winkler_similarity(sn_l, fn_r) >= 0.92",
                        "given and family name swapped"),
        cll.CustomLevel("left(fn_l, 1) = left(fn_r, 1)", "same initial"),
        cll.ElseLevel()])
    family = cl.CustomComparison(output_column_name="family_name", comparison_levels=[
        cll.NullLevel("sn"),
        cll.ExactMatchLevel("sn").configure(tf_adjustment_column="sn"),
        cll.JaroWinklerLevel("sn", 0.92),
        cll.JaroWinklerLevel("sn", 0.80),
        cll.CustomLevel("list_contains(name_words_l, sn_r) OR list_contains(name_words_r, sn_l)",
                        "family name among the other's name words"),
        cll.ElseLevel()])
    dob = cl.CustomComparison(output_column_name="dob", comparison_levels=[
        cll.CustomLevel("yob_l IS NULL OR yob_r IS NULL", "missing").configure(
            is_null_level=True),
        cll.ExactMatchLevel("dob_s"),
        cll.CustomLevel("damerau_levenshtein(dob_s_l, dob_s_r) <= 1", "one character apart"),
        cll.CustomLevel("yob_l = yob_r AND substr(dob_s_l, 6, 2) = substr(dob_s_r, 9, 2) "
                        "AND substr(dob_s_l, 9, 2) = substr(dob_s_r, 6, 2)",
                        "day and month swapped"),
        cll.ExactMatchLevel("ym"),
        cll.ExactMatchLevel("yob"),
        cll.ElseLevel()])
    postcode = cl.CustomComparison(output_column_name="postcode", comparison_levels=[
        cll.NullLevel("postcode"),
        cll.ExactMatchLevel("postcode").configure(tf_adjustment_column="postcode"),
        cll.ExactMatchLevel("district"),
        cll.ElseLevel()])
    ids = cl.CustomComparison(output_column_name="identifiers", comparison_levels=[
        cll.CustomLevel("ids_l IS NULL OR ids_r IS NULL", "missing").configure(
            is_null_level=True),
        cll.ArrayIntersectLevel("ids", 1),
        cll.ElseLevel()])
    return [given, family, dob, postcode, ids]


def _blocking() -> list[Any]:
    from splink import block_on

    return [block_on("fn_names", "yob", arrays_to_explode=["fn_names"]),
            block_on("sn", "yob"), block_on("dob_s"),
            block_on("fn_names", "sn", arrays_to_explode=["fn_names"]),
            block_on("postcode", "left(fn, 1)"),
            block_on("name_words", "yob", arrays_to_explode=["name_words"]),
            block_on("ids", arrays_to_explode=["ids"])]


def settings() -> Any:
    from splink import SettingsCreator

    return SettingsCreator(
        link_type="dedupe_only", unique_id_column_name="person_id",
        comparisons=_comparisons(), blocking_rules_to_generate_predictions=_blocking(),
        retain_intermediate_calculation_columns=False, retain_matching_columns=False,
        probability_two_random_records_match=1e-4)


def _quiet() -> None:
    for name in ("splink", "splink.internals"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _train(linker: Any, n: int) -> None:
    from splink import block_on

    linker.training.estimate_probability_two_random_records_match(
        [block_on("fn", "sn", "dob_s"), block_on("ids", "fn",
                                                 arrays_to_explode=["ids"])],
        recall=STRICT_RULE_RECALL)
    linker.training.estimate_u_using_random_sampling(
        max_pairs=min(5e6, max(1e5, n * 50.0)), seed=SEED)
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("dob_s"), estimate_without_term_frequencies=True)
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("sn", "fn"), estimate_without_term_frequencies=True)


def predict(features: pa.Table, *, threshold: float = 0.2, train: bool | None = None
            ) -> Predictions:
    """Score every blocked pair of records at or above `threshold`, on a private in-memory
    DuckDB (Splink's working tables never touch the node store)."""
    from splink import DuckDBAPI, Linker

    _quiet()
    con = duckdb.connect()
    try:
        con.execute("SET threads TO 2")
        con.register("rs_features_in", features)
        con.execute("CREATE TABLE rs_features AS SELECT * FROM rs_features_in")
        db = DuckDBAPI(con)
        table = db.register("rs_features")
        n = features.num_rows
        train = n >= MIN_RECORDS_TO_TRAIN if train is None else train
        if train:
            linker = Linker(table, settings(), log_level=None)
            try:
                _train(linker, n)
                model = "trained"
            except Exception:  # noqa: BLE001 — too few pairs for a step: shipped model
                # a store big enough to train on, with too few duplicate pairs to learn
                # from: its duplicates are rare, so count them
                linker, model = _default_linker(table, n, _twins(con)), "default"
        else:
            linker, model = _default_linker(table, n), "default"
        if n < 2:
            pairs = _empty_pairs()
        else:
            frame = linker.inference.predict(threshold_match_probability=threshold)
            # at most one of given name, family name and date of birth may wholly
            # disagree (Splink's "else" level): siblings at one address, or a father and
            # son, share everything else
            pairs = con.sql(f"""
                SELECT p.person_id_l, p.person_id_r,
                       round(p.match_weight, 6) AS match_weight,
                       round(p.match_probability, 9) AS match_probability
                FROM {frame.physical_name} p
                JOIN rs_features l ON l.person_id = p.person_id_l
                JOIN rs_features r ON r.person_id = p.person_id_r
                WHERE {_DISAGREE.format(a="l", b="r")} <= 1
                  AND NOT ({_NAMESAKES.format(a="l", b="r")})
                ORDER BY p.person_id_l, p.person_id_r""").to_arrow_table()
        return Predictions(pairs, model, linker.misc.save_model_to_json())
    finally:
        con.close()


def _twins(con: duckdb.DuckDBPyConnection) -> int:
    """Pairs of records with the same given name, family name and full date of birth: the
    store's own evidence of how often it holds a person twice."""
    return int(con.execute("""
        SELECT coalesce(sum(c * (c - 1) / 2), 0) FROM (
            SELECT count(*) AS c FROM rs_features
            WHERE fn IS NOT NULL AND sn IS NOT NULL AND dob_s IS NOT NULL
            GROUP BY fn, sn, dob_s)""").fetchall()[0][0])


def _default_linker(table: Any, n: int, twins: int | None = None) -> Any:
    """The shipped parameters, without term frequencies (a few records say nothing about
    how common a name is, so an exact name counts as a common one: u = 0.01) and with the
    match share of a force's store. A small store: about one duplicate pair per record
    over n²/2 pairs, at most 1 in 100 (it must not merge on little evidence). A store whose
    training failed (`twins` given): as training estimates it — the pairs a strict rule
    finds (same names and date of birth), taken as STRICT_RULE_RECALL of its duplicates,
    plus one; one pair per record there merged 8 pairs of namesakes among FEBRL4's 5,000
    distinct people."""
    from splink import Linker

    model = json.loads(DEFAULT_MODEL.read_text())
    share = (1.1 / max(n, 1) if twins is None
             else (twins / STRICT_RULE_RECALL + 1) / max(n * (n - 1) / 2, 1.0))
    model["probability_two_random_records_match"] = min(0.01, max(1e-9, share))
    return Linker(table, model, log_level=None)


def _empty_pairs() -> pa.Table:
    return pa.table({"person_id_l": pa.array([], pa.string()),
                     "person_id_r": pa.array([], pa.string()),
                     "match_weight": pa.array([], pa.float64()),
                     "match_probability": pa.array([], pa.float64())})
