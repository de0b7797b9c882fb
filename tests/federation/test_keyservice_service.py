"""The key service over real HTTP on loopback: who may evaluate, how much, under which
epoch, and what it records (counts per force, purpose and epoch — never a value)."""

from __future__ import annotations

from pathlib import Path

import pytest
from keyservice_running import running_keyservice

from federation.keyservice.client import (
    Credential,
    KeyServiceClient,
    KeyServiceRefused,
    evaluate_chunk,
)
from federation.keyservice.status import service_status
from federation.keyservice.store import KeyServiceDir, rotate
from federation.keyservice.suite import blind, prf_input
from federation.ledger import read_entries, verify_ledger

PHONES = [prf_input("phone", f"+4477009000{i:02d}") for i in range(10)]


def _client(path: Path) -> KeyServiceClient:
    return KeyServiceClient(Credential.load(path))


def test_a_force_gets_verified_outputs_and_the_service_counts_them(tmp_path: Path) -> None:
    with running_keyservice(tmp_path) as ks:
        north = Credential.load(ks.credential("north", quota=100))
        info = KeyServiceClient(north).epochs()
        assert (info["current"], info["daily_quota"], info["quota_left_today"]) == (1, 100, 100)
        outputs = evaluate_chunk(north, "CSE-NATIONAL", 1, bytes.fromhex(info["public_key"]),
                                 PHONES[:4])
        again = evaluate_chunk(north, "CSE-NATIONAL", 1, bytes.fromhex(info["public_key"]),
                               PHONES[:4])
        assert len(outputs) == 4 and outputs == again  # blinding differs, outputs do not
        assert len(set(outputs)) == 4
        assert KeyServiceClient(north).epochs()["quota_left_today"] == 100 - 8
    status = service_status(ks.dir)
    assert [(u["holder"], u["purpose"], u["epoch"], u["requests"], u["evaluations"])
            for u in status["usage"]] == [("north", "CSE-NATIONAL", 1, 2, 8)]
    with KeyServiceDir(ks.dir).open() as con:
        entries = [e for e in read_entries(con) if e.action == "disclosure"]
        assert [(e.force, e.purpose, e.counts) for e in entries] == [
            ("north", "CSE-NATIONAL", {"evaluations": 4, "epoch": 1})] * 2
        public = KeyServiceDir(ks.dir).keys().signer.public_key
        assert verify_ledger(con, public).ok


def test_the_coordinators_credential_cannot_evaluate(tmp_path: Path) -> None:
    with running_keyservice(tmp_path) as ks:
        coordinator = ks.credential("coordinator", role="coordinator")
        with _client(coordinator) as client:
            assert client.epochs()["current"] == 1  # it may read the epochs ...
            _, blinded = blind(PHONES[:1])
            with pytest.raises(KeyServiceRefused, match="no evaluation right"):
                client.evaluate("CSE-NATIONAL", 1, blinded)  # ... never evaluate
    assert service_status(ks.dir)["usage"] == []


def test_unknown_and_revoked_credentials_are_refused(tmp_path: Path) -> None:
    with running_keyservice(tmp_path) as ks:
        first = Credential.load(ks.credential("north"))
        ks.credential("north")  # a new credential revokes the first
        with KeyServiceClient(first) as client, \
                pytest.raises(KeyServiceRefused, match="revoked"):
            client.epochs()
        forged = Credential(ks.url, "north", "force", "00" * 32)
        with KeyServiceClient(forged) as client, pytest.raises(KeyServiceRefused):
            client.epochs()


def test_a_force_over_its_quota_is_refused_and_the_refusal_counted(tmp_path: Path) -> None:
    with running_keyservice(tmp_path) as ks, \
            _client(ks.credential("north", quota=5)) as client:
        _, three = blind(PHONES[:3])
        client.evaluate("CSE-NATIONAL", 1, three)  # 3 of 5
        with pytest.raises(KeyServiceRefused,
                           match="used 3 of its daily quota of 5 evaluations; 3 more"):
            client.evaluate("CSE-NATIONAL", 1, three)
        _, two = blind(PHONES[3:5])
        client.evaluate("CSE-NATIONAL", 1, two)  # exactly the quota
    (usage,) = service_status(ks.dir)["usage"]
    assert (usage["evaluations"], usage["refused_requests"], usage["refused_evaluations"]) \
        == (5, 1, 3)
    assert any("refused" in a for a in service_status(ks.dir)["alerts"])


def test_a_batch_over_the_limit_and_a_malformed_body_are_refused(tmp_path: Path) -> None:
    with running_keyservice(tmp_path, max_batch=4) as ks, \
            _client(ks.credential("north")) as client:
        _, five = blind(PHONES[:5])
        with pytest.raises(KeyServiceRefused, match="at most 4 points"):
            client.evaluate("CSE-NATIONAL", 1, five)
        with pytest.raises(KeyServiceRefused, match="32 bytes each"):
            client.evaluate("CSE-NATIONAL", 1, b"\x01" * 33)
        with pytest.raises(KeyServiceRefused, match="not a valid ristretto255"):
            client.evaluate("CSE-NATIONAL", 1, b"\xff" * 32)
        _, one = blind(PHONES[:1])
        with pytest.raises(KeyServiceRefused, match="purpose code"):
            client.evaluate("bad purpose!", 1, one)


def test_rotation_retires_the_old_epoch_and_changes_every_output(tmp_path: Path) -> None:
    with running_keyservice(tmp_path) as ks:
        north = Credential.load(ks.credential("north"))
        with KeyServiceClient(north) as client:
            pk1 = bytes.fromhex(client.epochs()["public_key"])
            before = evaluate_chunk(north, "CSE-NATIONAL", 1, pk1, PHONES[:2])
            assert rotate(KeyServiceDir(ks.dir)) == (1, 2)  # while the service runs
            info = client.epochs()
            assert info["current"] == 2
            assert [e["retired_at"] is not None for e in info["epochs"]] == [True, False]
            _, blinded = blind(PHONES[:2])
            with pytest.raises(KeyServiceRefused, match="epoch 1 is not the current"):
                client.evaluate("CSE-NATIONAL", 1, blinded)
            pk2 = bytes.fromhex(info["public_key"])
            after = evaluate_chunk(north, "CSE-NATIONAL", 2, pk2, PHONES[:2])
    assert pk1 != pk2 and not set(before) & set(after)
