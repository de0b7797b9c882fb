"""What the force console's pages show, read from the node's store by the node analyses
themselves (``node/analyses``): the same numbers as `crossforce node analyse`, as JSON.

Each function takes an open connection inside ``consult`` (node/analyses/__init__.py), so
every page is one ledger consultation and nothing the analyses make reaches the store.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb

from federation.errors import CrossforceError
from node.analyses import Result, resolve_devices

#: events drawn on one timeline at most (the newest); the rest are counted, not drawn
MAX_EVENTS = 3000
#: entities on a link chart of the whole node at most (else: choose a part with around)
MAX_CHART = 2500


def subjects(con: duckdb.DuckDBPyConnection) -> dict[str, list[dict[str, Any]]]:
    """Persons (with their seized devices) and devices, for the subjects list."""
    persons = con.execute("""
        SELECT p.person_id, concat_ws(' ', p.given_names, p.family_name) AS name,
               p.dob::VARCHAR AS dob,
               list(d.device_id ORDER BY d.device_id) FILTER (WHERE d.device_id IS NOT NULL)
        FROM persons p LEFT JOIN devices d USING (person_id)
        GROUP BY ALL ORDER BY p.person_id""").fetchall()
    devices = con.execute("""
        SELECT d.device_id, d.person_id, d.owner_number_e164, d.imei,
               (SELECT count(*) FROM communication_events e WHERE e.device_id = d.device_id)
        FROM devices d ORDER BY d.device_id""").fetchall()
    return {
        "persons": [{"person_id": p, "name": n, "dob": b, "devices": list(ds or [])}
                    for p, n, b, ds in persons],
        "devices": [{"device_id": d, "person_id": p, "number": num, "imei": imei,
                     "events": int(n)} for d, p, num, imei, n in devices]}


def pick(con: duckdb.DuckDBPyConnection, kind: str, subject: str) -> dict[str, list[str]]:
    """A page's subject (``person`` or ``device``) → {label: device ids}."""
    if kind not in ("person", "device"):
        raise CrossforceError(f"kind {kind!r}: choose person or device")
    return resolve_devices(con, [subject] if kind == "device" else [],
                           [subject] if kind == "person" else [])


def contacts(con: duckdb.DuckDBPyConnection, kind: str, subject: str) -> dict[str, Any]:
    from node.analyses._night import parse_window
    from node.analyses.contacts import contacts as run

    chosen = {subject: [d for ds in pick(con, kind, subject).values() for d in ds]}
    result = run(con, chosen, (None, None), parse_window("22:00-06:00"), 10, 0.05)
    return _shown(result, drop=("contacts",))


def heat(con: duckdb.DuckDBPyConnection, kind: str, subject: str) -> dict[str, Any]:
    from node.analyses.timeline import timeline

    persons, devices = _selection(kind, subject)
    return timeline(con, persons, devices, [], (None, None), heat=True).as_json()


def handovers_of(con: duckdb.DuckDBPyConnection, kind: str, subject: str
                 ) -> list[dict[str, Any]]:
    """Handovers (node analyse handovers, default settings, every device) from or to a
    number of the subject: its devices' own numbers, and a person's recorded phones."""
    from node.analyses.handovers import Settings, handovers

    devices = [d for ds in pick(con, kind, subject).values() for d in ds]
    numbers = {r[0] for r in con.execute(
        "SELECT owner_number_e164 FROM devices WHERE list_contains($d, device_id) "
        "AND owner_number_e164 IS NOT NULL", {"d": devices}).fetchall()}
    if kind == "person":
        numbers |= {r[0] for r in con.execute(
            "SELECT e164 FROM phones WHERE person_id = ? AND e164 IS NOT NULL",
            [subject]).fetchall()}
    everything = [r[0] for r in con.execute(
        "SELECT device_id FROM devices ORDER BY 1").fetchall()]
    try:
        found = handovers(con, everything, (None, None), Settings())
    except CrossforceError:
        return []
    rows = found.tables[0].records()
    # the subject's own numbers, and numbers its devices talked to (a contact's new phone)
    talked = {r[0] for r in con.execute(
        "SELECT DISTINCT other FROM events WHERE list_contains($d, device_id)",
        {"d": devices}).fetchall()}
    return [r for r in rows if numbers & {r["old"], r["new"]} or talked & {r["old"], r["new"]}]


