"""The review pack: one self-contained HTML page per closed case, for the reviewing officer.

Plain HTML with its style inline (no script, no link to anything outside the file), every
value escaped; written only inside the folder the officer names, on the node.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;color:#222}
h1{font-size:1.4rem}h2{font-size:1.1rem;border-bottom:1px solid #ccc;margin-top:2rem}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #ddd;padding:.3rem .5rem;
text-align:left;vertical-align:top}th{background:#f4f4f4}.met{color:#05631e}.not{color:#8a1c1c}
.note{background:#fff7d6;padding:.6rem;border:1px solid #e8d27a}
"""


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return '<span class="met">yes</span>' if value else '<span class="not">no</span>'
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return html.escape(str(value))


def _table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in r) + "</tr>"
                   for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>" if rows else "<p>None.</p>"


def write_pack(con: duckdb.DuckDBPyConnection, folder: Path, crime_id: str, rank: int,
               force: str, definition: str) -> Path:
    """Write ``folder/<crime_id>.html`` for one case of ``cse_review``; returns its path."""
    ((ref, code, desc, date_from, outcome, closed, score, window, suspects_ok, alive,
      not_reviewed, child, recorded),) = con.execute("""
        SELECT r.crime_ref, r.ho_offence_code, c.offence_description, r.date_from,
               r.outcome_code, r.outcome_date, r.score, r.in_window, r.enough_suspects,
               r.alive, r.not_reviewed, r.child_victim, r.recorded_cse
        FROM cse_review r JOIN crimes c USING (crime_id) WHERE r.crime_id = ?""",
        [crime_id]).fetchall()
    new = con.execute("SELECT weight, line FROM cse_new WHERE crime_id = ? "
                      "ORDER BY weight DESC, line", [crime_id]).fetchall()
    rules = con.execute("SELECT rule, line FROM cse_evidence WHERE crime_id = ? "
                        "ORDER BY rule, line", [crime_id]).fetchall()
    people = con.execute("""
        SELECT r.role, p.person_id, concat_ws(' ', p.given_names, p.family_name),
               coalesce(p.dob_raw, CAST(p.dob AS VARCHAR)), p.sex,
               coalesce(p.ethnicity_self, '—') || ' / ' || coalesce(p.ethnicity_officer, '—'),
               p.nationality, p.deceased
        FROM roles r JOIN persons p USING (person_id) WHERE r.crime_id = ?
        ORDER BY r.role = 'victim', r.role, p.person_id""", [crime_id]).fetchall()
    title = f"Review pack: {crime_id} ({ref or 'no crime reference'})"
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<p>OFFICIAL-SENSITIVE · {html.escape(force)} · prepared "
        f"{dt.date.today().isoformat()} on the force's node</p>",
        f"<h1>{html.escape(title)}</h1>",
        _table(["offence", "first offence date", "outcome", "closed", "rank", "score"],
               [(f"{code} {desc or ''}", date_from, outcome, closed, rank, score)]),
        "<p class='note'>Everything here is a suggestion for the reviewing officer to "
        "confirm against the case file: the rules of the national definition and the "
        "weights of new evidence are stated beside each line.</p>",
        "<h2>Why this case ranks where it does: evidence since closure</h2>",
        _table(["weight", "evidence"], new),
        "<h2>Operation Beaconport eligibility (R7)</h2>",
        _table(["criterion", "met"], [
            ("a group-based child sexual offence (R1 and R3's group test)", True),
            ("recorded as CSE (R2: a CSE flag, an exchange or a CSE-specific offence; not "
             "required, Beaconport reviews abuse and exploitation)", recorded),
            ("closed with no further action inside the review window", window),
            ("two or more suspects", suspects_ok), ("suspects believed alive", alive),
            ("not previously reviewed", not_reviewed),
            ("a victim under 18 (UNVERIFIED criterion: shown, applied only when the "
             "definition turns it on)", child)]),
        f"<h2>Why it is group-based ({html.escape(definition)})</h2>",
        _table(["rule", "evidence"], rules),
        "<h2>Persons on the case</h2>",
        _table(["role", "person", "name", "date of birth", "sex",
                "ethnicity (self / officer)", "nationality", "deceased"], people),
        "</body></html>",
    ]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{crime_id.replace('/', '_')}.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
