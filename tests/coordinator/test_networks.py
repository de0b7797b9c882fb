"""Cross-force networks, told as a story across four forces.

- Lancashire knows Dean and Kyle as co-suspects. West Yorkshire knows Kyle (the same man,
  linked nationally) with Marcus. Neither force sees Dean *and* Marcus: the coordinator does.
- Dean texts Amy, a child Lancashire records as a victim. Cumbria also records Amy as a
  victim, contacted by its suspect Liam. Amy ties Liam to the network — but Amy herself is
  never listed anywhere.
- Greater Manchester has its own gang (Ryan, Tyler, Jordan) that no other force knows.
  It is Greater Manchester's business, not a cross-force network.
- Everybody calls Star Cars, a taxi firm. Without a stop list the taxi's number would join
  every gang in the country into one "network".
- A few calls are not a tie (tests at the end): Dean's seized phone shows two calls with
  Gary, whom Lancashire knows only as one of another local gang. Gary is a lead for an
  analyst, not a member of Dean's network.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import duckdb
import pytest

from coordinator.graph import create_graph_tables
from coordinator.networks import Network, NetworkSettings, find_networks, load_networks
from federation.errors import CrossforceError

LANCS, WYP, GMP, CUMBRIA = "Lancashire", "West Yorkshire", "Greater Manchester", "Cumbria"

#: the story's thresholds: busy = linked to 3+ entities in a force; hub = busy in 3+ forces
STORY = NetworkSettings(hub_busy_degree=3, hub_busy_forces=3)


def ref(force: str, name: str) -> bytes:
    """A force's opaque 16-byte reference for one of its records."""
    return hashlib.sha256(f"{force}/{name}".encode()).digest()[:16]


class Store:
    """A coordinator store filled by hand: which force holds what, and its links."""

    def __init__(self) -> None:
        self.con = duckdb.connect()
        create_graph_tables(self.con)
        self.ids: dict[str, int] = {}

    def hold(self, force: str, name: str, *, victim: bool = False) -> None:
        """`force` sent a record of entity `name` ("person:Dean", "phone:Dean", ...)."""
        kind = name.split(":")[0]
        entity_id = self.ids.setdefault(name, 100 + len(self.ids))
        self.con.execute("INSERT INTO items VALUES (?, ?, ?, ?, ?)",
                         [force, ref(force, name), kind, "victim" if victim else "suspect",
                          victim])
        self.con.execute("INSERT INTO entities VALUES (?, ?, ?, ?, ?)",
                         [force, ref(force, name), kind, entity_id, 0.999])

    def link(self, force: str, a: str, b: str, kind: str = "communication", weight: int = 1,
             first: str | None = None, last: str | None = None) -> None:
        self.con.execute("INSERT INTO links VALUES (?, ?, ?, ?, ?, ?, ?)",
                         [force, ref(force, a), ref(force, b), kind, weight, first, last])

    def owns(self, force: str, person: str, *phones: str, victim: bool = False) -> None:
        """A person and their phones, linked person_identifier."""
        self.hold(force, f"person:{person}", victim=victim)
        for phone in phones or (person,):
            self.hold(force, f"phone:{phone}", victim=victim)
            self.link(force, f"person:{person}", f"phone:{phone}", "person_identifier")

    def id(self, name: str) -> int:
        return self.ids[name]


