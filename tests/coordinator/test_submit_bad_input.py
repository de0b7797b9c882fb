"""Bad payloads: each is refused with its own one-line reason, exit code 2, and the store
is exactly as it was (every table's row count, the ledger included)."""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from coordinator_payloads import (
    DEAN,
    KYLE,
    MARCUS,
    Federation,
    PoliceForce,
    federation,  # noqa: F401  (fixture)
    federation_template,  # noqa: F401  (fixture)
)

from federation.payload import MAGIC, SIGNATURE_BYTES

Make = Callable[[Federation], bytes]


def _bad_signature(f: Federation) -> bytes:
    data = bytearray(f.lancs.payload([KYLE]))
    data[-1] ^= 0x01  # one bit of the signature
    return bytes(data)


def _unknown_force(f: Federation) -> bytes:
    return PoliceForce("Atlantis Constabulary").payload([KYLE])


def _old_epoch(f: Federation) -> bytes:
    return f.lancs.payload([KYLE], epoch=2)  # registered epochs: 1


def _signed_by_the_wrong_key(f: Federation) -> bytes:
    return PoliceForce(f.lancs.name).payload([KYLE])  # claims Lancashire, other key


def _wrong_schema_version(f: Federation) -> bytes:
    good = f.lancs.payload([KYLE])
    (hlen,) = struct.unpack_from(">I", good, len(MAGIC))
    start = len(MAGIC) + 4
    header = json.loads(good[start:start + hlen])
    header["schema_version"] = 99
    hbytes = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    signed = MAGIC + struct.pack(">I", len(hbytes)) + hbytes
    body = good[start + hlen:-SIGNATURE_BYTES]
    return signed + body + f.lancs.signer.sign(signed)  # properly signed, future version


def _truncated(f: Federation) -> bytes:
    return f.lancs.payload([KYLE, DEAN])[:-200]


def _random_file(f: Federation) -> bytes:
    return os.urandom(4096)


def _csv_file(f: Federation) -> bytes:
    return b"person_id,given_names,family_name\nP1,Kyle,Brennan\n"


def _empty_file(f: Federation) -> bytes:
    return b""


CASES: dict[str, tuple[Make, str, str]] = {
    # name: (make bytes, reason shown, words the message must contain)
    "bad signature": (_bad_signature, "bad_signature", "signature does not verify"),
    "signed by another key": (_signed_by_the_wrong_key, "bad_signature",
                              "Lancashire's registered key"),
    "unknown force": (_unknown_force, "unknown_signer", "'Atlantis Constabulary', which is "
                      "not registered"),
    "old epoch": (_old_epoch, "old_epoch", "uses key epoch 2; accepted: 1"),
    "wrong schema version": (_wrong_schema_version, "wrong_schema_version",
                             "schema version 99"),
    "truncated body": (_truncated, "truncated", "cut short"),
    "random bytes": (_random_file, "corrupt", "not a crossforce payload"),
    "a CSV file": (_csv_file, "corrupt", "not a crossforce payload"),
    "empty file": (_empty_file, "truncated", "too short"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_payload_is_rejected_with_its_reason_and_changes_nothing(
        case: str, federation: Federation, cli) -> None:  # noqa: F811
    make, reason, words = CASES[case]
    accepted = federation.write("ok.cfsub", federation.wyp.payload([MARCUS]))
    assert cli("coordinator", "submit", "--dir", federation.dir, accepted).code == 0
    before = federation.counts()
    path = federation.write("bad.cfsub", make(federation))

    result = cli("coordinator", "submit", "--dir", federation.dir, path)

    assert result.code == 2, result
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith(f"error: {path}: rejected ({reason}): "), lines[0]
    assert words in lines[0]
    assert "Traceback" not in result.err and result.out == ""
    assert federation.counts() == before


def test_a_replayed_payload_id_with_other_content_is_rejected(federation: Federation,  # noqa: F811
                                                              cli) -> None:
    first = federation.write("first.cfsub", federation.lancs.payload([KYLE], payload_id="p-1"))
    assert cli("coordinator", "submit", "--dir", federation.dir, first).code == 0
    before = federation.counts()
    replay = federation.write("replay.cfsub",
                              federation.lancs.payload([KYLE, DEAN], payload_id="p-1"))

    result = cli("coordinator", "submit", "--dir", federation.dir, replay)

    assert result.code == 2
    assert result.err.strip() == (
        f"error: {replay}: rejected (replayed): payload id p-1 was already used by an "
        "accepted payload with different content; a payload id is used once")
    assert federation.counts() == before


def test_a_payload_whose_tokens_name_no_item_is_rejected(federation: Federation,  # noqa: F811
                                                         cli) -> None:
    from federation.payload import ShareSet, Submission

    share = federation.lancs.share_set([KYLE, DEAN])
    keep = share.items.filter([k != "phone" for k in share.items.column("kind").to_pylist()])
    broken = ShareSet(share.force, share.purpose, share.epoch, share.policy_hash, keep,
                      share.tokens, share.links, share.aggregates)
    path = federation.write("broken.cfsub",
                            Submission.seal(broken, federation.lancs.signer).to_bytes())
    before = federation.counts()

    result = cli("coordinator", "submit", "--dir", federation.dir, path)

    assert result.code == 2
    assert "rejected (inconsistent)" in result.err
    assert "2 tokens name refs the payload has no item for" in result.err
    assert "2 links name refs" in result.err
    assert federation.counts() == before


def test_one_bad_file_among_good_ones_rejects_only_itself(federation: Federation,  # noqa: F811
                                                          cli) -> None:
    good = federation.write("good.cfsub", federation.lancs.payload([KYLE]))
    bad = federation.write("bad.cfsub", _bad_signature(federation))
    also_good = federation.write("also.cfsub", federation.wyp.payload([MARCUS]))

    result = cli("coordinator", "submit", "--dir", federation.dir, good, bad, also_good)

    assert result.code == 2
    assert result.out.count("accepted payload") == 2
    assert f"error: {bad}: rejected (bad_signature)" in result.err
    assert "1 of 3 file(s) rejected" in result.err
    assert federation.counts()["submissions"] == 2


def test_a_missing_file_is_named(federation: Federation, cli, tmp_path: Path) -> None:  # noqa: F811
    result = cli("coordinator", "submit", "--dir", federation.dir, tmp_path / "nope.cfsub")
    assert result.code == 2
    assert result.err.startswith(f"error: {tmp_path / 'nope.cfsub'}: cannot read")
