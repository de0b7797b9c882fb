"""Lookups and networks from memory (serve_lookups.py, serve_networks.py) answer exactly
what the queries on the store answer — for every token it holds, a victim's number, tokens
it never saw; every network, under its purpose and another — and a change of the store
makes the service read them again."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from coordinator import api_queries as q
from coordinator.serve_lookups import LookupIndex
from coordinator.serve_networks import NetworkIndex
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


@pytest.fixture
def served(linked: Path, tmp_path: Path) -> Iterator[ServedStore]:
    """The service's hold on a copy of the linked store (each test may change its own)."""
    directory = tmp_path / "copy"
    shutil.copytree(linked, directory)
    served = ServedStore(directory)
    try:
        yield served
    finally:
        served.close()


def test_the_index_answers_as_the_store_does_for_every_token(served: ServedStore) -> None:
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


def test_the_network_tables_in_memory_answer_as_the_store_does(served: ServedStore) -> None:
    con = served.reader()
    ids = [r[0] for r in con.execute("SELECT network_id FROM networks").fetchall()]
    assert len(ids) == 2
    index = NetworkIndex(con)
    for network_id in [*ids, -1, max(ids) + 1]:
        for purpose in (PURPOSE, "another-purpose"):
            assert index.detail(purpose, network_id) == q.network_detail(
                con, purpose, network_id)
    assert index.detail(PURPOSE, ids[0])["elements"]["edges"]  # not trivially empty


def wait_for(read: object, deadline: float) -> object:
    while (value := read.get()) is None:  # type: ignore[attr-defined]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return value


def test_a_change_of_the_store_makes_the_service_read_them_again(served: ServedStore) -> None:
    token = served.reader().execute(
        "SELECT token_kind, token FROM lookup_index LIMIT 1").fetchall()[0]
    asked = [(token[0], token[1])]
    deadline = time.monotonic() + 60
    for held in (served.lookups, served.network_index):
        assert held.get() is None  # not read yet: reading starts in the background
        first = wait_for(held, deadline)
        assert held.generation() == served.cache.generation
        served.cache.bump()  # what a link, submission or secure sum does once committed
        assert held.get() is None  # the old one is never used again
        assert wait_for(held, deadline) is not first
        assert held.generation() == served.cache.generation
    index = wait_for(served.lookups, deadline)  # bumped again since: read again
    rows = index.rows(PURPOSE, asked)  # type: ignore[attr-defined]
    assert rows == [q.lookup_row(served.reader(), PURPOSE, *asked[0])]