@pytest.fixture
def story() -> Store:
    s = Store()
    # Lancashire: Dean and Kyle, co-suspects; Dean texts Amy (a victim) in spring 2024.
    s.owns(LANCS, "Dean")
    s.owns(LANCS, "Kyle")
    s.owns(LANCS, "Amy", victim=True)
    s.link(LANCS, "person:Dean", "person:Kyle", "co_suspect", first="2024-01-05")
    s.link(LANCS, "phone:Dean", "phone:Kyle", weight=20, first="2024-01-10", last="2024-06-30")
    s.link(LANCS, "phone:Dean", "phone:Amy", weight=50, first="2024-03-01", last="2024-05-01")
    # West Yorkshire: Kyle again (linked nationally), with Marcus.
    s.owns(WYP, "Kyle")
    s.owns(WYP, "Marcus")
    s.link(WYP, "person:Kyle", "person:Marcus", "co_suspect", first="2023-11-20")
    s.link(WYP, "phone:Kyle", "phone:Marcus", weight=5, first="2023-12-01",
           last="2024-02-01")
    # Cumbria: Liam contacts Amy, whom Cumbria also records as a victim.
    s.owns(CUMBRIA, "Liam")
    s.owns(CUMBRIA, "Amy", victim=True)
    s.link(CUMBRIA, "phone:Liam", "phone:Amy", weight=10, first="2024-04-01",
           last="2024-07-15")
    # Greater Manchester: a gang nobody else knows.
    for name in ("Ryan", "Tyler", "Jordan"):
        s.owns(GMP, name)
    s.link(GMP, "person:Ryan", "person:Tyler", "co_suspect")
    s.link(GMP, "person:Tyler", "person:Jordan", "co_suspect")
    # Star Cars: every force's records call it.
    callers = {LANCS: ["Dean", "Kyle", "Amy"], WYP: ["Kyle", "Marcus", "Fare1"],
               CUMBRIA: ["Liam", "Amy", "Fare2"], GMP: ["Ryan", "Tyler", "Jordan"]}
    for force, phones in callers.items():
        s.hold(force, "phone:StarCars")
        for phone in phones:
            if phone.startswith("Fare"):
                s.hold(force, f"phone:{phone}")
            s.link(force, f"phone:{phone}", "phone:StarCars", weight=20)  # regulars
    return s


def only_network(story: Store, settings: NetworkSettings = STORY) -> Network:
    networks = find_networks(story.con, settings)
    assert len(networks) == 1, networks
    return networks[0]


def member_names(story: Store, network: Network) -> set[str]:
    by_id = {v: k for k, v in story.ids.items()}
    return {by_id[m.entity_id] for m in network.members}


def test_the_network_crosses_three_forces_that_each_saw_only_a_piece(story: Store) -> None:
    network = only_network(story)
    assert network.forces == (CUMBRIA, LANCS, WYP)
    assert member_names(story, network) == {
        "person:Dean", "person:Kyle", "person:Marcus", "person:Liam",
        "phone:Dean", "phone:Kyle", "phone:Marcus", "phone:Liam"}
    assert network.n_persons == 4 and network.n_identifiers == 4
    assert network.counts_by_kind == {"person": 4, "phone": 4}


def test_the_victim_connects_the_network_but_is_never_listed(story: Store) -> None:
    network = only_network(story)
    # Liam is in the network only because he contacted Amy ...
    assert "person:Liam" in member_names(story, network)
    # ... but neither Amy nor her phone appears as a member, broker or key player, anywhere.
    amy = {story.id("person:Amy"), story.id("phone:Amy")}
    stored = {r[0] for r in story.con.execute("SELECT entity_id FROM network_members")
              .fetchall()}
    assert not amy & stored
    assert not amy & {m.entity_id for m in network.brokers + network.key_players}
    assert network.network_id not in amy


def edge_names(story: Store, network: Network) -> dict[tuple[str, str], tuple]:
    by_id = {v: k for k, v in story.ids.items()}
    return {(by_id[e.entity_a], by_id[e.entity_b]): (e.kinds, e.forces, e.n_links)
            for e in network.edges}


def test_each_member_names_the_forces_holding_it(story: Store) -> None:
    network = only_network(story)
    by_id = {v: k for k, v in story.ids.items()}
    forces = {by_id[m.entity_id]: m.forces for m in network.members}
    assert forces["person:Kyle"] == (LANCS, WYP)
    assert forces["person:Dean"] == (LANCS,) and forces["phone:Liam"] == (CUMBRIA,)
    assert {f for fs in forces.values() for f in fs} == set(network.forces)


