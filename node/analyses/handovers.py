"""`node analyse handovers`: did a number stop and another start with the same contacts
("burner rotation"), and which handsets carried several numbers or numbers several handsets.

A number is seen through the seized devices: its contacts are the devices' own numbers that
talk to it (and, for a device's own number, everything that device talks to). A handover
old → new needs three things, each measured and shown:

- **the same contacts**: the Jaccard overlap of the two numbers' contacts, and the same
  overlap with each contact weighted by its rarity, 1 / log2(1 + sources), where sources is
  how many seized devices the contact is seen with. A *hub* (a taxi firm, a takeaway: seen
  with many unrelated devices) weighs nothing and is listed apart, so sharing a taxi firm
  never makes two numbers one person's;
- **one stops as the other starts**: at most ``--parallel`` of the old number's events come
  after the new one's first, and of the new one's before the old one's last (phones are used
  side by side for a while); the gap between them, or the time they are used side by
  side, is at most ``--max-gap`` days;
- **not by chance**: the events of the two numbers, put in time order, are tested for "all
  of the old before the new" (one-sided Mann-Whitney U: exact when no event is out of
  order, else the normal approximation; Bonferroni
  over every pair tested, at ``--alpha``; at 0.05 for a pair a clue below ties together),
  so two numbers seen a handful of times each are not enough.

When a number's own handset was seized, its log spans every SIM the handset held, so when
the number was in use is read from the other devices that saw it (its own log only when no
other device did); a number no device of which was seized is seen only through the
seized devices' own numbers, so both numbers' contacts are compared over those.

Strength = rarity-weighted Jaccard × order (the share of old/new event pairs in switch
order) × closeness (1 / (1 + gap / 30 days)); each clue that ties the two numbers together —
both recorded for one person, saved under the same first name on one device ("Ali" / "Ali
new") — halves the remaining doubt: 1 − (1 − s) / 2. Pairs under ``--min-strength`` (0.5:
no clue and a month's gap, say) are not shown. A first message like "new number save
it" is shown but not counted (it does not say which old number). One old number goes to one
new: pairs are taken clues first, then strongest first, and a pair whose number is already
taken is counted as a weaker pairing set aside (a group that changes phones together shares
every contact).
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import typer
from scipy.special import gammaln
from scipy.stats import norm

from federation.errors import CrossforceError
from node.analyses import (
    CsvOption,
    DirOption,
    JsonOption,
    Result,
    Table,
    _suggest,
    consult,
    define_person_records,
    emit,
    parse_period,
    prepare_events,
    resolve_devices,
)
from node.analyses import _handover_clues as hc
from node.analyses._events import identifier_option

COLUMNS = ["old", "new", "switch", "gap_days", "parallel_days", "old_events", "new_events",
           "old_contacts", "new_contacts", "shared", "jaccard", "weighted_jaccard", "order",
           "p_value", "closeness", "strength", "also_fits", "persons", "clues", "explanation"]


def command(
    dir: Path = DirOption,
    device: list[str] = typer.Option([], "--device", help="Only events of this seized "
                                     "device (repeatable). Default: every device."),
    person: list[str] = typer.Option([], "--person", help="Only handovers from or to a "
                                     "number of this person (repeatable)."),
    number: list[str] = typer.Option([], "--number", help="Only handovers from or to this "
                                     "number (repeatable)."),
    start: str = typer.Option(None, "--from", help="First day of events used, YYYY-MM-DD."),
    end: str = typer.Option(None, "--to", help="Last day of events used, YYYY-MM-DD."),
    min_events: int = typer.Option(3, "--min-events", min=1, help="Events each number "
                                   "needs on each side of the switch."),
    min_overlap: float = typer.Option(0.4, "--min-overlap", min=0.0, max=1.0,
                                      help="Smallest rarity-weighted Jaccard overlap."),
    parallel: float = typer.Option(0.2, "--parallel", min=0.0, max=0.5, help="Largest "
                                   "share of either number's events inside the other's "
                                   "time (used side by side)."),
    max_gap: int = typer.Option(90, "--max-gap", min=0, help="Largest gap in days between "
                                "the old number's last event and the new one's first."),
    min_strength: float = typer.Option(0.5, "--min-strength", min=0.0, max=1.0,
                                       help="Weakest handover shown."),
    hub: int = typer.Option(0, "--hub", min=0, help="A contact seen with this many devices "
                            "or more is a hub (weighs nothing). 0: max(6, a quarter of the "
                            "devices)."),
    alpha: float = typer.Option(0.001, "--alpha", min=1e-12, max=0.5, help="Largest "
                                "Bonferroni-corrected p-value of the switch-order test."),
    as_json: bool = JsonOption,
    csv: Path = CsvOption,
) -> None:
    """New-number handovers ("burner rotation"): a number stops and another starts with
    mostly the same contacts. Shows old → new, the switch date, contacts on each side and
    shared, the overlap (Jaccard, and weighted by how rare each contact is, so hubs such as
    taxi firms count for nothing), the switch-order test and one line explaining each,
    strongest first; then handsets (IMEI) seen with several numbers and numbers seen in
    several handsets, from the devices table. --csv writes the handovers."""
    period = parse_period(start, end)
    params = {"device": device, "person": person, "number": number, "from": start, "to": end,
              "min_events": min_events, "min_overlap": min_overlap, "parallel": parallel,
              "max_gap": max_gap, "min_strength": min_strength, "hub": hub, "alpha": alpha}
    with consult(dir, "handovers", params) as (con, counts):
        devices = resolve_devices(con, device, [])
        wanted = _wanted_numbers(con, person, number)
        result = handovers(con, sorted({d for ds in devices.values() for d in ds}), period,
                           Settings(min_events, min_overlap, parallel, max_gap, hub, alpha,
                                    min_strength),
                           wanted)
        result.params = params
        counts.update({k: int(v) for k, v in result.summary.items()
                       if isinstance(v, int)})
    emit(result, as_json, csv)


class Settings:
    """The thresholds of one run (see the command's options)."""

    def __init__(self, min_events: int = 3, min_overlap: float = 0.4, parallel: float = 0.2,
                 max_gap: int = 90, hub: int = 0, alpha: float = 0.001,
                 min_strength: float = 0.5) -> None:
        self.min_events, self.min_overlap, self.parallel = min_events, min_overlap, parallel
        self.max_gap, self.hub, self.alpha = max_gap, hub, alpha
        self.min_strength = min_strength


def _wanted_numbers(con: duckdb.DuckDBPyConnection, persons: list[str],
                    numbers: list[str]) -> set[str] | None:
    """--person/--number → the numbers a handover must start or end at (None: any)."""
    if not persons and not numbers:
        return None
    wanted: set[str] = set()
    for raw in numbers:
        n = identifier_option(raw)
        seen = con.execute("""SELECT count(*) FROM communication_events
                              WHERE coalesce(number_e164, trim(number)) = ?""",
                           [n]).fetchall()[0][0]
        seen += con.execute("SELECT count(*) FROM devices WHERE owner_number_e164 = ?",
                            [n]).fetchall()[0][0]
        if not seen:
            raise CrossforceError(f"--number {raw}: no call, message or device on this node "
                                  "has that number; check it (UK numbers as 07... or +44...)")
        wanted.add(n)
    for p in persons:
        if not con.execute("SELECT count(*) FROM persons WHERE person_id = ?",
                           [p]).fetchall()[0][0]:
            ids = [r[0] for r in con.execute("SELECT person_id FROM persons").fetchall()]
            raise CrossforceError(f"no person {p!r} on this node{_suggest(p, ids)}")
        define_person_records(con)
        mine = [r[0] for r in con.execute("""
            SELECT e164 FROM phones WHERE person_id IN (SELECT * FROM person_records($p))
              AND e164 IS NOT NULL
            UNION SELECT owner_number_e164 FROM devices
            WHERE person_id IN (SELECT * FROM person_records($p))
              AND owner_number_e164 IS NOT NULL""", {"p": p}).fetchall()]
        if not mine:
            raise CrossforceError(f"person {p!r} has no phone number recorded on this node "
                                  "(identifiers or a seized device); use --number instead")
        wanted.update(mine)
    return wanted


def handovers(con: duckdb.DuckDBPyConnection, devices: list[str],
              period: tuple[dt.datetime | None, dt.datetime | None],
              s: Settings, wanted: set[str] | None = None) -> Result:
    """Find the handovers among the events of ``devices`` in ``period`` (device-local)."""
    prepare_events(con)
    sources = _load(con, devices, period)
    hub = s.hub or max(6, math.ceil(sources / 4))
    tested = _candidates(con, s, hub)
    rows = _score(con, s, tested)
    if wanted is not None:
        rows = [r for r in rows if r["old"] in wanted or r["new"] in wanted]
    hubs = con.execute("SELECT num, src, n FROM ho_num WHERE w = 0 ORDER BY src DESC, num"
                       ).fetchall()
    imei_rows, number_rows = hc.handsets(con)
    table = Table("handovers, strongest first", COLUMNS,
                  [[r[c] for c in COLUMNS] for r in rows],
                  brief=["old", "new", "switch", "strength", "explanation"])
    numbers = int(con.execute("SELECT count(*) FROM ho_num").fetchall()[0][0])
    notes = [f"Hubs (seen with {hub} or more of the {sources} devices) weigh nothing in the "
             "overlap; they are listed apart.",
             f"Switch-order test: one-sided Mann-Whitney U, Bonferroni over {tested} pairs "
             f"tested, kept at p <= {s.alpha}; strength = weighted Jaccard x order x "
             "closeness, each clue halving the rest; shown from "
             f"{s.min_strength}."]
    return Result("handovers", {}, [
        table,
        Table("hubs (weigh nothing in the overlap)", ["contact", "devices", "events"],
              [list(h) for h in hubs]),
        Table("handsets (IMEI) seen with several numbers",
              ["imei", "numbers", "devices", "persons", "first_extraction",
               "last_extraction"], imei_rows),
        Table("numbers seen in several handsets",
              ["number", "imeis", "devices", "persons", "first_extraction",
               "last_extraction"], number_rows),
    ], summary={"devices": sources, "numbers": numbers, "pairs_tested": tested,
                "handovers": len(rows), "hubs": len(hubs),
                "handsets_with_several_numbers": len(imei_rows),
                "numbers_in_several_handsets": len(number_rows)}, notes=notes)


def _load(con: duckdb.DuckDBPyConnection, devices: list[str],
          period: tuple[dt.datetime | None, dt.datetime | None]) -> int:
    """Temp tables ``ho_side`` (each event from both parties: num, peer, ts, own = num is
    the device's own number), ``ho_link`` (num, peer, events, own) and ``ho_num`` (per
    number: events, first, last, contacts, sources
    = devices it is seen with, and when those devices' records start and end). Returns how
    many devices (own numbers) there are."""
    lo, hi = period
    con.execute("CREATE OR REPLACE TEMP TABLE ho_devices (device_id VARCHAR)")
    con.executemany("INSERT INTO ho_devices VALUES (?)", [[d] for d in devices])
    con.execute("""
        CREATE OR REPLACE TEMP TABLE ho_side AS
        WITH e AS (
            SELECT coalesce(d.owner_number_e164, 'device:' || d.device_id) AS self,
                   e.other, e.timestamp_utc AS ts
            FROM events e JOIN devices d USING (device_id)
            WHERE e.device_id IN (SELECT device_id FROM ho_devices) AND e.other IS NOT NULL
              AND e.timestamp_utc IS NOT NULL
              AND ($lo::TIMESTAMP IS NULL OR e.local_ts >= $lo::TIMESTAMP)
              AND ($hi::TIMESTAMP IS NULL OR e.local_ts <= $hi::TIMESTAMP))
        SELECT self AS num, other AS peer, ts, true AS own FROM e WHERE self <> other
        UNION ALL SELECT other, self, ts, false FROM e WHERE self <> other""",
                {"lo": lo, "hi": hi})
    if not con.execute("SELECT count(*) FROM ho_side").fetchall()[0][0]:
        span = f" between {lo or 'the start'} and {hi or 'the end'}" if lo or hi else ""
        raise CrossforceError(f"no calls or messages{span} on the devices chosen: widen "
                              "--from/--to or choose other devices")
    con.execute("""
        CREATE OR REPLACE TEMP TABLE ho_link AS
        SELECT num, peer, count(*) AS n, bool_or(own) AS own FROM ho_side GROUP BY ALL""")
    # when a number was in use: a handset's log spans every SIM it held (its own number
    # is the SIM at extraction), so a device's own number is timed by the other devices
    # that saw it, and by its own log only when no other device did
    con.execute("""
        CREATE OR REPLACE TEMP TABLE ho_time AS
        SELECT num, ts FROM ho_side WHERE NOT own
        UNION ALL SELECT num, ts FROM ho_side WHERE own AND num NOT IN (
            SELECT DISTINCT num FROM ho_side WHERE NOT own)""")
    con.execute("""
        CREATE OR REPLACE TEMP TABLE ho_act AS
        SELECT num, count(*) AS n, min(ts) AS first, max(ts) AS last FROM ho_time
        GROUP BY num""")
    # a number's sources: the devices it is seen with (its own device, if it is one); what
    # the other devices recorded (obs_first..obs_last) says whether it started or stopped
    con.execute("""
        CREATE OR REPLACE TEMP TABLE ho_span AS
        SELECT num, min(ts) AS first, max(ts) AS last FROM ho_side WHERE own GROUP BY num""")
    con.execute("""
        CREATE OR REPLACE TEMP TABLE ho_num AS
        WITH src AS (
            SELECT l.num, count(DISTINCT CASE WHEN l.own THEN l.num ELSE l.peer END) AS src,
                   bool_or(l.own) AS is_self,
                   -- seen by other devices: their records; seen only on its own device:
                   -- how long its contacts were in use, on any device
                   coalesce(min(p.first) FILTER (WHERE NOT l.own),
                            min(q.first) FILTER (WHERE l.own)) AS obs_first,
                   coalesce(max(p.last) FILTER (WHERE NOT l.own),
                            max(q.last) FILTER (WHERE l.own)) AS obs_last
            FROM ho_link l LEFT JOIN ho_span p ON p.num = l.peer
            JOIN ho_act q ON q.num = l.peer
            GROUP BY l.num)
        SELECT a.*, s.src, s.is_self, s.obs_first, s.obs_last, 1.0::DOUBLE AS w
        FROM ho_act a JOIN src s USING (num)""")
    return int(con.execute("SELECT count(DISTINCT num) FROM ho_link WHERE own")
               .fetchall()[0][0])


#: the switch-order test's level for a pair a clue ties together
CLUE_ALPHA = 0.05
#: closeness of a pair = 1 / (1 + gap / HALF_GAP days): a half at a month's gap (or a
#: month of use side by side)
HALF_GAP = 30
#: a number has stopped (started) when its devices' records go on (began) this many of its
#: usual intervals between events after its last (before its first) event
SILENCE = 3


def _candidates(con: duckdb.DuckDBPyConnection, s: Settings, hub: int) -> int:
    """Temp table ``ho_cand``: pairs (old, new) where old stopped, new started, they share a
    contact that is not a hub and their activity fits a switch; with their overlap.
    Returns how many pairs were tested."""
    con.execute(f"""
        UPDATE ho_num SET w = CASE WHEN src >= {int(hub)} THEN 0.0::DOUBLE
                                   ELSE 1.0 / log2(1 + src) END""")
    # contacts of each number: all, and those that are devices' own numbers (a number no
    # device of which was seized is seen only through those: compare like with like)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE ho_weight AS
        SELECT l.num, count(*) AS k_all, sum(c.w) AS w_all,
               count(*) FILTER (WHERE c.is_self) AS k_self,
               coalesce(sum(c.w) FILTER (WHERE c.is_self), 0) AS w_self
        FROM ho_link l JOIN ho_num c ON c.num = l.peer GROUP BY l.num""")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE ho_ends AS
        WITH k AS (SELECT *, epoch(last - first) / greatest(n - 1, 1) AS usual FROM ho_num
                   WHERE n >= $min_events AND NOT starts_with(num, 'device:')),
        e AS (SELECT num, coalesce(epoch(obs_last - last) > {SILENCE} * usual, false) AS stopped,
                     coalesce(epoch(first - obs_first) > {SILENCE} * usual, false) AS started
              FROM k)
        SELECT * FROM e WHERE stopped OR started""", {"min_events": s.min_events})
    # the quantiles the parallel rule reads, for the numbers that stopped or started only
    con.execute("""
        CREATE OR REPLACE TEMP TABLE ho_q AS
        SELECT num, quantile_disc(ts, 1 - $p) AS q_hi, quantile_disc(ts, $p) AS q_lo
        FROM ho_time WHERE num IN (SELECT num FROM ho_ends) GROUP BY num""",
                {"p": s.parallel})
    con.execute("""
        CREATE OR REPLACE TEMP TABLE ho_cand AS
        WITH l AS (SELECT l.num, l.peer, c.w, c.is_self FROM ho_link l
                   JOIN ho_num c ON c.num = l.peer WHERE c.w > 0),
        old AS (SELECT l.* FROM l JOIN ho_ends e USING (num) WHERE e.stopped),
        new AS (SELECT l.* FROM l JOIN ho_ends e USING (num) WHERE e.started),
        shared AS (
            SELECT a.num AS old, b.num AS new, count(*) AS s_all, sum(a.w) AS ws_all,
                   count(*) FILTER (WHERE a.is_self) AS s_self,
                   coalesce(sum(a.w) FILTER (WHERE a.is_self), 0) AS ws_self
            FROM old a JOIN new b ON a.peer = b.peer AND a.num <> b.num
            GROUP BY ALL),
        pairs AS (
            SELECT s.*, o.is_self AND nw.is_self AS full_view, o.n AS old_events,
                   nw.n AS new_events, o.first AS old_first, o.last AS old_last,
                   nw.first AS new_first, nw.last AS new_last
            FROM shared s JOIN ho_num o ON o.num = s.old JOIN ho_num nw ON nw.num = s.new
            JOIN ho_q qo ON qo.num = s.old JOIN ho_q qn ON qn.num = s.new
            WHERE o.first < nw.first AND o.last < nw.last
              AND qo.q_hi <= nw.first AND qn.q_lo >= o.last
              AND nw.first <= o.last + to_days($gap::INTEGER)
              AND o.last <= nw.first + to_days($gap::INTEGER)),
        -- seen only through seized devices: count a device as a contact of one number
        -- only if its records cover the other number's time (it could have seen both)
        witness AS (
            SELECT p.old, p.new, true AS is_old, count(*) AS k, sum(c.w) AS w
            FROM pairs p JOIN ho_link l ON l.num = p.old
            JOIN ho_num c ON c.num = l.peer AND c.is_self
            JOIN ho_span sp ON sp.num = l.peer
            WHERE NOT p.full_view AND sp.first <= p.new_last AND sp.last >= p.new_first
            GROUP BY ALL
            UNION ALL
            SELECT p.old, p.new, false, count(*), sum(c.w)
            FROM pairs p JOIN ho_link l ON l.num = p.new
            JOIN ho_num c ON c.num = l.peer AND c.is_self
            JOIN ho_span sp ON sp.num = l.peer
            WHERE NOT p.full_view AND sp.first <= p.old_last AND sp.last >= p.old_first
            GROUP BY ALL),
        j AS (
            SELECT p.old, p.new, p.full_view, p.old_events, p.new_events, p.old_last,
                   p.new_first,
                   CASE WHEN full_view THEN s_all ELSE s_self END AS shared,
                   CASE WHEN full_view THEN ws_all ELSE ws_self END AS wshared,
                   CASE WHEN full_view THEN wo.k_all ELSE xo.k END AS old_contacts,
                   CASE WHEN full_view THEN wn.k_all ELSE xn.k END AS new_contacts,
                   CASE WHEN full_view THEN wo.w_all ELSE xo.w END AS old_w,
                   CASE WHEN full_view THEN wn.w_all ELSE xn.w END AS new_w
            FROM pairs p JOIN ho_weight wo ON wo.num = p.old JOIN ho_weight wn ON wn.num = p.new
            LEFT JOIN witness xo ON xo.old = p.old AND xo.new = p.new AND xo.is_old
            LEFT JOIN witness xn ON xn.old = p.old AND xn.new = p.new AND NOT xn.is_old)
        SELECT *, shared / (old_contacts + new_contacts - shared) AS jaccard,
               wshared / nullif(old_w + new_w - wshared, 0) AS weighted_jaccard
        FROM j WHERE shared > 0""", {"gap": s.max_gap})
    return int(con.execute("SELECT count(*) FROM ho_cand").fetchall()[0][0])


