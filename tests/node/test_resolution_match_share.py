"""A store of distinct people does not merge namesakes: when a store is big enough to
train on but holds too few duplicates to learn from, the shipped model's match share comes
from the store itself (the pairs a strict rule finds), not from a guess of one duplicate
per record — which merged 8 pairs of namesakes among FEBRL4's 5,000 distinct people."""

from __future__ import annotations

import datetime as dt
import random
import sys
from pathlib import Path

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "coordinator"))
from linkage_data import population  # noqa: E402

from node.resolution.model import MIN_RECORDS_TO_TRAIN, predict  # noqa: E402


def features(people: list[dict]) -> pa.Table:
    """The resolution features of each person as `node.resolution.features` writes them."""
    rows = []
    for i, p in enumerate(people):
        fn, sn = p["given_names"].lower(), p["family_name"].lower().replace(" ", "")
        dob = p["dob"]
        rows.append({"person_id": f"p{i:05d}", "fn": fn, "fn_names": [fn], "sn": sn,
                     "name_words": sorted({fn, sn}), "dob_s": dob.isoformat(),
                     "ym": dob.strftime("%Y-%m"), "yob": str(dob.year),
                     "postcode": p["postcode"], "district": p["postcode"].split(" ")[0],
                     "ids": None})
    return pa.Table.from_pylist(rows, schema=pa.schema([
        ("person_id", pa.string()), ("fn", pa.string()), ("fn_names", pa.list_(pa.string())),
        ("sn", pa.string()), ("name_words", pa.list_(pa.string())), ("dob_s", pa.string()),
        ("ym", pa.string()), ("yob", pa.string()), ("postcode", pa.string()),
        ("district", pa.string()), ("ids", pa.list_(pa.string()))]))


def test_namesakes_born_in_one_year_in_a_store_of_distinct_people_stay_apart():
    world = population(MIN_RECORDS_TO_TRAIN + 200, seed=31)
    rng = random.Random(3)
    # Matthew Ryan, born 17 April 1951 and 5 September 1951, at different homes
    a = {**world[0], "given_names": "Matthew", "family_name": "Ryan",
         "dob": dt.date(1951, 4, 17)}
    b = {**world[1], "given_names": "Matthew", "family_name": "Ryan",
         "dob": dt.date(1951, 9, 5)}
    people = [a, b, *world[2:]]
    rng.shuffle(people)
    found = predict(features(people), threshold=0.5)
    assert found.pairs.num_rows == 0, found.pairs.to_pylist()
