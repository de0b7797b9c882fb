"""`node analyse contacts`: who a seized phone (or a person's phones together) talks to, how
much, when, at night, and whether any of them is a child victim of the node's crimes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import typer

from node.analyses import (
    CsvOption,
    DirOption,
    JsonOption,
    Result,
    Table,
    consult,
    emit,
    parse_period,
    resolve_devices,
)
from node.analyses._events import (
    DeviceOption,
    FromOption,
    PersonOption,
    ToOption,
    define_subjects,
    one_subject,
    period_sql,
    refuse_empty,
    subjects_label,
    working,
)
from node.analyses._night import night_test, parse_window, window_sql
from node.analyses._text import SearchOption, search_events
from node.analyses._victims import define_child_victims

PAIR_COLUMNS = ["subject", "contact", "kind", "name", "events", "calls", "messages",
                "duration_s", "incoming", "outgoing", "missed", "first_contact",
                "last_contact", "night", "night_share", "baseline_night_share", "p_value",
                "p_holm", "unusual_night"]
SPARK = "▁▂▃▄▅▆▇█"


def command(
    dir: Path = DirOption,
    device: list[str] = DeviceOption,
    person: list[str] = PersonOption,
    start: str = FromOption,
    end: str = ToOption,
    night: str = typer.Option("22:00-06:00", "--night", help="Night-time window, local "
                              "time of the device."),
    top: int = typer.Option(10, "--top", min=1, help="Contacts shown per subject (and "
                            "weekly series given) in each top list."),
    alpha: float = typer.Option(0.05, "--alpha", min=1e-9, max=0.5, help="Family-wise "
                                "error rate of the night-time test, per subject."),
    search: str = SearchOption,
    as_json: bool = JsonOption,
    csv: Path = CsvOption,
) -> None:
    """Top contacts of a device or person by count and by duration; first and last contact,
    weekly frequency and direction balance per pair; night-time share per pair and per
    subject, with pairs whose night share is unusually high for that subject (one-sided
    binomial test against the subject's other contact, Holm-corrected); and contact with
    child victims of the node's crimes. No --device/--person: every device, each alone.
    --search counts only the messages whose text or its translation (node translate)
    contains a text: who they talk to about it. The CSV (--csv) holds every pair."""
    window = parse_window(night)
    period = parse_period(start, end)
    params = {"device": device, "person": person, "from": start, "to": end,
              "night": night, "top": top, "alpha": alpha, "search": bool(search)}
    with consult(dir, "contacts", params) as (con, counts), working("reading contacts"):
        subjects = resolve_devices(con, device, person)
        result = contacts(con, subjects, period, window, top, alpha, search)
        result.params = params
        counts.update({k: result.summary[k] for k in (
            "subjects", "devices", "events", "pairs", "unusual_night_pairs",
            "child_victim_pairs")})
    emit(result, as_json, csv, limit=top * len(subjects))


def contacts(con: Any, subjects: dict[str, list[str]],
             period: tuple[dt.datetime | None, dt.datetime | None],
             window: tuple[int, int], top: int, alpha: float, search: str | None = None
             ) -> Result:
    """The contacts analysis on an open store (the command's work, callable from benches)."""
    define_subjects(con, subjects)
    search_events(con, search)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE pairs AS
        SELECT s.subject, e.party AS contact, any_value(e.party_kind) AS kind,
               arg_max(e.name, e.local_ts) FILTER (WHERE e.name IS NOT NULL) AS name,
               count(*) AS events,
               count(*) FILTER (WHERE e.event_kind = 'call') AS calls,
               count(*) FILTER (WHERE e.event_kind = 'message') AS messages,
               coalesce(sum(e.duration_s), 0)::BIGINT AS duration_s,
               count(*) FILTER (WHERE e.direction = 'incoming') AS incoming,
               count(*) FILTER (WHERE e.direction = 'outgoing') AS outgoing,
               count(*) FILTER (WHERE e.direction = 'missed') AS missed,
               min(e.local_ts) AS first_contact, max(e.local_ts) AS last_contact,
               count(*) FILTER (WHERE {window_sql('e.local_ts', window)}) AS night
        FROM contact_events e JOIN subject_devices s USING (device_id)
        WHERE e.party IS NOT NULL AND {period_sql('e.local_ts', period)}
        GROUP BY s.subject, e.party""")
    total = con.execute("SELECT coalesce(sum(events), 0) FROM pairs").fetchone()[0]
    refuse_empty(int(total), subjects_label(subjects), period)
    _night_columns(con, alpha)
    define_child_victims(con)
    pairs = con.execute(f"SELECT {', '.join(PAIR_COLUMNS)} FROM pairs "
                        "ORDER BY subject, events DESC, contact").fetchall()
    tables = [Table("contacts", PAIR_COLUMNS, pairs, terminal=False),
              _top_by_count(con, top), _top_by_duration(con, top), _night_pairs(con, top),
              _night_per_subject(con), _weekly(con, period, top), _child_victims(con)]
    one_subject(tables, subjects)
    flagged = sum(1 for r in pairs if r[-1])
    victims = tables[-1].rows
    unknown_zone = con.execute("""SELECT count(*) FROM subject_devices s JOIN device_zone z
        USING (device_id) WHERE z.zone IS NULL AND z.offset_min IS NULL""").fetchone()[0]
    summary = {"subject": subjects_label(subjects), "subjects": len(subjects),
               "devices": len({d for ds in subjects.values() for d in ds}),
               "events": int(total), "pairs": len(pairs), "unusual_night_pairs": flagged,
               "child_victim_pairs": len({(r[0], r[1]) for r in victims})}
    start, end = window
    notes = [
        f"Night is {start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d} in "
        "each device's own time zone. A pair is 'unusual' when its night share is higher "
        "than its subject's other contact would give by chance: one-sided binomial test "
        f"against the subject's other events (leave-one-out), Holm-corrected over the "
        f"subject's pairs, family-wise error rate {alpha}.",
        "Child victims: the contact's phone, e-mail or handle is recorded against a person "
        "who is a victim under 18 (date of birth, else recorded age range) on the date a "
        "crime of this node began; each crime is shown with that age (<=N: at most N, "
        "from the recorded range).",
        "Duration counts calls only; weekly series (JSON) start on Mondays and are given "
        f"for the top {top} contacts of each subject; --csv writes every pair."]
    if unknown_zone:
        notes.append(f"{unknown_zone} device(s) have no known time zone: their times are "
                     "UTC, so their night-time figures are approximate.")
    return Result("contacts", {}, tables, summary, notes)


def _night_columns(con: Any, alpha: float) -> None:
    """Add night_share, baseline_night_share, p_value, p_holm and unusual_night to pairs."""
    import pyarrow as pa

    data = con.execute("SELECT dense_rank() OVER (ORDER BY subject) - 1 AS g, events, "
                       "night, subject, contact FROM pairs").fetchnumpy()
    base, p, p_holm = night_test(np.asarray(data["g"], dtype=np.int64),
                                 np.asarray(data["events"], dtype=np.float64),
                                 np.asarray(data["night"], dtype=np.float64))

    def nullable(a: np.ndarray) -> pa.Array:
        return pa.array(a, mask=np.isnan(a))

    tested = pa.table({"subject": data["subject"], "contact": data["contact"],
                       "baseline": nullable(base), "p": nullable(p),
                       "p_holm": nullable(p_holm)})
    con.register("night_tested", tested)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE pairs AS
        SELECT p.*, p.night / p.events AS night_share, n.baseline AS baseline_night_share,
               n.p AS p_value, n.p_holm, coalesce(n.p_holm < {alpha}, false) AS unusual_night
        FROM pairs p JOIN night_tested n USING (subject, contact)""")
    con.unregister("night_tested")


def _ranked(con: Any, order: str, top: int, where: str = "true") -> str:
    """SQL: pairs ranked per subject by ``order``, the first ``top`` of each."""
    return f"""SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY subject
               ORDER BY {order}, contact) AS rank FROM pairs WHERE {where})
               WHERE rank <= {int(top)} ORDER BY subject, rank"""


def _top_by_count(con: Any, top: int) -> Table:
    rows = con.execute(f"""SELECT subject, contact, name, events,
        calls || '/' || messages, incoming || '/' || outgoing || '/' || missed,
        first_contact::DATE, last_contact::DATE
        FROM ({_ranked(con, 'events DESC', top)})""").fetchall()
    return Table("top contacts by count", ["subject", "contact", "name", "events",
                                           "calls/msgs", "in/out/missed", "first", "last"],
                 rows)


def _top_by_duration(con: Any, top: int) -> Table:
    rows = con.execute(f"""SELECT subject, contact, name, calls, duration_s,
        to_seconds(duration_s)::VARCHAR, to_seconds(duration_s // calls)::VARCHAR
        FROM ({_ranked(con, 'duration_s DESC', top, 'calls > 0 AND duration_s > 0')})
        """).fetchall()
    return Table("top contacts by call duration",
                 ["subject", "contact", "name", "calls", "duration_s", "total", "mean"], rows,
                 brief=["subject", "contact", "name", "calls", "total", "mean"])


def _night_pairs(con: Any, top: int) -> Table:
    rows = con.execute(f"""SELECT subject, contact, name, night, events, night_share,
        baseline_night_share, p_holm, unusual_night,
        night || '/' || events, round(100 * night_share)::INT || '%',
        coalesce(round(100 * baseline_night_share)::INT || '%', '-'),
        coalesce(printf('%.2g', p_holm), '-'), CASE WHEN unusual_night THEN 'yes' ELSE '' END
        FROM ({_ranked(con, 'p_holm ASC NULLS LAST, night_share DESC', top, 'night > 0')})
        """).fetchall()
    return Table("night-time contact per pair",
                 ["subject", "contact", "name", "night", "events", "night_share",
                  "baseline_night_share", "p_holm", "unusual", "night/events", "share",
                  "baseline", "p (Holm)", "unusual?"], rows,
                 brief=["subject", "contact", "name", "night/events", "share", "baseline",
                        "p (Holm)", "unusual?"])


def _night_per_subject(con: Any) -> Table:
    rows = con.execute("""
        SELECT p.subject, d.devices, sum(p.events)::BIGINT AS events,
               sum(p.night)::BIGINT AS night, sum(p.night) / sum(p.events) AS night_share,
               count(*) FILTER (WHERE p.unusual_night) AS unusual_pairs, d.zones
        FROM pairs p JOIN (
            SELECT s.subject, count(*) AS devices,
                   string_agg(DISTINCT coalesce(z.zone, CASE WHEN z.offset_min IS NOT NULL
                       THEN 'UTC' || printf('%+d', z.offset_min // 60) END, 'unknown (UTC)'),
                       ', ') AS zones
            FROM subject_devices s JOIN device_zone z USING (device_id) GROUP BY s.subject
        ) d USING (subject)
        GROUP BY p.subject, d.devices, d.zones ORDER BY p.subject""").fetchall()
    return Table("night-time share",
                 ["subject", "devices", "events", "night", "night_share", "unusual_pairs",
                  "time_zone"], rows)


def _weekly(con: Any, period: tuple[dt.datetime | None, dt.datetime | None],
            top: int) -> Table:
    """Weekly counts (Monday weeks) from the pair's first week to its last, for each
    subject's top contacts by count; the terminal shows a sparkline and the busiest week."""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE weekly_top AS
        WITH t AS ({_ranked(con, 'events DESC', top)}),
        -- the top pairs as (device, party): one small hash join on the events
        td AS (SELECT s.device_id, t.contact AS party, t.subject
               FROM t JOIN subject_devices s USING (subject)),
        w AS (SELECT td.subject, e.party AS contact,
                     date_trunc('week', e.local_ts)::DATE AS week, count(*) AS n
              FROM contact_events e JOIN td USING (device_id, party)
              WHERE {period_sql('e.local_ts', period)}
              GROUP BY ALL),
        f AS (SELECT *, min(week) OVER (PARTITION BY subject, contact) AS first FROM w)
        SELECT f.subject, f.contact, any_value(t.rank) AS rank, min(f.week) AS first_week,
               max(f.week) AS last_week, list(f.n ORDER BY f.week) AS counts,
               list(date_diff('week', f.first, f.week) ORDER BY f.week) AS offsets,
               arg_max(f.week, f.n) AS busiest_week, max(f.n) AS busiest
        FROM f JOIN t USING (subject, contact) GROUP BY f.subject, f.contact
        ORDER BY f.subject, rank""")
    rows = []
    for subject, contact, _rank, first, last, counts, offsets, busiest_week, busiest in \
            con.execute("SELECT * FROM weekly_top").fetchall():
        dense = np.zeros(offsets[-1] + 1, dtype=np.int64)
        dense[offsets] = counts
        rows.append((subject, contact, first, last, dense.tolist(), busiest_week, busiest,
                     f"{first} … {last}", f"{busiest} ({busiest_week})", sparkline(dense)))
    return Table("weekly frequency",
                 ["subject", "contact", "first_week", "last_week", "weekly", "busiest_week",
                  "busiest", "weeks", "busiest (week of)", "trend"], rows,
                 brief=["subject", "contact", "weeks", "busiest (week of)", "trend"])


def sparkline(counts: np.ndarray, width: int = 24) -> str:
    """Counts as block characters, summed into at most ``width`` bins."""
    if len(counts) > width:
        bins = np.array_split(counts, width)
        counts = np.array([b.sum() for b in bins])
    peak = counts.max()
    if peak == 0:
        return ""
    levels = np.ceil(counts / peak * (len(SPARK) - 1)).astype(int)
    return "".join(" " if c == 0 else SPARK[lv] for c, lv in zip(counts, levels, strict=True))


def _child_victims(con: Any) -> Table:
    """One row per pair and victim; the victim's crimes with the age at each."""
    rows = con.execute("""
        SELECT p.subject, p.contact, p.name, v.victim, count(*) AS crimes,
               string_agg(v.crime_ref || ' (' || CASE WHEN v.age_basis = 'date of birth'
                          THEN v.age::VARCHAR ELSE '<=' || v.age END || ')', ', '
                          ORDER BY v.date_from, v.crime_ref) AS crime_refs,
               min(v.age) AS youngest_age,
               string_agg(DISTINCT v.age_basis, ', ') AS age_basis,
               p.events, p.night, p.first_contact, p.last_contact, p.last_contact::DATE
        FROM pairs p JOIN child_victim_ids v ON v.party = p.contact
        GROUP BY p.subject, p.contact, p.name, v.victim, p.events, p.night,
                 p.first_contact, p.last_contact
        ORDER BY p.subject, p.events DESC, p.contact, v.victim""").fetchall()
    return Table("contact with child victims",
                 ["subject", "contact", "name", "victim", "crimes", "crime_refs",
                  "youngest_age", "age_basis", "events", "night", "first_contact",
                  "last_contact", "last"], rows,
                 brief=["subject", "contact", "victim", "crime_refs", "events", "night",
                        "last"])