def _score(con: duckdb.DuckDBPyConnection, s: Settings, tested: int) -> list[dict[str, Any]]:
    """The switch-order test on every candidate with enough overlap; rows that pass."""
    # U = sum over the old number's events of the new number's events before it
    found = con.execute("""
        WITH c AS (SELECT old, new FROM ho_cand WHERE weighted_jaccard >= $m),
        ev AS (SELECT c.old, c.new, 0 AS side, x.ts FROM c JOIN ho_time x ON x.num = c.old
               UNION ALL
               SELECT c.old, c.new, 1, x.ts FROM c JOIN ho_time x ON x.num = c.new),
        r AS (SELECT old, new, side,
                     row_number() OVER (PARTITION BY old, new ORDER BY ts, side) -
                     row_number() OVER (PARTITION BY old, new, side ORDER BY ts) AS before
              FROM ev)
        SELECT c.*, u.u FROM ho_cand c JOIN (
            SELECT old, new, sum(before) AS u FROM r WHERE side = 0 GROUP BY ALL) u
        USING (old, new)""", {"m": s.min_overlap}).fetch_df()
    if found.empty:
        return []
    n1, n2 = found["old_events"].to_numpy(float), found["new_events"].to_numpy(float)
    u = found["u"].to_numpy(float)
    z = (u + 0.5 - n1 * n2 / 2) / np.sqrt(n1 * n2 * (n1 + n2 + 1) / 12)
    # every old event before every new one (U = 0): exactly 1 / C(n1 + n2, n1) (the normal
    # approximation is far too cautious for a handful of events); otherwise the approximation
    clean = np.exp(gammaln(n1 + 1) + gammaln(n2 + 1) - gammaln(n1 + n2 + 1))
    p = np.minimum(1.0, np.where(u == 0, clean, norm.cdf(z)) * max(tested, 1))
    order = 1 - u / (n1 * n2)
    gap = (found["new_first"] - found["old_last"]).dt.total_seconds().abs().to_numpy()
    close = 1 / (1 + gap / (HALF_GAP * 86400))
    found = found.assign(p_value=p, order=order, closeness=close)
    found = found[found["p_value"] <= CLUE_ALPHA]
    if found.empty:
        return []
    persons, clues, n_clues = hc.clues(con, found[["old", "new"]].values.tolist())
    keys = found["old"] + " " + found["new"]
    base = found["weighted_jaccard"].to_numpy(float) * found["order"] * found["closeness"]
    tied = np.array([n_clues.get(k, 0) for k in keys])
    found = found.assign(
        persons=[persons.get(k, "") for k in keys], clues=[clues.get(k, "") for k in keys],
        strength=1 - (1 - base) * 0.5 ** tied, n_clues=tied)
    # a clue is evidence of its own: a pair it ties needs the switch order only at
    # CLUE_ALPHA; any other pair at --alpha
    found = found[(found["n_clues"] > 0) | (found["p_value"] <= s.alpha)]
    # a pair a clue ties together (one person's numbers, one saved name) is matched first
    found = found.sort_values(
        ["n_clues", "strength", "p_value", "old", "new"],
        ascending=[False, False, True, True, True])
    # one old number, one new: a pair is kept only if neither number is already in a
    # stronger one (a group that changes phones together shares every contact)
    rows: list[dict[str, Any]] = []
    used: dict[str, dict[str, Any]] = {}
    for r in found[found["strength"] >= s.min_strength].to_dict("records"):
        if r["old"] in used or r["new"] in used:
            for k in (r["old"], r["new"]):
                if k in used:
                    used[k]["also_fits"] += 1
            continue
        gap = (r["new_first"] - r["old_last"]).total_seconds() / 86400
        rows.append({
            "old": r["old"], "new": r["new"], "switch": r["new_first"].date(),
            "gap_days": max(0, round(gap)), "parallel_days": max(0, round(-gap)),
            "old_events": int(r["old_events"]), "new_events": int(r["new_events"]),
            "old_contacts": int(r["old_contacts"]), "new_contacts": int(r["new_contacts"]),
            "shared": int(r["shared"]), "jaccard": round(float(r["jaccard"]), 3),
            "weighted_jaccard": round(float(r["weighted_jaccard"]), 3),
            "order": round(float(r["order"]), 3), "p_value": float(f"{r['p_value']:.2g}"),
            "closeness": round(float(r["closeness"]), 3),
            "strength": round(float(r["strength"]), 3), "old_last": r["old_last"],
            "full_view": bool(r["full_view"]), "also_fits": 0, "persons": r["persons"],
            "clues": r["clues"]})
        used[r["old"]] = used[r["new"]] = rows[-1]
    for r in rows:
        hc.explain(r)
    rows.sort(key=lambda r: (-r["strength"], r["p_value"], r["old"], r["new"]))
    return rows