def test_stored_networks_without_edges_ask_for_a_new_link_run(story: Store) -> None:
    only_network(story)
    story.con.execute("DROP TABLE network_edges")
    with pytest.raises(CrossforceError, match="predate network edges.*coordinator link"):
        load_networks(story.con)


def test_the_edges_are_the_forces_links_between_visible_members(story: Store) -> None:
    network = only_network(story)
    pi, co, call = ("person_identifier",), ("co_suspect",), ("communication",)
    assert edge_names(story, network) == {
        ("person:Dean", "phone:Dean"): (pi, (LANCS,), 1),
        ("person:Dean", "person:Kyle"): (co, (LANCS,), 1),
        ("phone:Dean", "phone:Kyle"): (call, (LANCS,), 1),
        # both forces link Kyle to his phone: one edge, two forces
        ("person:Kyle", "phone:Kyle"): (pi, (LANCS, WYP), 2),
        ("person:Kyle", "person:Marcus"): (co, (WYP,), 1),
        ("phone:Kyle", "phone:Marcus"): (call, (WYP,), 1),
        ("person:Marcus", "phone:Marcus"): (pi, (WYP,), 1),
        ("person:Liam", "phone:Liam"): (pi, (CUMBRIA,), 1),
    }


def test_no_edge_ends_at_a_victim_or_a_stop_listed_hub(story: Store) -> None:
    network = only_network(story)
    never = {story.id("person:Amy"), story.id("phone:Amy"), story.id("phone:StarCars")}
    ends = {e.entity_a for e in network.edges} | {e.entity_b for e in network.edges}
    assert not ends & never
    assert ends <= {m.entity_id for m in network.members}
    stored = story.con.execute("SELECT entity_a, entity_b FROM network_edges").fetchall()
    assert not {x for pair in stored for x in pair} & never


def test_edge_counts_match_the_links_between_members(story: Store) -> None:
    """Recomputed straight from the submitted links: every link between two members of
    the network is in exactly one edge, and there is no other edge."""
    network = only_network(story)
    expected = story.con.execute("""
        WITH member AS (SELECT entity_id FROM network_members),
        ends AS (
            SELECT least(a.entity_id, b.entity_id) AS x, greatest(a.entity_id, b.entity_id) AS y
            FROM links l
            JOIN entities a ON a.force = l.force AND a.ref = l.ref_a
            JOIN entities b ON b.force = l.force AND b.ref = l.ref_b
            WHERE a.entity_id IN (SELECT * FROM member)
              AND b.entity_id IN (SELECT * FROM member))
        SELECT x, y, count(*) FROM ends GROUP BY ALL ORDER BY ALL""").fetchall()
    assert [(e.entity_a, e.entity_b, e.n_links) for e in network.edges] == expected
    assert len(network.edges) == story.con.execute(
        "SELECT count(*) FROM network_edges").fetchone()[0]


def test_edges_are_in_the_json_form_as_entity_ids_only(story: Store) -> None:
    edge = only_network(story).as_dict()["edges"][0]
    assert edge.keys() == {"entity_a", "entity_b", "kinds", "forces", "n_links"}
    assert isinstance(edge["entity_a"], int) and isinstance(edge["kinds"], list)


def test_each_network_gets_only_its_own_edges() -> None:
    s = Store()
    for pair in ((LANCS, WYP), (GMP, CUMBRIA)):
        for force in pair:
            s.owns(force, f"boss{pair[0]}")
            s.owns(force, f"{force}runner")
            s.link(force, f"person:boss{pair[0]}", f"person:{force}runner", "co_suspect")
    networks = find_networks(s.con, STORY)
    assert len(networks) == 2
    for network in networks:
        members = {m.entity_id for m in network.members}
        assert len(network.edges) == 5  # 3 person-phone, 2 boss-runner
        assert all({e.entity_a, e.entity_b} <= members for e in network.edges)


