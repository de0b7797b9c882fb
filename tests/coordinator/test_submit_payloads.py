"""Ingest: a signed payload goes in whole with its ledger entry, or not at all.

Both doors use the same function: `submit_payload` (offline files) and the Flower
service's `submit` (payload bytes plus the sender node authentication vouched for).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from coordinator_payloads import (
    AMY,
    DEAN,
    KYLE,
    LANCS,
    MARCUS,
    WYP,
    Federation,
    federation,  # noqa: F401  (fixture)
    federation_template,  # noqa: F401  (fixture)
)

from coordinator.hits import read_hits
from coordinator.submit import SenderMismatch, submit_payload
from federation.flower.protocol import CoordinatorService, load_coordinator_service
from federation.ledger import verify_ledger
from federation.payload import Submission

SERVICE = "coordinator.service:open_service"


def test_a_payload_lands_whole_with_its_collection_entry(federation: Federation) -> None:  # noqa: F811
    data = federation.lancs.payload([KYLE, DEAN, AMY])
    sub = Submission.from_bytes(data)
    with federation.store() as store:
        receipt = submit_payload(store, data)
        con = store.con
        assert receipt.accepted and receipt.counts == sub.header.counts
        assert con.execute("SELECT count(*) FROM items WHERE force = ?",
                           [LANCS]).fetchone()[0] == 6
        assert con.execute("SELECT n_items, n_tokens, content_hash FROM submissions"
                           ).fetchone() == (6, sub.header.counts["tokens"], sub.content_hash)
        entry = store.ledger.entries()[-1]
        assert (entry.action, entry.force, entry.purpose) == ("collection", LANCS, "op-test")
        # the node's disclosure entry carries the same hash: governance matches the two
        assert entry.payload_hash == sub.content_hash
        assert entry.counts == receipt.counts
        assert verify_ledger(con, store.keys.signer.public_key).ok


def test_victims_are_stored_for_matching_only(federation: Federation) -> None:  # noqa: F811
    with federation.store() as store:
        submit_payload(store, federation.lancs.payload([KYLE, AMY]))
        rows = store.con.execute("SELECT role, match_only, count(*) FROM items "
                                 "GROUP BY ALL ORDER BY role").fetchall()
    assert rows == [("suspect", False, 2), ("victim", True, 2)]


def test_allowed_attributes_are_kept_beside_the_item(federation: Federation) -> None:  # noqa: F811
    with federation.store() as store:
        submit_payload(store, federation.lancs.payload([KYLE]))
        rows = store.con.execute("SELECT DISTINCT name, value FROM item_attributes").fetchall()
    assert rows == [("offence_category", "cse")]


def test_sending_the_same_payload_again_changes_nothing(federation: Federation) -> None:  # noqa: F811
    data = federation.lancs.payload([KYLE])
    with federation.store() as store:
        submit_payload(store, data)
    before = federation.counts()
    with federation.store() as store:
        again = submit_payload(store, data)
    assert not again.accepted and again.duplicate_of == again.payload_id
    assert again.message().startswith("already received payload")
    assert again.message().endswith("nothing changed")
    assert federation.counts() == before


def test_the_same_share_set_sealed_again_changes_nothing(federation: Federation) -> None:  # noqa: F811
    with federation.store() as store:
        first = submit_payload(store, federation.lancs.payload([KYLE], payload_id="one"))
        again = submit_payload(store, federation.lancs.payload([KYLE], payload_id="two"))
        assert again.duplicate_of == first.payload_id == "one"
        assert store.con.execute("SELECT count(*) FROM submissions").fetchone()[0] == 1


def test_a_later_payload_for_the_same_purpose_supersedes_the_earlier(
        federation: Federation) -> None:  # noqa: F811
    with federation.store() as store:
        submit_payload(store, federation.lancs.payload([KYLE], payload_id="monday"))
        receipt = submit_payload(store, federation.lancs.payload([KYLE, DEAN],
                                                                 payload_id="tuesday"))
        con = store.con
        assert receipt.superseded == ("monday",)
        assert con.execute("SELECT DISTINCT payload_id FROM items").fetchall() == [("tuesday",)]
        assert con.execute("SELECT count(*) FROM items").fetchone()[0] == 4
        assert con.execute("SELECT superseded_by FROM submissions WHERE payload_id = 'monday'"
                           ).fetchone() == ("tuesday",)
        erasure, collection = store.ledger.entries()[-2:]
        assert erasure.action == "erasure" and erasure.counts["items"] == 2
        assert collection.action == "collection"


def test_a_payload_encrypted_to_the_coordinator_is_opened(federation: Federation) -> None:  # noqa: F811
    with federation.store() as store:
        public = store.keys.encryption.public_key
        receipt = submit_payload(store, federation.lancs.payload([KYLE], encrypt_to=public))
        assert receipt.accepted
        assert store.con.execute("SELECT encrypted FROM submissions").fetchone() == (True,)


# --------------------------------------------------------------------------- service

@pytest.fixture
def service(federation: Federation):  # noqa: F811
    svc = load_coordinator_service(SERVICE, federation.dir)
    yield svc
    svc.close()


def test_the_flower_service_is_built_from_its_factory_spec(service) -> None:
    assert isinstance(service, CoordinatorService)


def test_the_service_ingests_links_and_answers_each_force(service, federation: Federation,  # noqa: F811
                                                          tmp_path: Path) -> None:
    receipt = service.submit(federation.lancs.payload([KYLE, DEAN]), LANCS)
    assert receipt["accepted"] and receipt["force"] == LANCS
    service.submit(federation.wyp.payload([KYLE, MARCUS]), WYP)

    summary = service.link()
    assert summary["cross_force_entities"] >= 2 and summary["networks"] == 1

    data = service.hits_for(LANCS)
    path = tmp_path / "hits.arrow"
    path.write_bytes(data)
    force, hits = read_hits(path)
    assert force == LANCS and hits.num_rows == 4  # Kyle, Kyle's phone; Dean + phone (network)
    assert set(hits.column("other_forces").to_pylist()[0]) == {WYP}
    entry = service.store.ledger.entries()[-1]
    assert (entry.action, entry.recipients, entry.counts) == ("disclosure", (LANCS,),
                                                              {"hits": 4})
    assert entry.payload_hash == hashlib.sha256(data).hexdigest()


def test_the_service_refuses_a_payload_from_another_sender(service, federation: Federation  # noqa: F811
                                                           ) -> None:
    with pytest.raises(SenderMismatch, match="claims force 'Lancashire' but was sent by "
                       "'West Yorkshire'"):
        service.submit(federation.lancs.payload([KYLE]), WYP)


def test_a_registered_force_with_nothing_linked_gets_an_empty_answer(service,
                                                                      tmp_path: Path) -> None:
    path = tmp_path / "hits.arrow"
    path.write_bytes(service.hits_for(WYP))
    force, hits = read_hits(path)
    assert force == WYP and hits.num_rows == 0