def timeline_items(con: duckdb.DuckDBPyConnection, kind: str, subject: str
                   ) -> dict[str, Any]:
    """vis-timeline groups (one theme line per device, one per person for crimes and
    intelligence, one for handovers) and items (events on them)."""
    from node.analyses.timeline import COLUMNS, timeline

    persons, devices = _selection(kind, subject)
    result = timeline(con, persons, devices, [], (None, None))
    rows = result.tables[0].rows
    at = {c: COLUMNS.index(c) for c in ("time", "kind", "device", "person", "party", "name",
                                        "ref", "detail")}
    shown = rows[-MAX_EVENTS:]
    items: list[dict[str, Any]] = []
    for i, r in enumerate(shown):
        k = r[at["kind"]]
        line = r[at["device"]] or r[at["person"]] or "node"
        label = {"call": "☎", "message": "✉", "location": "⌖"}.get(k, k)
        other = r[at["party"]] or r[at["name"]] or r[at["ref"]] or ""
        items.append({"id": f"ev{i}", "group": line, "start": _iso(r[at["time"]]),
                      "content": f"{label} {other}".strip(), "className": k,
                      "title": f"{_iso(r[at['time']])} {k} {other} {r[at['detail']] or ''}"})
    for j, h in enumerate(handovers_of(con, kind, subject)):
        items.append({"id": f"ho{j}", "group": "handovers", "start": h["switch"],
                      "content": f"⇄ {h['switch']} {h['old']} → {h['new']}",
                      "className": "handover", "type": "box",
                      "title": h["explanation"]})
    groups = sorted({it["group"] for it in items} - {"handovers"})
    return {"groups": [{"id": g, "content": g} for g in groups]
            + ([{"id": "handovers", "content": "handovers"}]
               if any(it["group"] == "handovers" for it in items) else []),
            "items": items, "events": len(rows), "shown": len(shown),
            "summary": result.summary}


def chart(con: duckdb.DuckDBPyConnection, around: str | None, hops: int) -> dict[str, Any]:
    """Cytoscape.js elements of the node's relationship graph (node analyse network's
    entity graph): the part within ``hops`` links of ``around``, or all of it if small."""
    from node.analyses import _graph as gr
    from node.analyses import _network_export as ex

    gr.build(con)
    if not gr.details(con)["entities"]:
        raise CrossforceError("this node holds no records yet: load some first")
    gr.define_view(con, False)
    full = gr.load(con, False)
    chosen = None
    if around:
        # a seized device is drawn as its own number (else its person)
        device = con.execute("SELECT coalesce('phone:' || owner_number_e164, person_id) "
                             "FROM devices WHERE device_id = ?", [around]).fetchall()
        if device and device[0][0]:
            around = device[0][0]
        centre = gr.find(con, full, around, "around")
        chosen = [full.ids[i] for i in gr.neighbourhood(full, full.index[centre], hops)]
    elif len(full.ids) > MAX_CHART:
        raise CrossforceError(f"the whole graph has {len(full.ids):,} entities; choose a "
                              "part: around a person, number or VRM")
    entities, links = ex.select(con, chosen, {})
    return {"around": around, "hops": hops, "elements": {
        "nodes": [{"data": {"id": e["id"], "label": e["label"] or e["id"], "type": e["type"],
                            "colourBy": e["type"], "description": e["description"]}}
                  for e in entities],
        "edges": [{"data": {"id": f"l{i}", "source": x["src"], "target": x["dst"],
                            "weight": float(x["weight"] or 1), "kind": x["kind"],
                            "directed": bool(x["directed"]), "date": _iso(x["date"])}}
                  for i, x in enumerate(links)]}}


def cse(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    from node.analyses._cse_rules import evaluate
    from node.analyses.cse import _result, definition_for

    d, named = definition_for(None)
    evaluate(con, d)
    return _result(con, d, named, {}, [], True).as_json()


def review(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    from node.analyses._cse_review import build_review
    from node.analyses._cse_rules import evaluate
    from node.analyses.cse import definition_for
    from node.analyses.review import _result

    d, named = definition_for(None)
    evaluate(con, d)
    build_review(con, d)
    return _result(con, named, {}).as_json()


def _selection(kind: str, subject: str) -> tuple[list[str], list[str]]:
    if kind not in ("person", "device"):
        raise CrossforceError(f"kind {kind!r}: choose person or device")
    return ([subject], []) if kind == "person" else ([], [subject])


def _shown(result: Result, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    out = result.as_json()
    out["tables"] = {k: v for k, v in out["tables"].items() if k not in drop}
    return out


def _iso(value: Any) -> str | None:
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    return None if value is None else str(value)