def test_a_force_whose_only_part_is_a_victim_does_not_make_a_network_cross_force() -> None:
    s = Store()
    s.owns(LANCS, "Dean")
    s.owns(LANCS, "Kyle")
    s.owns(LANCS, "Amy", victim=True)
    s.owns(CUMBRIA, "Amy", victim=True)   # Cumbria knows Amy, and nobody else
    s.link(LANCS, "person:Dean", "person:Kyle", "co_suspect")
    s.link(LANCS, "phone:Kyle", "phone:Amy")
    assert find_networks(s.con, STORY) == []


def test_the_taxi_firm_is_stop_listed(story: Store) -> None:
    only_network(story)
    hubs = story.con.execute("SELECT entity_id, busy_forces FROM network_hubs").fetchall()
    assert hubs == [(story.id("phone:StarCars"), 4)]


def test_without_the_stop_list_the_taxi_firm_drags_in_an_unrelated_gang(story: Store) -> None:
    no_stop_list = STORY.model_copy(update={"hub_busy_forces": 99})
    network = only_network(story, no_stop_list)
    assert GMP in network.forces
    assert {"person:Ryan", "phone:StarCars"} <= member_names(story, network)


def test_a_gang_known_to_one_force_only_is_not_reported(story: Store) -> None:
    networks = find_networks(story.con, STORY)
    gmp_gang = {story.id(f"person:{n}") for n in ("Ryan", "Tyler", "Jordan")}
    assert all(not gmp_gang & {m.entity_id for m in n.members} for n in networks)
    assert all(GMP not in n.forces for n in networks)


def test_kyle_who_bridges_the_two_forces_is_a_broker_and_key_player(story: Store) -> None:
    network = only_network(story)
    brokers = [m.entity_id for m in network.brokers]
    key_players = [m.entity_id for m in network.key_players]
    assert story.id("person:Kyle") in brokers or story.id("phone:Kyle") in brokers
    assert key_players[0] == story.id("person:Kyle")
    assert all(m.kind == "person" for m in network.key_players)
    assert len(network.brokers) <= STORY.n_brokers


def test_activity_spans_the_first_and_last_dated_link(story: Store) -> None:
    network = only_network(story)
    assert network.first_activity == dt.date(2023, 11, 20)
    assert network.last_activity == dt.date(2024, 7, 15)


def test_the_same_input_gives_the_same_networks_and_ids(story: Store) -> None:
    first = find_networks(story.con, STORY)
    again = find_networks(story.con, STORY)
    assert first == again
    network = first[0]
    assert network.network_id == min(m.entity_id for m in network.members)
    assert load_networks(story.con) == first


def test_results_are_stored_as_tables(story: Store) -> None:
    only_network(story)
    row = story.con.execute(
        "SELECT forces, n_persons, counts_by_kind FROM networks").fetchone()
    assert row == ([CUMBRIA, LANCS, WYP], 4, {"person": 4, "phone": 4})
    columns = [r[0] for r in story.con.execute("DESCRIBE network_members").fetchall()]
    assert columns == ["network_id", "entity_id", "kind", "betweenness", "degree",
                       "is_broker", "is_key_player", "forces"]
    columns = [r[0] for r in story.con.execute("DESCRIBE network_edges").fetchall()]
    assert columns == ["network_id", "entity_a", "entity_b", "kinds", "forces", "n_links"]


