"""Issue #20 item 6: the victim oracle, and the coordinator's signature on hits.

Any force could mark any number as its victim's and read, in its hits, which forces hold
that number — even forces holding it only as *their* victim's. A force now learns nothing
of another force's victim-only holdings; each lookup of a force's victim references is
counted in the coordinator's ledger; and hits leave the coordinator signed.
"""

from __future__ import annotations

import pytest
from test_networks import CUMBRIA, GMP, LANCS, WYP, Store, ref

from coordinator.hits import hits_for_force, read_hits, write_hits
from federation.keys import Signer
from federation.ledger import Ledger, verify_ledger
from node.hits import BadHits

COORDINATOR = Signer.from_seed(bytes(range(1, 33)))


@pytest.fixture
def store() -> Store:
    s = Store()
    s.hold(CUMBRIA, "phone:Child", victim=True)   # Cumbria's victim, nobody else's record
    s.hold(WYP, "phone:Child", victim=True)       # West Yorkshire's victim too
    s.hold(LANCS, "phone:Child", victim=True)     # Lancashire "marks" the number as a victim
    s.hold(LANCS, "phone:Dealer", victim=True)    # ... and a number GMP holds openly
    s.hold(GMP, "phone:Dealer")
    # a victim by role alone (match_only not set) is still a victim
    s.con.execute("INSERT INTO items VALUES (?, ?, 'phone', 'victim', false)",
                  [WYP, ref(WYP, "phone:Dealer")])
    s.con.execute("INSERT INTO entities VALUES (?, ?, 'phone', ?, 1.0)",
                  [WYP, ref(WYP, "phone:Dealer"), s.id("phone:Dealer")])
    return s


def _hits(store: Store, force: str, **kw: object) -> dict[str, dict]:
    by_ref = {ref(force, name): name for name in store.ids}
    return {by_ref[r["ref"]]: r for r in hits_for_force(store.con, force, **kw).to_pylist()}


def test_marking_a_number_as_a_victims_reveals_no_force_holding_it_only_as_a_victim(
        store: Store) -> None:
    lancs = _hits(store, LANCS)
    assert "phone:Child" not in lancs            # Cumbria and West Yorkshire stay unnamed
    assert lancs["phone:Dealer"]["other_forces"] == [GMP]  # only the open holder
    for force in (CUMBRIA, WYP):
        assert "phone:Child" not in _hits(store, force)


def test_a_force_holding_a_number_openly_never_hears_of_victim_holders(store: Store) -> None:
    assert _hits(store, GMP) == {}


def test_victim_lookups_are_counted_per_force_in_the_coordinator_ledger(store: Store) -> None:
    ledger = Ledger(store.con, COORDINATOR, "coordinator")
    _hits(store, LANCS, ledger=ledger)
    _hits(store, CUMBRIA, ledger=ledger)
    _hits(store, GMP, ledger=ledger)  # no victim reference: nothing to count
    entries = [e for e in ledger.entries() if e.action == "consultation"]
    assert [(e.force, e.counts) for e in entries] == [
        (LANCS, {"victim_hits": 1, "victim_lookups": 2}),
        (CUMBRIA, {"victim_hits": 0, "victim_lookups": 1})]
    assert all(e.recipients == (e.force,) and e.purpose == "hits" for e in entries)
    assert verify_ledger(store.con, COORDINATOR.public_key).ok


def test_written_hits_are_signed_and_counted(store: Store, tmp_path) -> None:  # noqa: ANN001
    from node.hits import open_signed_hits

    ledger = Ledger(store.con, COORDINATOR, "coordinator")
    files = write_hits(store.con, tmp_path, [LANCS, GMP], signer=COORDINATOR, ledger=ledger)
    data = files[LANCS].read_bytes()
    assert data.startswith(b"CFHITS1\n")
    force, table = read_hits(files[LANCS])
    assert force == LANCS and table.num_rows == 1
    body = open_signed_hits(data, COORDINATOR.public_key, LANCS)
    assert body.startswith(b"ARROW1")
    with pytest.raises(BadHits, match="signed for 'Lancashire', not this node's force"):
        open_signed_hits(data, COORDINATOR.public_key, GMP)
    with pytest.raises(BadHits, match="does not verify under the coordinator key"):
        open_signed_hits(data, Signer.generate().public_key, LANCS)
    with pytest.raises(BadHits, match="not signed by the coordinator"):
        open_signed_hits(body, COORDINATOR.public_key, LANCS)
    assert [e.force for e in ledger.entries() if e.action == "consultation"] == [LANCS]


def test_a_signed_envelope_with_its_header_changed_is_refused() -> None:
    from coordinator.hits import sign_hits
    from node.hits import open_signed_hits

    data = sign_hits(b"ARROW1...", "Kent", COORDINATOR)
    forged = data.replace(b'"force":"Kent"', b'"force":"Avon"')
    with pytest.raises(BadHits, match="does not verify"):
        open_signed_hits(forged, COORDINATOR.public_key, "Avon")
