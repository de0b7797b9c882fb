"""One force's records: the planted people as this force happens to have recorded them,
plus a background population, crimes, roles, identifiers, addresses, vehicles and intel.
One real person may hold several records here (duplicate nominals, see ``messy``), each
with its own person_id, written differently, with its own role links.

Runs in a worker process with its own random stream derived from (seed, force index), so a
force's files are byte-identical whatever else runs alongside it. Background rows are built
with numpy; only the small planted part (network members, victims, look-alikes) and the
structured crimes go through Python loops.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from federation import layout
from scenario import dates
from scenario.catalogue import Force, catalogue
from scenario.identifiers import (
    emails,
    handles,
    imeis,
    join,
    mobile_numbers,
    numbered,
    padded,
    postcodes,
    vrms,
    write_email,
    write_handle,
    write_imei,
    write_phones,
    write_postcode,
    write_vrm,
)
from scenario.messy import (
    DEFAULT_DIRTY_DOBS,
    DEFAULT_DUPLICATES,
    DUP_SIZES,
    DUP_WEIGHTS,
    dirty_dobs,
    drift_dobs,
    drift_names,
    missing_names,
    primaries,
    record_counts,
)
from scenario.names import nickname, pools, spelling_variant, streets, typo
from scenario.tables import TableBuilder
from scenario.world import LAST_DAY, Network, RealPerson

FIRST = dates.day(dt.date(2010, 1, 1))
LAST = dates.day(LAST_DAY)
NULL = dates.NULL


@dataclass
class ForceJob:
    force: Force
    seed: int
    persons: int
    flag_accuracy: float
    planted: list[RealPerson]
    networks: list[Network]
    duplicates: float = DEFAULT_DUPLICATES  # share of real people with 2+ records here
    dirty_dobs: float = DEFAULT_DIRTY_DOBS  # share of dates of birth written unparseably


@dataclass
class People:
    """Internal per-record arrays (index = internal person number)."""
    real_id: list[str] = field(default_factory=list)
    network_id: list[str | None] = field(default_factory=list)
    lookalike_of: list[str | None] = field(default_factory=list)
    true_dob: list[int] = field(default_factory=list)
    deceased: list[bool] = field(default_factory=list)
    given: list[str] = field(default_factory=list)
    family: list[str] = field(default_factory=list)
    aliases: list[str | None] = field(default_factory=list)
    dob: list[int] = field(default_factory=list)
    dob_known: list[bool | None] = field(default_factory=list)
    age_min: list[int | None] = field(default_factory=list)
    age_max: list[int | None] = field(default_factory=list)
    sex: list[str] = field(default_factory=list)
    eth_self: list[str | None] = field(default_factory=list)
    eth_officer: list[str | None] = field(default_factory=list)
    nationality: list[str | None] = field(default_factory=list)
    deceased_rec: list[bool | None] = field(default_factory=list)


def _pick(rng: np.random.Generator, options: tuple | list, n: int,
          p: np.ndarray | None = None) -> np.ndarray:
    arr = np.empty(len(options), dtype=object)
    arr[:] = list(options)
    return arr[rng.choice(len(options), size=n, p=p)]


def _weights(mix: dict[str, float]) -> tuple[list[str], np.ndarray]:
    keys = list(mix)
    w = np.array([mix[k] for k in keys], dtype=float)
    return keys, w / w.sum()


class ForceGenerator:
    """Builds every layout table of one force (see module docstring)."""

    def __init__(self, job: ForceJob, seed: int) -> None:
        self.job = job
        self.force = job.force
        self.code = job.force.code
        self.rng = np.random.default_rng([seed, job.force.index])
        self.cat = catalogue()
        self.people = People()
        self.records_of: dict[str, list[int]] = {}  # real_id -> internal indices
        self.phones: list[tuple[int, int]] = []  # (person idx, national number), planted
        self.ident = TableBuilder(layout.IDENTIFIERS)
        self.addr = TableBuilder(layout.ADDRESSES)
        self.veh = TableBuilder(layout.VEHICLES)
        self.id_rows: list[tuple] = []
        self.addr_rows: list[tuple] = []
        self.veh_rows: list[tuple] = []
        self.phone_serial = 0  # next serial in this force's own number block
        self.groups: list[tuple[np.ndarray, np.ndarray]] = []  # local (offenders, victims)

    # ----------------------------------------------------------------- planted people
    def _render(self, p: RealPerson, duplicate: bool = False) -> int:
        """One record of a planted real person, corrupted the way records drift; a
        `duplicate` (another record of them in this force) drifts further."""
        rng, pp = self.rng, self.people
        idx = len(pp.real_id)
        given, family = p.given, p.family
        if rng.random() < 0.4:
            given = spelling_variant(given, rng)
        if rng.random() < 0.4:
            family = spelling_variant(family, rng)
        if rng.random() < 0.15:
            if rng.random() < 0.5:
                given = typo(given, rng)
            else:
                family = typo(family, rng)
        aliases = []
        nick = nickname(p.given, rng)
        if nick and rng.random() < 0.08:
            aliases.append(given)
            given = nick
        elif nick and rng.random() < 0.35:
            aliases.append(nick)
        if p.native and rng.random() < 0.5:
            aliases.append(p.native)
        if rng.random() < 0.08:
            given, family = family, given
        g, f = np.array([given], dtype=object), np.array([family], dtype=object)
        drift_names(rng, g, f, np.array([p.sex], dtype=object), np.zeros(1, dtype=np.int64),
                    scale=1.0 if duplicate else 0.25)
        given, family = str(g[0]), str(f[0])
        true = dates.day(p.dob)
        r = rng.random()
        dob, known, amin, amax = true, True, None, None
        y, m, d = (int(v[0]) for v in dates.ymd(np.array([true])))
        if r < 0.10:
            age = 2020 - y
            dob, known, amin, amax = NULL, False, max(0, age - 3), age + 3
        elif r < 0.17 and d <= 12 and d != m:
            dob = int(dates.from_ymd(np.array([y]), np.array([d]), np.array([m]))[0])
        elif r < 0.25:
            dob = int(dates.from_ymd(np.array([y + (1 if rng.random() < 0.5 else -1)]),
                                     np.array([m]), np.array([d]))[0])
        elif r < 0.30:
            dob, known = dates.day(dt.date(y, 1, 1)), False
        com = pools().communities[p.community].community
        pp.real_id.append(p.real_id)
        pp.network_id.append(p.network_id)
        pp.lookalike_of.append(p.lookalike_of)
        pp.true_dob.append(true)
        pp.deceased.append(p.deceased)
        pp.given.append(given)
        pp.family.append(family)
        pp.aliases.append("|".join(aliases) or None)
        pp.dob.append(dob)
        pp.dob_known.append(known)
        pp.age_min.append(amin)
        pp.age_max.append(amax)
        pp.sex.append(p.sex if rng.random() < 0.95 else "U")
        pp.eth_self.append(com.ethnicity if rng.random() < 0.35 else
                           (layout.NOT_STATED if rng.random() < 0.15 else None))
        pp.eth_officer.append(com.officer if rng.random() < 0.45 else None)
        pp.nationality.append(com.nationality if rng.random() < 0.3 else
                              (layout.NOT_STATED if rng.random() < 0.1 else None))
        pp.deceased_rec.append(True if p.deceased and rng.random() < 0.9 else
                               (False if rng.random() < 0.5 else None))
        self.records_of.setdefault(p.real_id, []).append(idx)

        # identifiers, as this force recorded them
        chosen = [ph for ph in p.phones if rng.random() < 0.75] or [p.phones[-1]]
        for ph in chosen:
            written = write_phones(np.array([ph.number]), rng)[0]
            self.id_rows.append((idx, "phone", written, None, dates.day(ph.start),
                                 dates.day(min(ph.end, LAST_DAY))))
            self.phones.append((idx, ph.number))
        if p.email and rng.random() < 0.45:
            self.id_rows.append((idx, "email", write_email(p.email, rng), None, NULL, NULL))
        if p.handle and rng.random() < 0.4:
            self.id_rows.append((idx, "handle", write_handle(p.handle[1], rng), p.handle[0],
                                 NULL, NULL))
        if p.kind != "victim" and rng.random() < 0.2:
            self.id_rows.append((idx, "imei", write_imei(p.imei, rng), None, NULL, NULL))
        # addresses: a local one, and often the home address
        town = self.force.towns[int(rng.integers(len(self.force.towns)))]
        st = streets()
        start = int(dates.uniform(rng, FIRST, LAST - 400, 1)[0])
        self.addr_rows.append((idx, f"{int(rng.integers(1, 300))} {st[rng.integers(len(st))]}",
                               town, str(postcodes(rng, self.force.areas, 1)[0]), start, NULL,
                               "hotel" if rng.random() < 0.1 else "home"))
        if p.home_address and (p.home == self.force.index or rng.random() < 0.35):
            a, t, pc = p.home_address
            self.addr_rows.append((idx, a, t, write_postcode(pc, rng), start - 700, start - 1,
                                   "home"))
        if p.vrm and rng.random() < 0.6:
            self.veh_rows.append((idx, write_vrm(p.vrm, rng)))
        return idx

    def planted(self) -> None:
        share = self.job.duplicates
        for p in self.job.planted:
            self._render(p)
            # duplicate nominals inside the same force: offenders more often than others
            rate = min(0.9, 2 * share) if p.kind in ("offender", "facilitator") else share
            if self.rng.random() < rate:
                extra = int(DUP_SIZES[self.rng.choice(len(DUP_SIZES), p=DUP_WEIGHTS)]) - 1
                for _ in range(extra if p.kind != "victim" else min(extra, 2)):
                    self._render(p, duplicate=True)
        # shared premises and vehicles inside each network
        for net in self.job.networks:
            here = [self.records_of[m.real_id][0] for m in net.members
                    if m.real_id in self.records_of]
            if len(here) >= 2 and self.rng.random() < 0.6:
                flat = (f"Flat {int(self.rng.integers(1, 40))}, "
                        f"{int(self.rng.integers(1, 200))} "
                        f"{streets()[self.rng.integers(len(streets()))]}")
                pc = str(postcodes(self.rng, self.force.areas, 1)[0])
                start = dates.day(net.start)
                for i in here[:3]:
                    self.addr_rows.append((i, flat, self.force.towns[0],
                                           write_postcode(pc, self.rng), start, NULL, "home"))
            if net.shared_vrm and len(here) >= 2:
                for i in here[:2]:
                    self.veh_rows.append((i, write_vrm(net.shared_vrm, self.rng)))

    # -------------------------------------------------------------- background people
    def background(self, n: int) -> None:
        """`n` background records: real people, some of them recorded several times."""
        rng, pp, np_ = self.rng, self.people, pools()
        counts = record_counts(rng, n, self.job.duplicates)
        m = len(counts)  # real people behind the n records
        person, first = primaries(counts)
        com = rng.choice(len(np_.communities), size=m, p=np_.weights)
        sex = np.where(rng.random(m) < 0.5, "M", "F").astype(object)
        given = np.empty(m, dtype=object)
        middle = np.empty(m, dtype=object)
        family = np.empty(m, dtype=object)
        eth, off, nat = (np.empty(m, dtype=object) for _ in range(3))
        for c, cp in enumerate(np_.communities):
            for s, pool in (("M", cp.male), ("F", cp.female)):
                mask = (com == c) & (sex == s)
                k = int(mask.sum())
                given[mask] = pool[rng.integers(len(pool), size=k)]
                middle[mask] = pool[rng.integers(len(pool), size=k)]
            mask = com == c
            family[mask] = cp.family[rng.integers(len(cp.family), size=int(mask.sum()))]
            eth[mask], off[mask], nat[mask] = (cp.community.ethnicity, cp.community.officer,
                                               cp.community.nationality)
        has_middle = rng.random(m) < 0.2
        given = np.where(has_middle, given + " " + middle, given)
        child = rng.random(m) < 0.1
        true = np.where(child,
                        dates.uniform(rng, dates.day(dt.date(1995, 1, 1)),
                                      dates.day(dt.date(2011, 1, 1)), m),
                        dates.uniform(rng, dates.day(dt.date(1950, 1, 1)),
                                      dates.day(dt.date(2004, 1, 1)), m))
        # namesakes: different people with the same name, some born the same year
        ns = np.flatnonzero(rng.random(m) < 0.02)
        src = rng.integers(m, size=len(ns))
        ns, src = ns[ns != src], src[ns != src]
        given[ns], family[ns], sex[ns], com[ns] = given[src], family[src], sex[src], com[src]
        eth[ns], off[ns], nat[ns] = eth[src], off[src], nat[src]
        same_year = rng.random(len(ns)) < 0.5
        a, b = ns[same_year], src[same_year]
        _, pm, pd = dates.ymd(true[a])
        true[a] = dates.from_ymd(dates.ymd(true[b])[0], pm, pd)
        child[a] = child[b]
        dead = rng.random(m) < 0.01
        # one row per record from here on
        given, family, sex = given[person], family[person], sex[person]
        eth, off, nat = eth[person], off[person], nat[person]
        true, child = true[person], child[person]
        # keying slips and swapped order on a few records
        for arr, rate in ((family, 0.02), (given, 0.01)):
            for i in np.flatnonzero(rng.random(n) < rate):
                arr[i] = typo(str(arr[i]), rng)
        swap = rng.random(n) < 0.02
        given, family = np.where(swap, family, given), np.where(swap, given, family)
        # a person's further records drift further (nickname, title, split names, NS...)
        later = np.flatnonzero(np.arange(n) != first)
        drift_names(rng, given, family, sex, later)
        missing_names(rng, given, family, 0.006)
        aliases = np.full(n, None, dtype=object)
        for i in np.flatnonzero(rng.random(n) < 0.03):
            aliases[i] = nickname(str(given[i]), rng)
        y, mo, d = dates.ymd(true)
        r = rng.random(n)
        dob = true.copy()
        missing = r < 0.05
        dob[missing] = NULL
        swapm = (r >= 0.05) & (r < 0.08) & (d <= 12) & (d != mo)
        dob[swapm] = dates.from_ymd(y, d, mo)[swapm]
        yoff = (r >= 0.08) & (r < 0.10)
        dob[yoff] = dates.from_ymd(y + rng.choice([-1, 1], n), mo, d)[yoff]
        est = (r >= 0.10) & (r < 0.12)
        dob[est] = dates.from_ymd(y, np.ones(n), np.ones(n))[est]
        known = np.where(missing | est, False, True).astype(object)
        known[rng.random(n) < 0.2] = None
        drift_dobs(rng, dob, known, later)
        missing = dob == NULL
        age = 2020 - y
        amin = np.where(missing, np.maximum(age - 3, 0), -1)
        amax = np.where(missing, age + 3, -1)
        rec_sex = sex.copy()
        rs = rng.random(n)
        rec_sex[rs < 0.02] = "U"
        rec_sex[(rs >= 0.02) & (rs < 0.023)] = "X"
        re = rng.random(n)
        eth = np.where(re < 0.4, eth, np.where(re < 0.5, layout.NOT_STATED, None))
        off = np.where(rng.random(n) < 0.5, off, None)
        rn = rng.random(n)
        nat = np.where(rn < 0.35, nat, np.where(rn < 0.4, layout.NOT_STATED,
                                                np.where(rn < 0.45, layout.UNKNOWN, None)))
        dead = dead[person]
        rd = rng.random(n)
        dec_rec = np.where(dead, True, np.where(rd < 0.6, False, None))
        start = len(pp.real_id)
        pp.real_id.extend(f"{self.code}-R{start + i:07d}" for i in person.tolist())
        pp.network_id.extend([None] * n)
        pp.lookalike_of.extend([None] * n)
        pp.true_dob.extend(true.tolist())
        pp.deceased.extend(dead.tolist())
        pp.given.extend(given.tolist())
        pp.family.extend(family.tolist())
        pp.aliases.extend(aliases.tolist())
        pp.dob.extend(dob.tolist())
        pp.dob_known.extend(known.tolist())
        pp.age_min.extend([None if v < 0 else int(v) for v in amin])
        pp.age_max.extend([None if v < 0 else int(v) for v in amax])
        pp.sex.extend(rec_sex.tolist())
        pp.eth_self.extend(eth.tolist())
        pp.eth_officer.extend(off.tolist())
        pp.nationality.extend(nat.tolist())
        pp.deceased_rec.extend(dec_rec.tolist())
        self.bg_start = start
        self.bg_first = first + start  # each record's person's first record
        self.bg_child = np.flatnonzero(child) + start
        self.bg_adult = np.flatnonzero(~child) + start
        self._bg_contacts(start, n, given, family)

    def _bg_contacts(self, start: int, n: int, given: np.ndarray, family: np.ndarray) -> None:
        """Phones, emails, handles, IMEIs, addresses and vehicles of background people."""
        rng, f = self.rng, self.force
        idx = np.arange(start, start + n)
        n_ph = rng.choice([0, 1, 2], size=n, p=[0.2, 0.62, 0.18])
        owner = np.repeat(idx, n_ph)
        serial = np.arange(len(owner)) + self.phone_serial
        self.phone_serial += len(owner)
        numbers = mobile_numbers(f.index, serial)
        self.bg_phone_owner, self.bg_phone_number = owner, numbers
        first = dates.uniform(rng, FIRST - 1500, LAST - 30, len(owner))
        last = dates.uniform(rng, first, LAST)
        blank = rng.random(len(owner)) < 0.4
        first[blank] = NULL
        last[blank] = NULL
        self.ident.add(person_id=owner, kind=np.full(len(owner), "phone", dtype=object),
                       value=write_phones(numbers, rng), first_seen=first, last_seen=last)
        # a later record of a person sometimes carries the first record's phone as well
        prim = self.bg_first
        later = np.flatnonzero(prim != idx)
        share = later[rng.random(len(later)) < 0.3]
        at = np.searchsorted(owner, prim[share])
        ok = at < len(owner)
        ok[ok] = owner[at[ok]] == prim[share][ok]
        share, at = share[ok], at[ok]
        if len(share):
            self.ident.add(person_id=idx[share],
                           kind=np.full(len(share), "phone", dtype=object),
                           value=write_phones(numbers[at], rng))
            self.bg_phone_owner = np.concatenate([owner, idx[share]])
            self.bg_phone_number = np.concatenate([numbers, numbers[at]])
        devs = catalogue().raw["devices"]
        em = np.flatnonzero(rng.random(n) < 0.3)
        values = emails(given[em], family[em], rng, devs["email_domains"])
        self.ident.add(person_id=idx[em], kind=np.full(len(em), "email", dtype=object),
                       value=np.array([write_email(v, rng) for v in values], dtype=object))
        hd = np.flatnonzero(rng.random(n) < 0.2)
        values = handles(given[hd], family[hd], rng)
        self.ident.add(person_id=idx[hd], kind=np.full(len(hd), "handle", dtype=object),
                       value=values, platform=_pick(rng, devs["handle_platforms"], len(hd)))
        im = np.flatnonzero(rng.random(n) < 0.03)
        self.ident.add(person_id=idx[im], kind=np.full(len(im), "imei", dtype=object),
                       value=imeis(rng, len(im)))
        # addresses over time
        n_ad = rng.choice([1, 2, 3], size=n, p=[0.5, 0.35, 0.15])
        a_owner = np.repeat(idx, n_ad)
        k = len(a_owner)
        order = np.arange(k) - np.repeat(np.cumsum(n_ad) - n_ad, n_ad)  # 0,1,2 per person
        st = streets()
        line = join(rng.integers(1, 300, k), " ", st[rng.integers(len(st), size=k)])
        pcs = postcodes(rng, f.areas, k)
        written = np.where(rng.random(k) < 0.8, pcs,
                           pc.replace_substring(pa.array(pcs.astype(str)), " ", "")
                           .to_numpy(zero_copy_only=False))
        span = rng.integers(200, 2000, k)
        end = LAST - order * 900 - rng.integers(0, 300, k)
        begin = end - span
        current = n_ad[np.repeat(np.arange(n), n_ad)] - 1 == order
        valid_to = np.where(order == 0, NULL, end)
        del current
        lt, lw = _weights(catalogue().raw["devices"]["location_types"])
        has_geo = rng.random(k) < 0.7
        towns = _pick(rng, f.towns, k)
        self.addr.add(
            person_id=a_owner, address=np.array(line, dtype=object),
            town=towns, postcode=written,
            uprn=np.where(rng.random(k) < 0.6, rng.integers(10**10, 10**11, k), None),
            latitude=np.where(has_geo, np.round(f.lat + rng.normal(0, 0.08, k), 5), None),
            longitude=np.where(has_geo, np.round(f.lon + rng.normal(0, 0.12, k), 5), None),
            location_type=_pick(rng, lt, k, lw), valid_from=begin, valid_to=valid_to)
        # ... and often the first record's current address
        share = later[rng.random(len(later)) < 0.4]
        row = (np.cumsum(n_ad) - n_ad)[prim[share] - start]  # its first address row
        if len(share):
            self.addr.add(person_id=idx[share], address=np.array(line, dtype=object)[row],
                          town=towns[row], postcode=pcs[row].astype(object),
                          location_type=np.full(len(share), "home", dtype=object),
                          valid_from=begin[row], valid_to=valid_to[row])
        vh = np.flatnonzero(rng.random(n) < 0.12)
        mk = catalogue().raw["devices"]["vehicles"]
        which = rng.integers(len(mk), size=len(vh))
        vins = np.where(rng.random(len(vh)) < 0.3, np.array(
            ["".join(c) for c in np.array(list("ABCDEFGHJKLMNPRSTUVWXYZ0123456789"))[
                rng.integers(33, size=(len(vh), 17))]], dtype=object), None) \
            if len(vh) else np.array([], dtype=object)
        plates = np.array([write_vrm(v, rng) for v in vrms(rng, len(vh))], dtype=object)
        self.veh.add(person_id=idx[vh], vrm=plates,
                     make=np.array([mk[w][0] for w in which], dtype=object),
                     model=np.array([mk[w][1] for w in which], dtype=object),
                     colour=_pick(rng, catalogue().raw["devices"]["colours"], len(vh)),
                     vin=vins)

    # ------------------------------------------------------------------------ crimes
    def crimes(self) -> None:
        rng, cat = self.rng, self.cat
        self.s_code: list[str] = []
        self.s_date: list[int] = []
        self.s_group: list[bool] = []
        self.s_kind: list[str] = []  # network kind, 'local', 'solo'
        self.s_network: list[Network | None] = []  # the planted network behind a crime
        roles_c: list[int] = []
        roles_p: list[int] = []
        roles_r: list[str] = []

        def crime(code: str, day: int, kind: str, group: bool,
                  roles: list[tuple[int, str]], network: Network | None = None) -> None:
            c = len(self.s_code)
            self.s_network.append(network)
            self.s_code.append(code)
            self.s_date.append(int(min(max(day, FIRST), LAST)))
            self.s_group.append(group)
            self.s_kind.append(kind)
            for person, role in roles:
                roles_c.append(c)
                roles_p.append(person)
                roles_r.append(role)

        child_codes = [o.code for o in cat.child_sexual]
        child_w = np.array([o.weight for o in cat.child_sexual])
        child_w = child_w / child_w.sum()
        victims_of = {v.real_id for net in self.job.networks for v in net.victims}
        # planted networks: crimes in this force with >=2 of the members recorded here
        def one_record(records: list[int]) -> int:
            """Which of a person's records this crime was linked to."""
            return records[0] if len(records) == 1 else records[int(rng.integers(len(records)))]

        for net in self.job.networks:
            members = [(self.records_of[m.real_id], m.kind) for m in net.members
                       if m.real_id in self.records_of]
            victims = [self.records_of[v.real_id] for v in net.victims
                       if v.real_id in self.records_of]
            if len(members) < 2:
                continue
            for _ in range(int(rng.integers(1, 4))):
                k = int(rng.integers(2, len(members) + 1))
                chosen = [(one_record(members[i][0]), members[i][1])
                          for i in rng.choice(len(members), k, replace=False)]
                roles = [(i, "facilitator" if kind == "facilitator" else "suspect")
                         for i, kind in chosen]
                if sum(r == "suspect" for _, r in roles) < 2:
                    roles = [(i, "suspect") for i, _ in chosen]
                if victims:
                    for v in rng.choice(len(victims), min(len(victims), int(rng.integers(1, 3))),
                                        replace=False):
                        roles.append((one_record(victims[int(v)]), "victim"))
                day = int(dates.uniform(rng, dates.day(net.start), dates.day(net.end), 1)[0])
                code = (str(rng.choice(child_codes, p=child_w)) if net.kind == "cse"
                        else "92A" if net.kind == "county_lines" else "106")
                crime(code, day, net.kind, net.kind == "cse", roles, net)
        del victims_of
        # local groups: offender groups known to this force only
        n_groups = max(1, self.job.persons // 400)
        true_dob = np.array(self.people.true_dob, dtype=np.int64)
        by_dob = self.bg_child[np.argsort(true_dob[self.bg_child], kind="stable")]
        for _ in range(n_groups):
            offenders = rng.choice(self.bg_adult, int(rng.integers(2, 6)), replace=False)
            # victims of one group are of an age: neighbours in date-of-birth order
            at = int(rng.integers(0, len(by_dob) - 3))
            victims = by_dob[at:at + int(rng.integers(1, 4))]
            youngest = max(victims.tolist(), key=lambda v: self.people.true_dob[v])
            base = self._child_crime_day(int(youngest), margin=500)
            for _ in range(int(rng.integers(1, 6))):
                k = int(rng.integers(2, len(offenders) + 1))
                sus = rng.choice(offenders, k, replace=False)
                roles = [(int(s), "suspect") for s in sus]
                if k >= 3 and rng.random() < 0.3:
                    roles[-1] = (roles[-1][0], "facilitator")
                roles += [(int(v), "victim") for v in victims if rng.random() < 0.7] or \
                    [(int(victims[0]), "victim")]
                day = base + int(rng.integers(0, 500))
                crime(str(rng.choice(child_codes, p=child_w)), day, "local", True, roles)
            self.groups.append((offenders, victims))
        # solo child sexual offences (not group-based) ...
        real = self.people.real_id
        abused_by = {(real[int(o)], real[int(v)]) for offenders, victims in self.groups
                     for o in offenders for v in victims}
        self.group_abuse: set[int] = set()  # ... unless a group's offender abuses its victim
        for _ in range(max(1, self.job.persons // 150)):
            victim = int(rng.choice(self.bg_child))
            roles = [(victim, "victim")]
            if rng.random() < 0.85:
                roles.append((int(rng.choice(self.bg_adult)), "suspect"))
            if len(roles) == 2 and (real[roles[1][0]], real[victim]) in abused_by:
                # drawn by chance: one of a local group's offenders abusing the group's own
                # victim is that group's abuse (truth only: the draws stay as they were)
                self.group_abuse.add(len(self.s_code))
            crime(str(rng.choice(child_codes, p=child_w)), int(self._child_crime_day(victim)),
                  "solo", False, roles)
        n_struct = len(self.s_code)
        # general crime, vectorised
        general = [o for o in cat.offences if not o.child_sexual]
        gw = np.array([o.weight for o in general])
        n_gen = int(0.4 * self.job.persons)
        g_code = _pick(rng, [o.code for o in general], n_gen, gw / gw.sum())
        g_day = dates.uniform(rng, FIRST, LAST, n_gen)
        cid = np.arange(n_struct, n_struct + n_gen)
        pool = np.arange(self.job.persons)
        parts_c, parts_p, parts_r = [np.array(roles_c, dtype=np.int64)], \
            [np.array(roles_p, dtype=np.int64)], [np.array(roles_r, dtype=object)]
        for role, rate, many in (("victim", 0.7, False), ("suspect", 0.7, True),
                                 ("witness", 0.15, False), ("reporting_person", 0.2, False)):
            has = rng.random(n_gen) < rate
            c = cid[has]
            if many:
                extra = rng.random(len(c)) < 0.2
                c = np.concatenate([c, c[extra]])
            parts_c.append(c)
            parts_p.append(rng.choice(pool, len(c)))
            parts_r.append(np.full(len(c), role, dtype=object))
        self.crime_code = np.concatenate([np.array(self.s_code, dtype=object), g_code])
        self.crime_day = np.concatenate([np.array(self.s_date, dtype=np.int64), g_day])
        self.crime_group = np.concatenate([np.array(self.s_group, dtype=bool),
                                           np.zeros(n_gen, dtype=bool)])
        self.crime_kind = np.concatenate([np.array(self.s_kind, dtype=object),
                                          np.full(n_gen, "", dtype=object)])
        rc, rp, rr = (np.concatenate(parts_c), np.concatenate(parts_p),
                      np.concatenate(parts_r))
        # one row per (crime, person, role)
        role_no = {r: i for i, r in enumerate(layout.ROLES)}
        key = (rc * (self.job.persons + 1) + rp) * 8 + np.array([role_no[r] for r in rr])
        _, first = np.unique(key, return_index=True)
        first.sort()
        self.role_crime, self.role_person, self.role_name = rc[first], rp[first], rr[first]
        self._victim_age_ranges()

    def _victim_age_ranges(self) -> None:
        """A child sexual offence's victim with no date of birth is described by the age
        the report gives (R1 reads the range as the age on the offence date): centre the
        range on their age at the first such offence against them, not on 2020. No random
        draws, so every other column stays as it was."""
        pp = self.people
        child = np.isin(self.crime_code.astype(str), [o.code for o in self.cat.child_sexual])
        v = (self.role_name == "victim") & child[self.role_crime]
        first: dict[int, int] = {}
        for person, day in zip(self.role_person[v].tolist(),
                               self.crime_day[self.role_crime[v]].tolist(), strict=True):
            if pp.age_max[person] is not None:
                first[person] = min(day, first.get(person, day))
        for person, day in first.items():
            age = int(dates.ymd(np.array([day]))[0][0] - dates.ymd(
                np.array([pp.true_dob[person]]))[0][0])
            pp.age_min[person], pp.age_max[person] = max(0, age - 3), age + 3

    def _child_crime_day(self, victim: int, margin: int = 0) -> int:
        """A day on which this person was 11-17 years old (and still under 18 `margin`
        days later), within 2010..2026."""
        dob = self.people.true_dob[victim]
        lo, hi = max(FIRST, dob + 11 * 365 + 3), min(LAST - margin, dob + 17 * 365 - margin)
        return int(dates.uniform(self.rng, lo, hi, 1)[0])

    def crime_table(self) -> tuple[pa.Table, pa.Table]:
        """The crimes file and the truth rows (group CSE, flags, review eligibility)."""
        rng, cat = self.rng, self.cat
        n = len(self.crime_code)
        child_set = {o.code for o in cat.child_sexual}
        child = np.array([c in child_set for c in self.crime_code.tolist()])
        group = self.crime_group
        # outcomes
        codes_bg, w_bg = _weights(cat.outcome_mix["background"])
        codes_gc, w_gc = _weights(cat.outcome_mix["group_cse"])
        outcome = _pick(rng, codes_bg, n, w_bg)
        gi = np.flatnonzero(group)
        outcome[gi] = _pick(rng, codes_gc, len(gi), w_gc)
        is_open = outcome == "open"
        outcome[is_open] = None
        out_day = np.minimum(self.crime_day + rng.integers(20, 900, n), LAST)
        out_day[is_open] = NULL
        date_to = np.where(rng.random(n) < 0.4, self.crime_day + rng.integers(0, 200, n), NULL)
        date_to = np.where((date_to != NULL) & (date_to > LAST), LAST, date_to)
        nfa = np.isin(outcome.astype(str), list(cat.nfa_codes)) & ~is_open
        prev = np.where(nfa, rng.random(n) < 0.12, None)
        # flags: group-based CSE recorded correctly on exactly the configured share
        flag_cse = np.where(rng.random(n) < 0.7, None, False).astype(object)
        flag_csa = np.where(rng.random(n) < 0.7, None, False).astype(object)
        flag_group = np.where(rng.random(n) < 0.7, None, False).astype(object)
        flag_cce = np.where(rng.random(n) < 0.8, None, False).astype(object)
        flag_online = np.where(rng.random(n) < 0.8, None, False).astype(object)
        correct = np.zeros(n, dtype=bool)
        k = round(self.job.flag_accuracy * len(gi))
        good = rng.permutation(gi)[:k]
        correct[good] = True
        flag_cse[good] = True
        flag_group[good] = True
        bad = np.setdiff1d(gi, good)
        mode = rng.choice(4, size=len(bad), p=[0.4, 0.35, 0.1, 0.15])
        flag_cse[bad] = np.where(mode == 0, True, np.where(mode == 2, False, None))
        flag_csa[bad] = np.where(mode == 1, True, None)
        flag_group[bad] = np.where(mode == 2, True, np.where(mode == 3, None, False))
        solo = np.flatnonzero(child & ~group)
        flag_csa[solo] = np.where(rng.random(len(solo)) < 0.6, True, None)
        flag_cse[solo] = np.where(rng.random(len(solo)) < 0.25, True, None)
        false_group = solo[rng.random(len(solo)) < 0.04]
        flag_group[false_group] = True
        online_codes = np.isin(self.crime_code.astype(str), ["88A", "71/17"])
        flag_online[online_codes] = rng.random(int(online_codes.sum())) < 0.7
        cl = self.crime_kind == "county_lines"
        flag_cce[cl] = np.where(rng.random(int(cl.sum())) < 0.5, True, None)
        exch = np.full(n, None, dtype=object)
        ex = np.flatnonzero((group & (rng.random(n) < 0.4)) | (child & (rng.random(n) < 0.08)))
        exch[ex] = _pick(rng, cat.exchange_indicators, len(ex))
        # CSE is abuse in exchange for something (DfE 2017): most group-based cases record
        # what was exchanged even where the flags are wrong. Own random stream, so every
        # other column stays as it was before this step.
        xrng = np.random.default_rng([self.job.seed, self.force.index, 3])
        more = np.flatnonzero(group & (exch == None) & (xrng.random(n) < 0.97))  # noqa: E711
        exch[more] = _pick(xrng, cat.exchange_indicators, len(more))
        # ids
        order = rng.permutation(n)  # crime number -> position in id order
        crime_no = np.empty(n, dtype=np.int64)
        crime_no[order] = np.arange(1, n + 1)
        self.crime_ids = numbered(f"{self.code}-C", crime_no, 7)
        yy = dates.ymd(self.crime_day)[0] % 100
        refs = join(f"{self.force.index + 1:02d}/", padded(crime_no, 6), "/", padded(yy, 2))
        desc = {o.code: o.description for o in cat.offences}
        tb = TableBuilder(layout.CRIMES)
        tb.add(crime_id=self.crime_ids, crime_ref=refs, ho_offence_code=self.crime_code,
               offence_description=np.array([desc[c] for c in self.crime_code], dtype=object),
               date_from=self.crime_day, date_to=date_to, outcome_code=outcome,
               outcome_date=out_day, flag_cse=flag_cse, flag_csa=flag_csa, flag_cce=flag_cce,
               flag_online=flag_online, flag_group=flag_group, exchange_indicator=exch,
               previously_reviewed=prev)
        crimes = tb.build().take(pa.array(np.argsort(crime_no)))
        # truth: review eligibility (Beaconport R7). "Believed alive" is what the force
        # believes: a suspect counts as dead when any of the force's records of that
        # person records the death; a death no record holds cannot exclude a case.
        sus = np.isin(self.role_name.astype(str), ["suspect"])
        n_sus = np.bincount(self.role_crime[sus], minlength=n)
        _, person_of = np.unique(np.array(self.people.real_id, dtype=object),
                                 return_inverse=True)
        recorded = np.array([v is True for v in self.people.deceased_rec], dtype=float)
        dead = np.bincount(person_of, weights=recorded)[person_of] > 0
        any_dead = np.bincount(self.role_crime[sus], weights=dead[self.role_person[sus]],
                               minlength=n) > 0
        in_window = (out_day >= dates.day(cat.review_from)) & (out_day <= dates.day(cat.review_to))
        # group-based: planted as a group's crime, or a group offender's crime against
        # the group's own victim (truth only; every draw above used the planted `group`)
        group = group.copy()
        group[sorted(self.group_abuse)] = True
        eligible = group & nfa & in_window & (n_sus >= 2) & ~any_dead & (prev != True)  # noqa: E712
        # group-based CSE: a group-based case whose record says what makes it CSE (R2: a
        # CSE flag, an exchange, a CSE-specific offence). Without any of them the record
        # shows group-based child sexual abuse: Beaconport reviews it (review_eligible),
        # no definition can call it exploitation.
        cse_codes = [o.code for o in cat.offences if o.cse_specific]
        recorded_cse = ((flag_cse == True) | (exch != None)  # noqa: E711, E712
                        | np.isin(self.crime_code.astype(str), cse_codes))
        keep = np.flatnonzero(child | (self.crime_kind != ""))
        truth = pa.table({
            "force": pa.array(np.full(len(keep), self.force.slug, dtype=object), pa.string()),
            "crime_id": pa.array(self.crime_ids[keep], pa.string()),
            "group_cse": pa.array((group & recorded_cse)[keep]),
            "group_based": pa.array(group[keep]),
            "flagged_cse": pa.array(flag_cse[keep] == True, pa.bool_()),  # noqa: E712
            "flagged_group": pa.array(flag_group[keep] == True, pa.bool_()),  # noqa: E712
            "flagged_correctly": pa.array(np.where(group[keep], correct[keep],
                                                   flag_group[keep] != True), pa.bool_()),  # noqa: E712
            "review_eligible": pa.array(eligible[keep]),
            # the planted network behind the crime, and whether it spans several forces
            "network_id": pa.array([self.s_network[i].network_id
                                    if i < len(self.s_network) and self.s_network[i]
                                    else None for i in keep.tolist()], pa.string()),
            "cross_force_network": pa.array([bool(i < len(self.s_network)
                                                  and self.s_network[i]
                                                  and len(self.s_network[i].forces) >= 2)
                                             for i in keep.tolist()], pa.bool_()),
        })
        truth = truth.take(pa.array(np.argsort(crime_no[keep])))
        return crimes, truth

    def role_table(self) -> pa.Table:
        tb = TableBuilder(layout.ROLE_LINKS)
        n = len(self.role_crime)
        src = np.where(self.rng.random(n) < 0.5, numbered("STMT-", np.arange(n), 6), None)
        tb.add(crime_id=self.crime_ids[self.role_crime], person_id=self.role_person,
               role=self.role_name, valid_from=self.crime_day[self.role_crime],
               source_ref=src)
        return tb.build(self.person_ids)

    # ------------------------------------------------------------------------- intel
    def intel(self) -> tuple[pa.Table, pa.Table]:
        rng = self.rng
        link_i: list[int] = []
        link_p: list[int] = []
        grade: list[str] = []
        n_bg = max(5, self.job.persons // 30)
        texts = ["Subject seen with associates at {t}", "Subject believed to use a new phone",
                 "Subject frequents a takeaway in {t}", "Vehicle seen outside address in {t}",
                 "Subjects seen together in {t} late at night"]
        for net in self.job.networks:
            here = [self.records_of[m.real_id][0] for m in net.members
                    if m.real_id in self.records_of]
            for _ in range(int(rng.integers(1, 4)) if len(here) >= 2 else 0):
                i = len(grade)
                for p in rng.choice(here, min(len(here), int(rng.integers(2, 4))),
                                    replace=False):
                    link_i.append(i)
                    link_p.append(int(p))
                grade.append(str(rng.choice(list("ABCD"))))
        for offenders, _ in self.groups:
            if rng.random() < 0.5:
                i = len(grade)
                for p in offenders[:3]:
                    link_i.append(i)
                    link_p.append(int(p))
                grade.append(str(rng.choice(list("ABCDE"))))
        n_struct = len(grade)
        n = n_struct + n_bg
        k = rng.integers(1, 4, n_bg)
        link_i += np.repeat(np.arange(n_struct, n), k).tolist()
        link_p += rng.integers(0, self.job.persons, int(k.sum())).tolist()
        assess = np.concatenate([np.array(grade, dtype=object),
                                 _pick(rng, list("ABCDE"), n_bg,
                                       np.array([0.1, 0.3, 0.35, 0.2, 0.05]))])
        ids = numbered(f"{self.code}-I", rng.permutation(n) + 1, 6)
        towns = _pick(rng, self.force.towns, n)
        text = _pick(rng, texts, n)
        tb = TableBuilder(layout.INTEL)
        tb.add(intel_id=ids, report_date=dates.uniform(rng, FIRST, LAST, n),
               submitter=np.array([f"PC {i}" for i in rng.integers(1000, 9999, n)],
                                  dtype=object),
               source_evaluation=_pick(rng, ["1", "2", "3"], n, np.array([0.3, 0.55, 0.15])),
               intelligence_assessment=assess,
               handling_code=_pick(rng, ["P", "C"], n, np.array([0.85, 0.15])),
               gsc_marking=_pick(rng, ["OFFICIAL", "OFFICIAL-SENSITIVE"], n,
                                 np.array([0.7, 0.3])),
               text=np.array([t.format(t=w) for t, w in zip(text, towns, strict=True)],
                             dtype=object))
        intel = tb.build()
        li, lp = np.array(link_i, dtype=np.int64), np.array(link_p, dtype=np.int64)
        _, first = np.unique(li * (self.job.persons + 1) + lp, return_index=True)
        first.sort()
        lb = TableBuilder(layout.INTEL_LINKS)
        lb.add(intel_id=ids[li[first]], person_id=lp[first])
        order = np.argsort(ids, kind="stable")
        return intel.take(pa.array(order)), lb.build(self.person_ids)

    # ------------------------------------------------------------------------ people
    def assign_ids(self) -> None:
        n = len(self.people.real_id)
        no = np.empty(n, dtype=np.int64)
        no[self.rng.permutation(n)] = np.arange(1, n + 1)
        self.person_no = no
        self.person_ids = numbered(f"{self.code}-P", no, 7)

    def person_table(self) -> tuple[pa.Table, pa.Table]:
        pp = self.people
        tb = TableBuilder(layout.PERSONS)

        def obj(v: list) -> np.ndarray:
            a = np.empty(len(v), dtype=object)
            a[:] = v
            return a

        tb.add(person_id=self.person_ids, given_names=obj(pp.given), family_name=obj(pp.family),
               aliases=obj(pp.aliases), dob=np.array(pp.dob, dtype=np.int64),
               dob_known=obj(pp.dob_known), age_min=obj(pp.age_min), age_max=obj(pp.age_max),
               sex=obj(pp.sex), ethnicity_self=obj(pp.eth_self),
               ethnicity_officer=obj(pp.eth_officer), nationality=obj(pp.nationality),
               deceased=obj(pp.deceased_rec))
        order = pa.array(np.argsort(self.person_no))
        n = len(pp.real_id)
        persons = tb.build()
        if self.job.dirty_dobs > 0:
            # written as text: some dates of birth no DATE column can hold ("1985",
            # "1997-21-25"). Own random stream: the other columns stay as without it.
            rng = np.random.default_rng([self.job.seed, self.force.index, 2])
            text, rows, form = dirty_dobs(rng, np.array(pp.dob, dtype=np.int64),
                                          self.job.dirty_dobs)
            known = obj(pp.dob_known)
            known[rows[form == 0]] = False  # a bare year
            at = persons.schema.get_field_index("dob")
            persons = persons.set_column(at, pa.field("dob", pa.string()),
                                         pa.array(text, pa.string()))
            at = persons.schema.get_field_index("dob_known")
            persons = persons.set_column(at, persons.schema.field(at),
                                         pa.array(known, pa.bool_()))
        truth = pa.table({
            "force": pa.array(np.full(n, self.force.slug, dtype=object), pa.string()),
            "person_id": pa.array(self.person_ids, pa.string()),
            "real_id": pa.array(obj(pp.real_id), pa.string()),
            "network_id": pa.array(obj(pp.network_id), pa.string()),
            "is_lookalike": pa.array(np.array([x is not None for x in pp.lookalike_of])),
            "lookalike_of": pa.array(obj(pp.lookalike_of), pa.string()),
        })
        return persons.take(order), truth.take(order)

    def flush_planted_rows(self) -> None:
        self.ident.add_rows(("person_id", "kind", "value", "platform", "first_seen",
                             "last_seen"), _dedupe(self.id_rows, 3))
        self.addr.add_rows(("person_id", "address", "town", "postcode", "valid_from",
                            "valid_to", "location_type"), _dedupe(self.addr_rows, 2, 4))
        self.veh.add_rows(("person_id", "vrm"), _dedupe(self.veh_rows, 2))


def _dedupe(rows: list[tuple], *key_cols: int) -> list[tuple]:
    """Keep the first row per key (columns 0..k-1, or the listed positions)."""
    cols = tuple(range(key_cols[0])) if len(key_cols) == 1 else (0, 1, *key_cols[1:])
    seen: set[tuple] = set()
    out = []
    for r in rows:
        k = tuple(r[c] for c in cols)
        if k not in seen:
            seen.add(k)
            out.append(r)
    return out