def test_a_large_component_is_split_into_communities_that_each_cross_forces() -> None:
    """Two tight cross-force groups joined by one pair of phones in touch are two networks,
    not one."""
    s = Store()

    def group(home: str, names: list[str], contacts: list[str]) -> None:
        """`home` force's suspects, co-suspects of each other, who all call `contacts`."""
        for name in names:
            s.owns(home, name)
        for a, b in zip(names, names[1:], strict=False):
            s.link(home, f"person:{a}", f"person:{b}", "co_suspect")
        for contact in contacts:
            s.hold(home, f"phone:{contact}")   # found in the home force's seized phones
            for name in names:
                s.link(home, f"phone:{name}", f"phone:{contact}", weight=10)

    group(LANCS, ["N1", "N2", "N3"], [])
    group(WYP, ["N4", "N5", "N6"], ["N1", "N2", "N3"])   # Lancashire's numbers, seized in WY
    group(GMP, ["S1", "S2", "S3"], [])
    group(CUMBRIA, ["S4", "S5", "S6"], ["S1", "S2", "S3"])
    s.hold(WYP, "phone:S1")
    s.link(WYP, "phone:N6", "phone:S1", weight=5)  # the north to the south, now and then

    whole = NetworkSettings(community_min_nodes=100)
    assert [n.forces for n in find_networks(s.con, whole)] == [
        (CUMBRIA, GMP, LANCS, WYP)]
    # Leiden splits components over 5 entities; resolution < 1 favours whole groups
    # over their halves in a graph this small.
    split = NetworkSettings(community_min_nodes=5, resolution=0.5)
    networks = find_networks(s.con, split)
    # West Yorkshire holds S1's number too, so it is named in the southern network.
    assert sorted(n.forces for n in networks) == [(CUMBRIA, GMP, WYP), (LANCS, WYP)]
    assert all(n.n_persons == 6 for n in networks)


def test_nothing_cross_force_gives_no_networks_and_empty_tables() -> None:
    s = Store()
    s.owns(GMP, "Ryan")
    s.owns(GMP, "Tyler")
    s.link(GMP, "person:Ryan", "person:Tyler", "co_suspect")
    assert find_networks(s.con) == []
    assert s.con.execute("SELECT count(*) FROM networks").fetchone() == (0,)


def test_a_store_without_linkage_results_is_refused() -> None:
    con = duckdb.connect()
    with pytest.raises(CrossforceError, match="no `entities` table.*coordinator link"):
        find_networks(con)
    with pytest.raises(CrossforceError, match="no networks stored yet"):
        load_networks(con)


@pytest.mark.parametrize(("values", "message"), [
    ({"min_forces": 1}, "min_forces: Input should be greater than or equal to 2"),
    ({"link_weights": {"co_suspect": 1, "gossip": 1}}, "unknown link kinds \\['gossip'\\]"),
    ({"link_weights": {"co_suspect": 0}}, "link_weights must be positive"),
    ({"hub_kinds": ["postcode"]}, "unknown hub_kinds"),
    ({"hub_busy_degree": 50, "hub_max_degree": 10}, "hub_busy_degree must not exceed"),
    ({"resolution": 0}, "resolution: Input should be greater than 0"),
    ({"min_contacts": 0}, "min_contacts: Input should be greater than or equal to 1"),
    ({"louvain": True}, "louvain: Extra inputs are not permitted"),
])
def test_bad_settings_are_refused_with_the_field_named(values: dict, message: str) -> None:
    with pytest.raises(CrossforceError, match=f"bad network settings: .*{message}"):
        NetworkSettings.parse(values)


def bridged(forces: tuple[str, str] = (LANCS, WYP), size: int = 4) -> Store:
    """Two gangs, one per force, whose phones both call one shared burner phone."""
    s = Store()
    for force in forces:
        names = [f"{force[:4]}{i}" for i in range(size)]
        s.hold(force, "phone:burner")
        for name in names:
            s.owns(force, name)
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                s.link(force, f"person:{a}", f"person:{b}", "co_suspect")
        s.link(force, f"phone:{names[0]}", "phone:burner", weight=20)
    return s


