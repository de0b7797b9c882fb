"""A key rotation end to end: the key service starts epoch 2, a force re-tokenises on its
next share, the coordinator links the new round, then retires epoch 1 — refusing its
payloads from then on and purging the tokens they carried (an erasure entry, counts only).

Two hand-written forces each hold one suspect and one phone; both share under epoch 1,
only north shares again under epoch 2.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
from egress_nodes import keyservice_force, payload_tokens
from keyservice_running import running_keyservice

from federation.keyservice.store import KeyServiceDir, rotate
from federation.payload import Submission
from node.egress import egress


def _coordinator_rows(coordinator: Path) -> dict[str, int]:
    con = duckdb.connect(str(coordinator / "coordinator.duckdb"), read_only=True)
    try:
        return dict(con.execute("SELECT force, count(*) FROM tokens GROUP BY force").fetchall())
    finally:
        con.close()


def test_rotate_reshare_link_then_retire_the_old_epoch(cli, tmp_path: Path) -> None:  # noqa: ANN001
    coordinator = tmp_path / "coordinator"
    assert cli("coordinator", "init", "--dir", coordinator).code == 0
    with running_keyservice(tmp_path) as ks:
        nodes = {force: keyservice_force(tmp_path, force) for force in ("north", "south")}
        first = {}
        for force, node in nodes.items():
            assert cli("node", "keys", "import-keyservice", "--dir", node,
                       ks.credential(force)).code == 0
            assert cli("coordinator", "register", "--dir", coordinator, "--force", force,
                       "--public-key", node / "keys" / "public.json").code == 0
            first[force] = egress(nodes[force], out=tmp_path / f"{force}-1.cfsub")
        # a second epoch-1 share set south makes but does not send before the rotation
        late = egress(nodes["south"], out=tmp_path / "south-late.cfsub")
        assert cli("coordinator", "submit", "--dir", coordinator,
                   *(r.out for r in first.values())).code == 0
        held = _coordinator_rows(coordinator)
        assert held["north"] == first["north"].summary["tokens"]

        assert rotate(KeyServiceDir(ks.dir)) == (1, 2)
        for force, node in nodes.items():
            assert cli("coordinator", "register", "--dir", coordinator, "--force", force,
                       "--public-key", node / "keys" / "public.json", "--epoch", 1,
                       "--epoch", 2).code == 0
        again = egress(nodes["north"], out=tmp_path / "north-2.cfsub")
    assert again.epoch == 2 and Submission.from_bytes(again.payload).header.epoch == 2
    # re-tokenised: the same values, no token in common with epoch 1
    old, new = payload_tokens(first["north"].payload), payload_tokens(again.payload)
    assert set(old) == set(new)
    assert not set().union(*old.values()) & set().union(*new.values())

    assert cli("coordinator", "submit", "--dir", coordinator, again.out).code == 0
    assert cli("coordinator", "link", "--dir", coordinator).code == 0
    result = cli("coordinator", "retire-epoch", "--dir", coordinator, "--before", 2, "--json")
    assert result.code == 0, result
    # south's epoch-1 share set is purged; north's epoch-1 one was already replaced
    assert '"payloads": 1' in result.out
    assert _coordinator_rows(coordinator) == {"north": again.summary["tokens"]}
    refused = cli("coordinator", "submit", "--dir", coordinator, late.out)
    assert refused.code == 2 and "epoch" in (refused.out + refused.err), refused
    audit = cli("audit", "verify", coordinator / "coordinator.duckdb", "--public-key",
                coordinator / "keys", "--json")
    assert audit.code == 0 and '"erasure"' in audit.out
