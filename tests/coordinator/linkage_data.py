"""Small worlds for linkage tests: person records per force, encoded through the real path
(match keys → keyed tokens) into a coordinator store, with each record's name kept aside
so a test can say which records were linked."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
from faker import Faker

from coordinator.schema import create_linkage_tables
from federation.matchkeys import match_key_tokens
from federation.tokens import Tokeniser

TOKENISER = Tokeniser(b"linkage tests token key, 32 byte")
Person = dict[str, Any]


def population(n: int, seed: int = 1) -> list[Person]:
    """`n` distinct, plausible people (UK names, postcodes and addresses)."""
    fake = Faker("en_GB")
    fake.seed_instance(seed)
    rng = random.Random(seed)
    people = []
    for _ in range(n):
        people.append({
            "given_names": fake.first_name(), "family_name": fake.last_name(),
            "dob": dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(365 * 55)),
            "postcode": fake.postcode(),
            "address": f"{rng.randrange(1, 200)} {fake.street_name()}, {fake.city()}"})
    return people


def typo(text: str, rng: random.Random) -> str:
    """One keyboard slip: two neighbouring letters swapped."""
    i = rng.randrange(1, len(text) - 1)
    return text[:i - 1] + text[i] + text[i - 1] + text[i + 1:]


def encode(con: duckdb.DuckDBPyConnection, forces: dict[str, list[Person]],
           identifiers: Iterable[tuple[str, str, str, str]] = ()) -> dict[bytes, str]:
    """Write forces' persons (and identifier items: force, label, kind, value) into the
    coordinator tables as tokens. Returns ref -> label (``force/index`` or the given label)."""
    create_linkage_tables(con)
    labels: dict[bytes, str] = {}
    rng = np.random.default_rng(99)
    for force, people in forces.items():
        if not people:
            continue
        table = pa.Table.from_pylist(people)
        toks = match_key_tokens(table, TOKENISER)
        refs = [rng.bytes(16) for _ in people]
        labels.update({ref: f"{force}/{i}" for i, ref in enumerate(refs)})
        items = pa.table({"force": [force] * len(refs), "ref": refs})
        rows = toks.column("row").to_numpy()
        tokens = pa.table({"force": [force] * len(rows), "ref": [refs[r] for r in rows],
                           "token_kind": toks.column("token_kind"),
                           "token": toks.column("token").cast(pa.binary())})
        con.register("items_in", items)
        con.register("tokens_in", tokens)
        con.execute("INSERT INTO items SELECT force, ref, 'person', NULL FROM items_in")
        con.execute("INSERT INTO tokens SELECT force, ref, token_kind, token FROM tokens_in")
        con.unregister("items_in")
        con.unregister("tokens_in")
    for force, label, kind, value in identifiers:
        ref = rng.bytes(16)
        labels[ref] = label
        con.execute("INSERT INTO items VALUES (?, ?, ?, NULL)", [force, ref, kind])
        con.execute("INSERT INTO tokens VALUES (?, ?, ?, ?)",
                    [force, ref, kind, TOKENISER.token(kind, value)])
    return labels


def entity_of(con: duckdb.DuckDBPyConnection, labels: dict[bytes, str]) -> dict[str, int]:
    """label -> national entity id, from the `entities` table linkage wrote."""
    return {labels[bytes(ref)]: eid for ref, eid in
            con.execute("SELECT ref, entity_id FROM entities").fetchall()}


WORLD_SMALL: list[Person] = population(40, seed=11)
