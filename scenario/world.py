"""The hidden truth shared by all forces: planted networks, their people, look-alikes.

Built once, centrally, from the scenario seed, before any force is generated; each force
then renders its own (corrupted) records of these people. Sizes here are small (a few per
cent of all records), so plain Python over dataclasses is fine.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from scenario.catalogue import catalogue, forces
from scenario.identifiers import emails, handles, imeis, mobile_numbers, postcodes, vrms
from scenario.names import pools, spelling_variant, streets

CENTRAL_BLOCK = 43  # mobile-number block of the planted people (after the 43 forces' blocks)
KINDS = ("cse", "county_lines", "modern_slavery")
KIND_WEIGHTS = np.array([0.6, 0.25, 0.15])
EPOCH = dt.date(2010, 1, 1)
LAST_DAY = dt.date(2026, 10, 31)


@dataclass
class Phone:
    number: int  # national significant number, e.g. 7436314187
    start: dt.date
    end: dt.date


@dataclass
class RealPerson:
    real_id: str
    community: int
    sex: str
    given: str
    family: str
    dob: dt.date
    home: int  # force index
    kind: str  # offender | facilitator | victim | lookalike
    phones: list[Phone] = field(default_factory=list)
    imei: str = ""
    vrm: str | None = None
    network_id: str | None = None
    lookalike_of: str | None = None
    deceased: bool = False
    native: str | None = None
    email: str | None = None
    handle: tuple[str, str] | None = None  # (platform, handle)
    home_address: tuple[str, str, str] | None = None  # (address, town, postcode)
    forces: list[int] = field(default_factory=list)  # forces holding a record of them


@dataclass
class Network:
    network_id: str
    kind: str
    forces: list[int]
    start: dt.date
    end: dt.date
    members: list[RealPerson]
    victims: list[RealPerson]
    shared_vrm: str | None = None
    organiser: str | None = None  # real_id of the member who leads: the others call him most


@dataclass
class World:
    forces: list[int]
    networks: list[Network]
    people: list[RealPerson]

    def in_force(self, force: int) -> list[RealPerson]:
        return [p for p in self.people if force in p.forces]

    def networks_in(self, force: int) -> list[Network]:
        return [n for n in self.networks if force in n.forces]


def _date(rng: np.random.Generator, lo: dt.date, hi: dt.date) -> dt.date:
    return lo + dt.timedelta(days=int(rng.integers(0, max(1, (hi - lo).days))))


def network_count(n_forces: int, persons_per_force: int) -> int:
    """How many networks to plant: ~1 per 2,000 records, never crowding out a small force."""
    if n_forces < 2:
        return 0
    wanted = max(3, round(n_forces * persons_per_force / 2000))
    # a network puts ~12 records into each force it touches (3 forces on average)
    room = int(0.3 * persons_per_force * n_forces / 36)
    return max(1, min(wanted, room))


def _online(person: RealPerson, rng: np.random.Generator) -> None:
    """Email and social handle, derived from the person's (final) name."""
    g, f = np.array([person.given], dtype=object), np.array([person.family], dtype=object)
    devices = catalogue().raw["devices"]
    person.email = (str(emails(g, f, rng, devices["email_domains"])[0])
                    if rng.random() < 0.6 else None)
    platforms = devices["handle_platforms"]
    person.handle = ((platforms[int(rng.integers(len(platforms)))],
                      str(handles(g, f, rng)[0])) if rng.random() < 0.7 else None)


class _Draws:
    """Identifiers drawn in batches (one numpy call per 4,096, not per person)."""

    BATCH = 4096

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.buffers: dict[str, list] = {}

    def take(self, key: str, make: Callable[[int], np.ndarray]) -> object:
        buf = self.buffers.get(key)
        if not buf:
            buf = self.buffers[key] = make(self.BATCH).tolist()[::-1]
        return buf.pop()

    def community(self) -> int:
        p = pools()
        return int(self.take("community", lambda n: self.rng.choice(
            len(p.communities), size=n, p=p.weights)))

    def imei(self) -> str:
        return str(self.take("imei", lambda n: imeis(self.rng, n)))

    def vrm(self) -> str:
        return str(self.take("vrm", lambda n: vrms(self.rng, n)))

    def postcode(self, force: int) -> str:
        areas = forces()[force].areas
        return str(self.take(f"postcode-{force}", lambda n: postcodes(self.rng, areas, n)))


