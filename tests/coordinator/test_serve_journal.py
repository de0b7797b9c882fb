"""The service's ledger journal and kept answers: requests are logged in batches, the
chain stays one verifiable chain whoever else writes, a change of the store drops kept
answers. Killing the service mid-load (an answer never sent before its entry is durable)
is in test_ledger_journal.py."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from coordinator.serve_cache import SnapshotCache
from coordinator.served import ServedStore
from coordinator.users import add_user as add_user_here
from federation.ledger import read_entries, verify_ledger
from tests.coordinator.coordinator_payloads import federation_template  # noqa: F401
from tests.coordinator.two_networks import build


@pytest.fixture(scope="module")
def linked(tmp_path_factory: pytest.TempPathFactory, federation_template: Path  # noqa: F811
           ) -> Path:
    return build(federation_template, tmp_path_factory.mktemp("journal") / "fed").dir


def consultation(n: int, actor: str = "api:tester (analyst)") -> dict[str, object]:
    return {"action": "consultation", "actor": actor, "purpose": "op-test",
            "justification": f"GET /v1/networks request {n}", "counts": {"status": 200,
                                                                         "results": 1}}


def test_entries_from_many_threads_commit_in_batches_into_one_verifiable_chain(
        linked: Path, tmp_path: Path) -> None:
    import shutil

    directory = tmp_path / "copy"
    shutil.copytree(linked, directory)
    served = ServedStore(directory)
    try:
        def ask(n: int) -> None:
            served.record_later(**consultation(n)).result(timeout=60)

        def add_users() -> None:  # another writer on the same lock, between batches
            for i in range(5):
                with served.writing():
                    add_user_here(served.store.con, served.store.ledger, f"user{i}",
                                  "analyst", actor="test")

        other = threading.Thread(target=add_users)
        other.start()
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(ask, range(300)))
        other.join()
        assert served.journal.entries == 300
        assert served.journal.batches < 300  # grouped: fewer commits than entries
        con = served.ledger_reader()
        report = verify_ledger(con, served.store.keys.signer.public_key)
        assert report.ok, report.problems
        asked = [e for e in read_entries(con) if e.action == "consultation"
                 and e.actor == "api:tester (analyst)"]
        assert sorted(e.justification for e in asked) == sorted(
            f"GET /v1/networks request {n}" for n in range(300))
        assert sum(e.actor == "test" for e in read_entries(con)) == 5  # the users' entries
    finally:
        served.close()


def test_an_entry_the_ledger_refuses_fails_alone(linked: Path, tmp_path: Path) -> None:
    import shutil

    directory = tmp_path / "copy"
    shutil.copytree(linked, directory)
    served = ServedStore(directory)
    try:
        with served.writing():  # hold the writer back so they queue up together
            good = [served.record_later(**consultation(n)) for n in range(5)]
            bad = served.record_later(**consultation(99, actor=" "))
            good += [served.record_later(**consultation(n)) for n in range(5, 10)]
        with pytest.raises(ValueError, match="non-empty actor"):
            bad.result(timeout=60)
        assert [f.result(timeout=60).action for f in good] == ["consultation"] * 10
        report = verify_ledger(served.ledger_reader(), served.store.keys.signer.public_key)
        assert report.ok, report.problems
    finally:
        served.close()


def test_entries_queued_from_the_event_loop_settle_there_once_committed(
        linked: Path, tmp_path: Path) -> None:
    """What the API does: each request queues its entry from the event loop and awaits an
    asyncio future; the writer settles a batch's futures with one call into the loop, only
    after the commit — and a refused entry fails its own request alone."""
    import asyncio
    import shutil

    directory = tmp_path / "copy"
    shutil.copytree(linked, directory)
    served = ServedStore(directory)
    try:
        async def requests() -> tuple[list[object], BaseException | None]:
            with served.writing():  # hold the writer back: they queue up together
                pending = [served.record_later(**consultation(n)) for n in range(200)]
            assert all(isinstance(f, asyncio.Future) for f in pending)
            assert not any(f.done() for f in pending)  # nothing settles before its commit
            made = await asyncio.gather(*pending)
            assert served.journal.batches < 50  # grouped
            with served.writing():
                bad = served.record_later(**consultation(999, actor=" "))
                after = served.record_later(**consultation(1000))
            await after  # the good one of its batch is written all the same
            try:
                await bad
            except ValueError as exc:
                return made, exc
            return made, None

        made, refused = asyncio.run(requests())
        assert refused is not None and "non-empty actor" in str(refused)
        assert [e.justification for e in made] == [  # type: ignore[attr-defined]
            f"GET /v1/networks request {n}" for n in range(200)]
        stored = {e.entry_id for e in read_entries(served.ledger_reader())}
        assert {e.entry_id for e in made} <= stored  # type: ignore[attr-defined]
        report = verify_ledger(served.ledger_reader(), served.store.keys.signer.public_key)
        assert report.ok, report.problems
    finally:
        served.close()


def test_kept_answers_go_when_the_store_changes() -> None:
    cache = SnapshotCache(max_bytes=1000)
    built: list[int] = []

    def build(value: int):  # noqa: ANN202
        return lambda: built.append(value) or value

    assert cache.get("k", build(1), lambda _: 10) == 1
    assert cache.get("k", build(2), lambda _: 10) == 1  # kept
    cache.bump()
    assert cache.get("k", build(3), lambda _: 10) == 3  # the store changed: asked again

    def racing() -> int:  # a change commits while the answer is built: not kept
        cache.bump()
        return 4

    assert cache.get("r", racing, lambda _: 10) == 4
    assert cache.get("r", build(5), lambda _: 10) == 5
    for n in range(200):  # bounded by bytes, oldest out
        cache.get(("n", n), build(n), lambda _: 10)
    assert cache.stats()["bytes"] <= 1000 and built.count(0) == 1