def test_the_shared_burner_between_two_forces_is_the_top_broker() -> None:
    s = bridged()
    network = only_network(s)
    assert network.brokers[0].entity_id == s.id("phone:burner")
    # All 8 x 8 paths between the gangs' 8 entities each (4 persons, 4 phones) run through
    # it; normalised over the 16 * 15 / 2 pairs of the other 16 entities.
    assert network.brokers[0].betweenness == pytest.approx(64 / (16 * 15 / 2))


def test_sampled_betweenness_with_a_sample_per_entity_equals_the_exact_figure() -> None:
    s = bridged(size=5)
    exact = only_network(s)
    sampled = only_network(s, NetworkSettings(betweenness_exact_max=3,
                                              betweenness_samples=1000))
    assert [m.betweenness for m in sampled.members] == pytest.approx(
        [m.betweenness for m in exact.members])
    rough = only_network(s, NetworkSettings(betweenness_exact_max=3, betweenness_samples=4))
    assert rough.brokers  # an estimate still names brokers on a network too big to be exact


def test_a_callers_rollback_takes_the_results_with_it() -> None:
    """With own_transaction=False the caller commits results and its ledger entry as one."""
    s = bridged()
    s.con.execute("BEGIN TRANSACTION")
    assert len(find_networks(s.con, own_transaction=False)) == 1
    s.con.execute("ROLLBACK")
    assert s.con.execute("SELECT count(*) FROM duckdb_tables() "
                         "WHERE table_name = 'network_edges'").fetchone() == (0,)
    with pytest.raises(CrossforceError, match="no networks stored yet"):
        load_networks(s.con)


# --------------------------------------------------------------- occasional contact is no tie


def with_local_gang(story: Store, calls: int) -> Store:
    """Lancashire's other gang, Gary and Wayne; Dean's phone shows `calls` contacts with
    Gary's (the force's bucketed count)."""
    story.owns(LANCS, "Gary")
    story.owns(LANCS, "Wayne")
    story.link(LANCS, "person:Gary", "person:Wayne", "co_suspect")
    story.link(LANCS, "phone:Gary", "phone:Wayne", weight=20)
    story.link(LANCS, "phone:Dean", "phone:Gary", weight=calls)
    return story


def test_a_few_calls_with_another_gangs_man_do_not_bring_his_gang_in(story: Store) -> None:
    network = only_network(with_local_gang(story, calls=1))
    assert not {"person:Gary", "person:Wayne"} & member_names(story, network)
    assert network.n_persons == 4
    # the calls are still there, for an analyst to follow up
    assert story.con.execute("SELECT count(*) FROM links WHERE weight = 1 AND kind = "
                             "'communication' AND ref_b = ?",
                             [ref(LANCS, "phone:Gary")]).fetchone() == (1,)


def test_regular_contact_is_a_tie(story: Store) -> None:
    network = only_network(with_local_gang(story, calls=STORY.min_contacts))
    assert {"person:Gary", "person:Wayne"} <= member_names(story, network)


def test_min_contacts_one_makes_every_contact_a_tie(story: Store) -> None:
    every = STORY.model_copy(update={"min_contacts": 1})
    network = only_network(with_local_gang(story, calls=1), every)
    assert {"person:Gary", "person:Wayne"} <= member_names(story, network)


def test_a_taxi_firm_each_force_calls_now_and_then_is_still_a_hub() -> None:
    """Hubs are counted over every link: a taxi is a hub because many call it, rarely."""
    s = Store()
    for force in (LANCS, WYP, CUMBRIA):
        s.hold(force, "phone:StarCars")
        for i in range(3):
            s.owns(force, f"{force}{i}")
            s.link(force, f"phone:{force}{i}", "phone:StarCars", weight=1)
    assert find_networks(s.con, STORY) == []
    hubs = s.con.execute("SELECT entity_id, busy_forces FROM network_hubs").fetchall()
    assert hubs == [(s.id("phone:StarCars"), 3)]