class _People:
    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.draws = _Draws(rng)
        self.people: list[RealPerson] = []
        self.phone_serial = 0

    def phone(self, start: dt.date, end: dt.date) -> Phone:
        n = int(mobile_numbers(CENTRAL_BLOCK, np.array([self.phone_serial]))[0])
        self.phone_serial += 1
        return Phone(n, start, end)

    def new(self, kind: str, home: int, dob: dt.date, active: tuple[dt.date, dt.date],
            community: int | None = None, sex: str | None = None) -> RealPerson:
        rng, p = self.rng, pools()
        com = self.draws.community() if community is None else community
        sex = sex or ("M" if rng.random() < 0.5 else "F")
        cp = p.communities[com]
        given_pool = cp.male if sex == "M" else cp.female
        person = RealPerson(
            real_id=f"X{len(self.people) + 1:07d}", community=com, sex=sex,
            given=str(given_pool[rng.integers(len(given_pool))]),
            family=str(cp.family[rng.integers(len(cp.family))]),
            dob=dob, home=home, kind=kind, imei=self.draws.imei(),
            deceased=bool(kind != "victim" and rng.random() < 0.04))
        if len(cp.native) and rng.random() < 0.3:
            person.native = str(cp.native[rng.integers(len(cp.native))])
        start, end = active
        if kind in ("offender", "facilitator") and rng.random() < 0.4:
            # burner handover: one number stops, a new one starts with the same contacts
            cut = _date(rng, start + dt.timedelta(days=60), end)
            person.phones = [self.phone(start - dt.timedelta(days=200), cut),
                             self.phone(cut, end + dt.timedelta(days=400))]
        else:
            person.phones = [self.phone(start - dt.timedelta(days=300),
                                        end + dt.timedelta(days=400))]
        if kind != "victim" and rng.random() < 0.5:
            person.vrm = self.draws.vrm()
        _online(person, rng)
        force = forces()[home]
        st = streets()
        person.home_address = (
            f"{int(rng.integers(1, 200))} {st[int(rng.integers(len(st)))]}",
            force.towns[int(rng.integers(len(force.towns)))],
            self.draws.postcode(home))
        self.people.append(person)
        return person


def build_world(rng: np.random.Generator, n_forces: int, persons_per_force: int) -> World:
    """Plant cross-force networks (each spans 2-5 neighbouring forces) and look-alikes."""
    people = _People(rng)
    networks: list[Network] = []
    for k in range(network_count(n_forces, persons_per_force)):
        span = int(min(n_forces, rng.integers(2, 6)))
        first = int(rng.integers(0, n_forces - span + 1))
        span_forces = list(range(first, first + span))
        kind = KINDS[int(rng.choice(3, p=KIND_WEIGHTS))]
        start = _date(rng, dt.date(2010, 6, 1), dt.date(2023, 6, 1))
        end = min(start + dt.timedelta(days=int(rng.integers(365, 3 * 365))), LAST_DAY)
        n_members = int(rng.integers(max(3, span + 1), 9 + span))
        members = []
        for m in range(n_members):
            dob = _date(rng, dt.date(1965, 1, 1), dt.date(2001, 1, 1))
            role = "facilitator" if m == 0 and kind != "county_lines" else "offender"
            members.append(people.new(role, span_forces[m % span], dob, (start, end)))
        for m in members:
            m.network_id = f"N{k + 1:04d}"
            others = [f for f in span_forces if f != m.home]
            m.forces = sorted({m.home} | {f for f in others if rng.random() < 0.45})
        # every force of the span holds records of at least two members
        for f in span_forces:
            holders = [m for m in members if f in m.forces]
            for m in members:
                if len(holders) >= 2:
                    break
                if m not in holders:
                    m.forces = sorted(set(m.forces) | {f})
                    holders.append(m)
        victims = []
        child_victims = kind in ("cse", "county_lines")
        for f in span_forces:
            for _ in range(int(rng.integers(1, 3))):
                if child_victims:  # still under 18 on the network's last day
                    age_at_end = int(rng.integers(14, 18))
                    dob = end - dt.timedelta(days=365 * age_at_end + int(rng.integers(0, 300)))
                else:
                    age = int(rng.integers(19, 45))
                    dob = start - dt.timedelta(days=365 * age + int(rng.integers(0, 300)))
                v = people.new("victim", f, dob, (start, end), sex=(
                    "F" if kind == "cse" and rng.random() < 0.85 else None))
                v.network_id = None  # victims are not network members
                v.forces = [f]
                if rng.random() < 0.3 and span > 1:  # moved or trafficked across forces
                    v.forces = sorted({f, int(rng.choice([g for g in span_forces if g != f]))})
                victims.append(v)
        net = Network(f"N{k + 1:04d}", kind, span_forces, start, end, members, victims,
                      organiser=members[0 if kind == "county_lines" else 1].real_id)
        if rng.random() < 0.5:
            net.shared_vrm = str(vrms(rng, 1)[0])
        networks.append(net)

    # look-alikes: different people, similar name, same birth year
    cross = [p for p in people.people if len(p.forces) >= 2 and p.kind != "victim"]
    for orig in cross:
        if rng.random() >= 0.4:
            continue
        dob = dt.date(orig.dob.year, int(rng.integers(1, 13)), int(rng.integers(1, 29)))
        if dob == orig.dob:
            dob = dob.replace(day=dob.day % 28 + 1)
        la = people.new("lookalike", orig.home, dob, (EPOCH, LAST_DAY),
                        community=orig.community, sex=orig.sex)
        la.given = orig.given if rng.random() < 0.4 else spelling_variant(orig.given, rng)
        la.family = orig.family if rng.random() < 0.6 else spelling_variant(orig.family, rng)
        la.lookalike_of = orig.real_id
        _online(la, rng)
        la.deceased = False
        la.vrm = None
        la.home_address = None if rng.random() < 0.5 else la.home_address
        la.forces = [int(rng.choice(orig.forces))]
    return World(list(range(n_forces)), networks, people.people)
