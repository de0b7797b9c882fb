"""Egress through the key service: tokens agree across forces, later shares ask only for
new values, a force over quota or a service using another key shares nothing, and no raw
value, PRF output or key reaches the payload.

Two hand-written forces hold the same phone number written two ways and the same suspect
(name and date of birth): normalised equal, so their tokens must be equal.
"""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow.ipc as ipc
import pytest
from egress_nodes import (
    CANARY_RAW,
    PERMISSIVE_POLICY,
    canary_template,
    copy_node,
    keyservice_force,
    payload_tokens,
    run,
)
from keyservice_running import running_keyservice

from federation.errors import CrossforceError
from federation.keyservice.store import KeyServiceDir
from federation.ledger import read_entries
from federation.matchkeys import match_key_values
from federation.payload import Submission
from node.egress import egress
from node.store import open_store


def _evaluations(service: Path) -> int:
    with KeyServiceDir(service).open() as con:
        return int(con.execute("SELECT coalesce(sum(evaluations), 0) FROM usage").fetchone()[0])


def test_equal_values_give_equal_tokens_in_two_forces(tmp_path: Path) -> None:
    with running_keyservice(tmp_path) as ks:
        payloads = {}
        for force in ("north", "south"):
            node = keyservice_force(tmp_path, force)
            run("node", "keys", "import-keyservice", "--dir", node, ks.credential(force))
            payloads[force] = egress(node, out=tmp_path / f"{force}.cfsub").payload
    north, south = payload_tokens(payloads["north"]), payload_tokens(payloads["south"])
    assert north["phone"] == south["phone"] and len(north["phone"]) == 1
    assert set(north) == set(south)  # same match-key kinds ...
    for kind in north:
        assert north[kind] == south[kind], kind  # ... with the same tokens


def test_a_second_share_asks_only_for_new_values_and_ledgers_count(tmp_path: Path) -> None:
    with running_keyservice(tmp_path) as ks:
        node = keyservice_force(tmp_path, "north")
        run("node", "keys", "import-keyservice", "--dir", node, ks.credential("north"))
        first = egress(node, out=tmp_path / "1.cfsub")
        asked = _evaluations(ks.dir)
        # one phone + the suspect's match keys + the cell-key salt, each evaluated once
        assert asked == first.summary["tokens"] + 1
        second = egress(node, out=tmp_path / "2.cfsub")
        assert _evaluations(ks.dir) == asked  # all answered from the node's cache
        assert payload_tokens(first.payload) == payload_tokens(second.payload)
    # the service is stopped: what it answered before still serves (a dry run, say) ...
    offline = egress(node, dry_run=True).share_set.tokens
    assert set(offline.column("token").to_pylist()) == set().union(
        *payload_tokens(second.payload).values())
    with open_store(node) as (_config, con):  # ... but a value never evaluated is refused
        con.execute("DELETE FROM prf_outputs WHERE kind = 'phone'")
    with pytest.raises(CrossforceError, match="cannot be reached.*1 values of this share "
                       "were never evaluated"):
        egress(node, dry_run=True)
    with open_store(node) as (_config, con):
        to_service = [e for e in read_entries(con) if e.recipients == ("keyservice",)]
        cached = con.execute("SELECT count(*) FROM prf_outputs").fetchone()[0]
    assert [e.counts for e in to_service] == [{"evaluations": asked, "epoch": 1}]
    assert cached == asked - 1  # the phone's output was deleted above


def test_a_force_over_its_quota_shares_nothing_and_spends_nothing(tmp_path: Path) -> None:
    with running_keyservice(tmp_path) as ks:
        node = keyservice_force(tmp_path, "north")
        run("node", "keys", "import-keyservice", "--dir", node,
            ks.credential("north", quota=3))
        out = tmp_path / "refused.cfsub"
        with pytest.raises(CrossforceError, match=r"needs \d+ new key service evaluations but "
                           r"north has 3 left of today's quota; nothing was evaluated"):
            egress(node, out=out)
        assert _evaluations(ks.dir) == 0
    assert not out.exists()
    with open_store(node) as (_config, con):
        assert [e for e in read_entries(con) if e.action == "disclosure"] == []


def test_a_service_evaluating_with_another_key_is_refused(tmp_path: Path) -> None:
    """The service publishes epoch 1's public key but evaluates with another key (its seed
    file swapped before its first evaluation): the node's proof check refuses the
    answers; nothing is shared or cached."""
    with running_keyservice(tmp_path) as ks:
        node = keyservice_force(tmp_path, "north")
        run("node", "keys", "import-keyservice", "--dir", node, ks.credential("north"))
        seed = KeyServiceDir(ks.dir).seed_path(1)
        seed.write_bytes(bytes(reversed(seed.read_bytes())))
        with pytest.raises(CrossforceError, match="does not verify under its published"):
            egress(node, out=tmp_path / "x.cfsub")
    assert not (tmp_path / "x.cfsub").exists()
    with open_store(node) as (_config, con):
        assert con.execute("SELECT count(*) FROM prf_outputs").fetchone()[0] == 0


def test_no_raw_value_prf_output_or_key_is_in_the_payload(
        tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    node = copy_node(canary_template(tmp_path_factory), tmp_path / "canary")
    (node / "keys" / "linkage_secret.json").unlink()
    (tmp_path / "permissive.toml").write_text(PERMISSIVE_POLICY)
    with running_keyservice(tmp_path) as ks:
        run("node", "keys", "import-keyservice", "--dir", node, ks.credential("Canaryshire"))
        payload = egress(node, policy=str(tmp_path / "permissive.toml"),
                         out=tmp_path / "p.cfsub").payload
        seed = KeyServiceDir(ks.dir).seed(1)
    with open_store(node) as (_config, con):
        outputs = [bytes(y) for (y,) in con.execute("SELECT y FROM prf_outputs").fetchall()]
        # every match-key value the node derives — name fragments of the typo keys
        # (``amie|19900102``) included — is a raw quasi-identifier too
        keys = match_key_values(con.sql("SELECT given_names, family_name, dob FROM persons"))
    derived = keys.column("value").to_pylist()
    assert "mk:fn_d1+dob" in set(keys.column("token_kind").to_pylist())
    share = Submission.from_bytes(payload).open()
    plain = io.BytesIO()
    for table in (share.items, share.tokens, share.links, share.aggregates):
        with ipc.new_stream(plain, table.schema) as writer:
            writer.write_table(table)
    needles = {seed: "epoch seed", seed.hex().encode(): "epoch seed (hex)"}
    for y in outputs:
        needles |= {y: "PRF output", y[:16]: "PRF output (16 bytes)",
                    y.hex().encode(): "PRF output (hex)"}
    for group in CANARY_RAW.values():
        for v in group:
            needles |= {v.encode(): v, v.lower().encode(): v, v.replace(" ", "").encode(): v}
    needles |= {v.encode(): f"match-key value {v}" for v in derived}
    assert len(outputs) > 20 and share.tokens.num_rows > 20
    for blob in (payload, plain.getvalue()):
        leaked = sorted({label for needle, label in needles.items() if needle in blob})
        assert not leaked, leaked
