"""Privacy: no planted raw value, and no unkeyed hash of one, is in any byte of any payload.

The canary node holds values that occur nowhere else (names, phone numbers written four
ways, emails, handles, postcodes, addresses, message bodies, VRMs, IMEIs, dates of birth).
Egress runs under every shipped default policy and a permissive test policy; each payload
is searched as sent (signed, compressed) and decoded to uncompressed Arrow, for each value
in several spellings and for its SHA-256 / SHA-1 / MD5 (hex either case, raw digest, and
the 16-byte truncation a token has), with and without the token's kind prefix.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc
import pytest
from egress_nodes import CANARY_RAW, PERMISSIVE_POLICY, canary_template, copy_node

from federation.keys import NodeKeys
from federation.payload import Submission
from federation.tokens import Tokeniser
from node.egress import egress
from policies.model import default_names, resolve_policy

KINDS = ("phone", "email", "handle", "vrm", "imei", "postcode", "name")


@pytest.fixture(scope="module")
def canary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    node = copy_node(canary_template(tmp_path_factory), tmp_path_factory.mktemp("c") / "n")
    (node.parent / "permissive.toml").write_text(PERMISSIVE_POLICY)
    return node


def _policies(canary: Path) -> list[str]:
    return [*default_names(), str(canary.parent / "permissive.toml")]


def _uncompressed(payload: bytes) -> bytes:
    """The payload's tables as plain (uncompressed) Arrow IPC: every value laid bare."""
    share = Submission.from_bytes(payload).open()
    out = io.BytesIO()
    for table in (share.items, share.tokens, share.links, share.aggregates):
        with ipc.new_stream(out, table.schema) as writer:
            writer.write_table(table)
    return out.getvalue()


def _needles() -> dict[bytes, str]:
    values: set[str] = set()
    for group in CANARY_RAW.values():
        for v in group:
            values |= {v, v.lower(), v.upper(), v.replace(" ", ""), v.casefold()}
    values |= {v.lstrip("+") for v in CANARY_RAW["phones_e164"]}
    values |= {"0" + v[3:] for v in CANARY_RAW["phones_e164"]}
    needles: dict[bytes, str] = {}
    for v in values:
        needles[v.encode()] = v
        needles[v.encode("utf-16-le")] = v
        for message in [v.encode()] + [f"{k}\x1f{v}".encode() for k in KINDS]:
            for algo in ("sha256", "sha1", "md5"):
                digest = hashlib.new(algo, message).digest()
                label = f"{algo}({message!r})"
                needles[digest[:16]] = label
                needles[digest.hex().encode()] = label
                needles[digest.hex().upper().encode()] = label
    return needles


def test_no_planted_value_or_unkeyed_hash_leaves_under_any_policy(canary: Path) -> None:
    needles = _needles()
    for i, policy in enumerate(_policies(canary)):
        result = egress(canary, policy=policy, out=canary.parent / f"payload-{i}.cfsub")
        assert result.payload is not None and result.summary["items"] > 0, policy
        for blob in (result.payload, _uncompressed(result.payload)):
            leaked = [label for needle, label in needles.items() if needle in blob]
            assert not leaked, f"{policy}: {leaked[:5]}"


def test_the_search_would_find_a_leak(canary: Path) -> None:
    """The needles are real: a payload carrying a raw value or a plain hash is caught."""
    needles = _needles()
    planted = b"xx" + b"Zebedeus" + hashlib.sha256(b"phone\x1f+447700900417").digest()
    assert sum(n in planted for n in needles) >= 2


def test_victims_never_leave_under_a_policy_that_does_not_opt_in(canary: Path) -> None:
    keys = NodeKeys.load(canary / "keys")
    assert keys.linkage_secret is not None
    for policy in _policies(canary):
        result = egress(canary, policy=policy, dry_run=True)
        share = result.share_set
        roles = set(share.items.column("role").drop_null().to_pylist())
        tokeniser = Tokeniser(keys.linkage_secret.derive(result.purpose, result.epoch))
        victim_tokens = {tokeniser.token("phone", "+447700900420"),
                         tokeniser.token("email", "v.canary@example.net"),
                         tokeniser.token("handle", "snapchat:victimcanary77"),
                         tokeniser.token("vrm", "QZ19XYV"),
                         tokeniser.token("imei", "356938035643809")}
        sent = set(share.tokens.column("token").to_pylist())
        opted_in = result.summary["match_only"] > 0
        if resolve_policy(policy).share.victims == "match-only":
            assert opted_in and "victim" in roles, policy
            assert victim_tokens <= sent, policy
            # match-only items carry no attributes and link only to their own identifiers
            items = share.items.filter(pa.compute.field("match_only"))
            for column in set(items.column_names) - {"ref", "kind", "role", "match_only"}:
                assert items.column(column).null_count == items.num_rows, (policy, column)
        else:
            assert "victim" not in roles and not opted_in, policy
            assert not (victim_tokens & sent), policy


def test_the_canary_node_holds_what_only_an_extraction_has(canary: Path, query) -> None:
    """(Guard: the extraction canaries are in the store, so their absence above means
    something.)"""
    assert query(canary, "SELECT latitude, longitude FROM device_locations") == [
        (53.77771, -1.55557)]
    assert query(canary, "SELECT imsi, iccid FROM devices WHERE device_id = 'EXH-CANARY'"
                 ) == [("234159999912345", "8944990000001234567")]
    assert query(canary, "SELECT username FROM device_accounts") == [("canary_acct_zq",)]
    assert query(canary, "SELECT name FROM chats") == [("quillfeather crew",)]
    assert query(canary, "SELECT subject FROM messages WHERE kind = 'email'") == [
        ("canary subject zq",)]
