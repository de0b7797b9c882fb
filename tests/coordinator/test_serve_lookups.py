"""Lookups from memory (serve_lookups.py) answer exactly what the point query on the store
answers — for every token it holds, for victims' and hubs' numbers, for tokens it never
saw — and a change of the store makes the service read the index again."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from coordinator import api_queries as q
from coordinator.serve_lookups import LookupIndex
from coordinator.served import ServedStore
from tests.coordinator.coordinator_payloads import (  # noqa: F401  (fixture)
    LANCS,
    PURPOSE,
    federation_template,
)
from tests.coordinator.two_networks import build


@pytest.fixture(scope="module")
def linked(tmp_path_factory: pytest.TempPathFactory, federation_template: Path  # noqa: F811
           ) -> Path:
    return build(federation_template, tmp_path_factory.mktemp("lookups") / "fed").dir


def test_the_index_answers_as_the_store_does_for_every_token(linked: Path,
                                                             tmp_path: Path) -> None:
    directory = tmp_path / "copy"
    shutil.copytree(linked, directory)
    served = ServedStore(directory)
    try:
        con = served.reader()
        held = con.execute("SELECT purpose, token_kind, token FROM lookup_index").fetchall()
        assert len(held) == 8  # one phone each of the 8 people, shared ones once
        # a victim's number is held (Amy's phone): its row says hidden, and the answer to
        # Lancashire names nobody
        assert any(row[2] for row in (q.lookup_row(con, p, k, t) for p, k, t in held))
        index = LookupIndex(con)
        asked = [(p, k, t) for p, k, t in held]
        asked += [(PURPOSE, "phone", os.urandom(16)) for _ in range(50)]
        asked += [(PURPOSE, "phone", b"\0" * 16), (PURPOSE, "phone", b"\xff" * 16),
                  ("another-purpose", "phone", held[0][2]), (PURPOSE, "email", held[0][2]),
                  (PURPOSE, "phone", held[0][2][:15] + b"\0")]
        for purpose, kind, token in asked:
            assert index.rows(purpose, [(kind, token)]) == [
                q.lookup_row(con, purpose, kind, token)], (purpose, kind, token.hex())
        # many tokens at once, in the order asked
        many = [(k, t) for p, k, t in held if p == PURPOSE]
        assert index.rows(PURPOSE, many) == [q.lookup_row(con, PURPOSE, k, t)
                                             for k, t in many]
        answer = q.lookup_answer(LANCS, many, index.rows(PURPOSE, many))
        assert answer == q.lookup(con, PURPOSE, LANCS, many)
    finally:
        served.close()


def test_a_change_of_the_store_makes_the_service_read_the_index_again(
        linked: Path, tmp_path: Path) -> None:
    directory = tmp_path / "copy"
    shutil.copytree(linked, directory)
    served = ServedStore(directory)
    try:
        token = served.reader().execute(
            "SELECT token_kind, token FROM lookup_index LIMIT 1").fetchall()[0]
        asked = [(token[0], token[1])]
        assert served.lookups.rows(PURPOSE, asked) is None  # not read yet: it starts
        deadline = time.monotonic() + 60
        while (rows := served.lookups.rows(PURPOSE, asked)) is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert rows == [q.lookup_row(served.reader(), PURPOSE, *asked[0])]
        served.cache.bump()  # what a link, submission or secure sum does once committed
        assert served.lookups.rows(PURPOSE, asked) is None  # the old one is never used
        while served.lookups.rows(PURPOSE, asked) is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert served.lookups.stats()["generation"] == served.cache.generation
    finally:
        served.close()
