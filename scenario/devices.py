"""Seized-phone extractions generated FROM the hidden network structure.

Each seized device gets an address book of "entries" (co-offenders, victims, family and
friends, taxi firms and takeaways shared by many people, unknown numbers), each with a
weight and the period its number was in use. Calls and messages are then drawn for all
devices at once: entry by weight (vectorised over a global cumulative sum), time inside
the number's period (so a burner handover shows as one number stopping and a new one
starting with the same contacts), night hours for contact with victims.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from federation import layout
from scenario import dates
from scenario.bodies import foreign_bodies, truth_table
from scenario.catalogue import catalogue
from scenario.identifiers import (
    join,
    mobile_numbers,
    numbered,
    phone_formats,
    write_imei,
    write_phones,
)
from scenario.tables import TableBuilder
from scenario.world import LAST_DAY, RealPerson

if TYPE_CHECKING:
    from scenario.force import ForceGenerator

# entry kinds and how often each is called / messaged
CO, VICTIM, PERSONAL, TAXI, TAKEAWAY, UNKNOWN = range(6)
WEIGHT = np.array([10.0, 6.0, 1.0, 3.0, 2.0, 0.4])
NIGHT = np.array([0.25, 0.65, 0.08, 0.2, 0.15, 0.1])  # share of contact at 22:00-06:00
CALLS_PER_DEVICE = 150
MESSAGES_PER_DEVICE = 250
SEIZED_SHARE = 0.01
ORGANISER_SCALE = 3.0  # a network's members call the one who leads this much more often


@dataclass
class Entries:
    device: list[int] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    digits: list[str | None] = field(default_factory=list)  # 44..., for app chat ids
    kind: list[int] = field(default_factory=list)
    name: list[str | None] = field(default_factory=list)
    start: list[int] = field(default_factory=list)
    end: list[int] = field(default_factory=list)
    scale: list[float] = field(default_factory=list)  # x the kind's weight

    def add(self, device: int, written: str, digits: str | None, kind: int,
            name: str | None, start: int, end: int, scale: float = 1.0) -> None:
        self.device.append(device)
        self.written.append(written)
        self.digits.append(digits)
        self.kind.append(kind)
        self.name.append(name)
        self.start.append(start)
        self.end.append(end)
        self.scale.append(scale)


def _first_name(s: str) -> str:
    return s.split(" ")[0]


def extractions(gen: ForceGenerator) -> dict[str, pa.Table]:
    rng, force, job = gen.rng, gen.force, gen.job
    raw = catalogue().raw
    M = job.persons
    # who had a phone seized
    owners: list[tuple[int, str, object]] = []  # (person idx, context, payload)
    member_of = {m.real_id: net for net in job.networks for m in net.members}
    for p in job.planted:
        if p.real_id in member_of and rng.random() < 0.45:
            owners.append((gen.records_of[p.real_id][0], "network", p))
    for offenders, victims in gen.groups:
        for o in offenders:
            if rng.random() < 0.35:
                owners.append((int(o), "group", (offenders, victims)))
    target = max(2, round(SEIZED_SHARE * M))
    suspects = np.unique(gen.role_person[gen.role_name == "suspect"])
    suspects = suspects[suspects >= gen.bg_start]
    extra = max(0, target - len(owners))
    for o in rng.choice(suspects, min(extra, len(suspects)), replace=False):
        owners.append((int(o), "background", None))

    # phone numbers of background people, by person
    bg_owner, bg_number = gen.bg_phone_owner, gen.bg_phone_number
    order = np.argsort(bg_owner, kind="stable")
    bg_owner, bg_number = bg_owner[order], bg_number[order]

    def bg_phones(person: int) -> list[int]:
        lo, hi = np.searchsorted(bg_owner, [person, person + 1])
        return bg_number[lo:hi].tolist()

    area, prefix = raw["noise"]["landlines"][force.index % len(raw["noise"]["landlines"])]
    lines = rng.choice(1000, 16, replace=False)
    noise = [(TAXI, n, f"{area} {prefix} {lines[i]:04d}")
             for i, n in enumerate(raw["noise"]["taxi"])]
    noise += [(TAKEAWAY, n, f"{area} {prefix} {lines[8 + i]:04d}")
              for i, n in enumerate(raw["noise"]["takeaway"])]

    ent = Entries()
    n_dev = len(owners)
    win_end = np.zeros(n_dev, dtype=np.int64)
    imei_written: list[str] = []
    fmt_pref = phone_formats(rng, n_dev)

    mobile: list[int] = []  # entry position -> national number (written all at once below)
    mobile_at: list[int] = []
    owner_numbers: list[int] = []

    def add_number(d: int, number: int, kind: int, name: str | None, start: int,
                   end: int, scale: float = 1.0) -> None:
        mobile_at.append(len(ent.device))
        mobile.append(number)
        ent.add(d, "", f"44{number}", kind, name, start, end, scale)

    for d, (person, ctx, payload) in enumerate(owners):
        if ctx == "network":
            p: RealPerson = payload  # type: ignore[assignment]
            net = member_of[p.real_id]
            end = min(dates.day(net.end) + int(rng.integers(10, 200)), dates.day(LAST_DAY))
            own = p.phones[-1].number
            imei = p.imei
            for m in net.members:
                if m.real_id == p.real_id:
                    continue
                nick = _first_name(m.given) if rng.random() < 0.7 else m.family
                lead = ORGANISER_SCALE if m.real_id == net.organiser else 1.0
                for j, ph in enumerate(m.phones):
                    add_number(d, ph.number, CO, nick if j == 0 else f"{nick} new",
                               dates.day(ph.start), dates.day(ph.end), lead)
            for v in net.victims:
                for ph in v.phones:
                    add_number(d, ph.number, VICTIM, _first_name(v.given) +
                               (" x" if rng.random() < 0.3 else ""),
                               dates.day(ph.start), dates.day(ph.end))
        else:
            end = int(dates.uniform(rng, dates.day(dt.date(2012, 1, 1)),
                                    dates.day(LAST_DAY), 1)[0])
            mine = bg_phones(person)
            if mine:
                own = mine[0]
            else:
                own = int(mobile_numbers(force.index, np.array([gen.phone_serial]))[0])
                gen.phone_serial += 1
            imei = None
            if ctx == "group":
                offenders, victims = payload  # type: ignore[misc]
                for o in offenders:
                    if int(o) != person:
                        for num in bg_phones(int(o)):
                            add_number(d, num, CO, _first_name(gen.people.given[int(o)]),
                                       dates.day(dt.date(2009, 1, 1)), end + 1)
                for v in victims:
                    for num in bg_phones(int(v)):
                        add_number(d, num, VICTIM, _first_name(gen.people.given[int(v)]),
                                   dates.day(dt.date(2009, 1, 1)), end + 1)
        win_end[d] = end
        owner_numbers.append(own)
        imei_written.append(write_imei(imei, rng) if imei and rng.random() < 0.9 else "")
        # friends and family: random people of this force (some shared between devices)
        for i in rng.integers(0, len(bg_number), int(rng.integers(15, 40))):
            num = int(bg_number[i])
            if num != own:
                add_number(d, num, PERSONAL,
                           _first_name(gen.people.given[int(bg_owner[i])])
                           if rng.random() < 0.8 else None, end - 3000, end + 1)
        for kind, name, written in noise:
            if rng.random() < 0.5:
                ent.add(d, written, None, kind, name, end - 3000, end + 1)
        for num in mobile_numbers(force.index, np.arange(gen.phone_serial,
                                                         gen.phone_serial + 6)).tolist():
            add_number(d, num, UNKNOWN, None, end - 3000, end + 1)
        gen.phone_serial += 6

    # each handset tends to save numbers one way
    pos = np.array(mobile_at, dtype=np.int64)
    dev_of = np.array(ent.device, dtype=np.int64)[pos]
    fmts = np.where(rng.random(len(pos)) < 0.7, fmt_pref[dev_of], phone_formats(rng, len(pos)))
    written_m = write_phones(np.array(mobile, dtype=np.int64), rng, fmts)
    for i, w in zip(mobile_at, written_m.tolist(), strict=True):
        ent.written[i] = w
    owner_written = write_phones(np.array(owner_numbers, dtype=np.int64), rng,
                                 fmt_pref).tolist()
    win_start = win_end - rng.integers(180, 720, n_dev)
    e_dev = np.array(ent.device, dtype=np.int64)
    e_kind = np.array(ent.kind, dtype=np.int64)
    lo = np.maximum(np.array(ent.start, dtype=np.int64), win_start[e_dev])
    hi = np.minimum(np.array(ent.end, dtype=np.int64), win_end[e_dev])
    w = np.where(hi > lo, WEIGHT[e_kind] * np.array(ent.scale), 0.0)
    cum = np.cumsum(w)
    seg_end = np.searchsorted(e_dev, np.arange(n_dev), side="right")
    seg_start = np.searchsorted(e_dev, np.arange(n_dev), side="left")
    base = np.where(seg_start > 0, cum[np.maximum(seg_start - 1, 0)], 0.0)
    base[seg_start == 0] = 0.0
    total = cum[seg_end - 1] - base

    def events(per_device: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        counts = rng.poisson(per_device * rng.lognormal(0, 0.5, n_dev))
        counts[total <= 0] = 0
        dev = np.repeat(np.arange(n_dev), counts)
        target = base[dev] + rng.random(len(dev)) * total[dev]
        e = np.minimum(np.searchsorted(cum, target, side="right"), len(cum) - 1)
        day = dates.uniform(rng, lo[e], np.maximum(hi[e] - 1, lo[e]))
        night = rng.random(len(e)) < NIGHT[e_kind[e]]
        hour = np.where(night, rng.choice([22, 23, 0, 1, 2, 3, 4, 5], len(e)),
                        rng.integers(7, 22, len(e)))
        secs = day * 86400 + hour * 3600 + rng.integers(0, 3600, len(e))
        o = np.lexsort((secs, dev))
        return dev[o], e[o], secs[o]

    written = np.array(ent.written, dtype=object)
    names = np.array(ent.name, dtype=object)
    digits = np.array(ent.digits, dtype=object)
    device_ids = numbered(f"{gen.code}-D", np.arange(1, n_dev + 1), 5)

    def seq(dev: np.ndarray, prefix: str) -> np.ndarray:
        start = np.searchsorted(dev, dev, side="left")
        return numbered(prefix, np.arange(len(dev)) - start + 1, 6)

    devs = raw["devices"]
    # calls
    c_dev, c_e, c_t = events(CALLS_PER_DEVICE)
    nc = len(c_dev)
    direction = rng.choice(np.array(["incoming", "outgoing", "missed"], dtype=object), nc,
                           p=[0.4, 0.45, 0.15])
    duration = np.where(direction == "missed", 0,
                        np.clip(rng.lognormal(4, 1.1, nc), 1, 7200).astype(np.int64))
    capps, cw = list(devs["call_apps"]), np.array(list(devs["call_apps"].values()), float)
    is_landline = digits[c_e] == None  # noqa: E711
    call_app = np.where(is_landline, "Phone",
                        rng.choice(np.array(capps, dtype=object), nc, p=cw / cw.sum()))
    deleted = rng.random(nc) < np.where(e_kind[c_e] <= VICTIM, 0.15, 0.03)
    calls = TableBuilder(layout.CALLS)
    calls.add(device_id=device_ids[c_dev], call_id=seq(c_dev, "C"), timestamp_utc=c_t,
              direction=direction, number=written[c_e], name=names[c_e],
              duration_s=duration, app=call_app, deleted=deleted)
    # messages
    m_dev, m_e, m_t = events(MESSAGES_PER_DEVICE)
    nm = len(m_dev)
    mapps, mw = list(devs["message_apps"]), np.array(list(devs["message_apps"].values()), float)
    is_landline = digits[m_e] == None  # noqa: E711
    app = np.where(is_landline, "SMS", rng.choice(np.array(mapps, dtype=object), nm,
                                                  p=mw / mw.sum()))
    msgs = raw["messages"]
    pools = [msgs["network"], msgs["victim"], msgs["personal"], msgs["taxi"],
             msgs["takeaway"], msgs["personal"]]
    body = np.empty(nm, dtype=object)
    mk = e_kind[m_e]
    for k, pool in enumerate(pools):
        sel = np.flatnonzero(mk == k)
        body[sel] = np.array(pool, dtype=object)[rng.integers(len(pool), size=len(sel))]
    mdir = np.where(mk >= TAXI, "incoming",
                    rng.choice(np.array(["incoming", "outgoing"], dtype=object), nm))
    # a handover announces itself: the first message from a new number
    _, first_msg = np.unique(m_e, return_index=True)  # events are in time order per device
    is_new = np.array([n is not None and n.endswith(" new") for n in names[m_e[first_msg]]],
                      dtype=bool)
    announce = first_msg[is_new]
    body[announce] = "new number save it"
    mdir[announce] = "incoming"
    chat = np.full(nm, None, dtype=object)
    wa = np.flatnonzero(app == "WhatsApp")
    if len(wa):
        chat[wa] = join(digits[m_e[wa]].astype(str), "@s.whatsapp.net")
    other = np.flatnonzero((app != "WhatsApp") & (app != "SMS") & (digits[m_e] != None))  # noqa: E711
    if len(other):
        chat[other] = join(pc.utf8_lower(pa.array(app[other].astype(str))), ":",
                           digits[m_e[other]].astype(str))
    # bodies in the owners' languages (own random stream), with their true language
    english_only = np.isin(mk, [TAXI, TAKEAWAY])
    english_only[announce] = True
    body, true_language = foreign_bodies(
        job.seed, force.index, [str(gen.people.family[o[0]]) for o in owners], m_dev,
        english_only, body)
    m_ids = seq(m_dev, "M")
    messages = TableBuilder(layout.MESSAGES)
    messages.add(device_id=device_ids[m_dev], message_id=m_ids, timestamp_utc=m_t,
                 direction=mdir, number=written[m_e], name=names[m_e], app=app, chat_id=chat,
                 body=body, deleted=rng.random(nm) < np.where(mk <= VICTIM, 0.15, 0.03))
    # contacts: saved entries, with how often and when last contacted
    used = np.concatenate([c_e, m_e])
    when = np.concatenate([c_t, m_t])
    times = np.bincount(used, minlength=len(written))
    last = np.full(len(written), np.iinfo(np.int64).min)
    np.maximum.at(last, used, when)
    saved = np.flatnonzero(names != None)  # noqa: E711
    ct = TableBuilder(layout.CONTACTS)
    ct.add(device_id=device_ids[e_dev[saved]], contact_id=seq(e_dev[saved], "K"),
           name=names[saved], number=written[saved],
           times_contacted=np.where(times[saved] > 0, times[saved], None),
           last_contacted=np.where(times[saved] > 0,
                                   last[saved].astype("datetime64[s]"), np.datetime64("NaT")),
           source_app=rng.choice(np.array(["Phone", "WhatsApp", "SIM"], dtype=object),
                                 len(saved), p=[0.7, 0.25, 0.05]))
    # devices
    mks, tools = devs["makes"], devs["tools"]
    mi = rng.integers(len(mks), size=n_dev)
    ti = rng.integers(len(tools), size=n_dev)
    ext = win_end.astype(np.int64) * 86400 + rng.integers(8 * 3600, 18 * 3600, n_dev)
    initials = np.array([f"{a}{b}" for a, b in rng.choice(list("ABCDEGHJKLMNPRSTW"),
                                                          (n_dev, 2))], dtype=object)
    dv = TableBuilder(layout.DEVICES)
    dv.add(device_id=device_ids,
           exhibit_ref=np.array([f"{ini}/{i}" for ini, i in
                                 zip(initials, rng.integers(1, 30, n_dev), strict=True)],
                                dtype=object),
           person_id=np.array([o[0] for o in owners], dtype=np.int64),
           make=np.array([mks[i][0] for i in mi], dtype=object),
           model=np.array([mks[i][1] for i in mi], dtype=object),
           imei=np.array([v or None for v in imei_written], dtype=object),
           owner_number=np.array(owner_written, dtype=object),
           tool=np.array([tools[i][0] for i in ti], dtype=object),
           tool_version=np.array([tools[i][1] for i in ti], dtype=object),
           extraction_type=rng.choice(np.array(devs["extraction_types"], dtype=object), n_dev),
           extraction_date=ext, timezone=np.full(n_dev, "Europe/London", dtype=object),
           region=np.full(n_dev, "GB", dtype=object))
    return {"devices": dv.build(gen.person_ids), "calls": calls.build(),
            "messages": messages.build(), "contacts": ct.build(),
            "truth_handovers": _handovers_seen(gen, digits, times),
            "truth_languages": truth_table(force.slug, device_ids[m_dev], m_ids,
                                           true_language)}


def _handovers_seen(gen: ForceGenerator, digits: np.ndarray, times: np.ndarray) -> pa.Table:
    """Truth: every planted burner handover of a network this force's area spans, with how
    many calls and messages of this force's extractions involve the old and the new number
    (0 and 0: this force's data cannot show it)."""
    seen: dict[str, int] = {}
    for d, t in zip(digits.tolist(), times.tolist(), strict=True):
        if d is not None:
            seen[d] = seen.get(d, 0) + int(t)
    rows = [(gen.force.slug, net.network_id, m.real_id, f"+44{m.phones[0].number}",
             f"+44{m.phones[1].number}", m.phones[1].start,
             seen.get(f"44{m.phones[0].number}", 0), seen.get(f"44{m.phones[1].number}", 0))
            for net in gen.job.networks for m in net.members if len(m.phones) == 2]
    names = ("force", "network_id", "real_id", "old_number", "new_number", "switch_date",
             "old_events", "new_events")
    types = (pa.string(),) * 5 + (pa.date32(), pa.int64(), pa.int64())
    return pa.table([pa.array([r[i] for r in rows], t) for i, t in enumerate(types)],
                    names=list(names))
