"""Exports of the relationship graph (or a chosen part of it): GraphML, the i2 Analyst's
Notebook import pair (entities CSV + links CSV) and a self-contained HTML picture.

All three are written from the entity graph (``g_nodes``/``g_edges``), so a person's
phones, addresses and crimes stay visible; each entity carries the measures and community
of its vertex in the measured view (blank for an identifier folded into its person).
"""

from __future__ import annotations

import csv
import html
import math
from pathlib import Path
from typing import Any

import duckdb
import igraph as ig

from federation.errors import CrossforceError

#: i2 import: one row per entity / link; the README documents the columns
ENTITY_COLUMNS = ["entity_id", "entity_type", "label", "description", "community", "degree",
                  "w_degree", "betweenness", "closeness", "eigenvector", "pagerank", "k_core"]
LINK_COLUMNS = ["link_id", "from_id", "to_id", "link_type", "label", "date", "weight",
                "direction"]
MAX_PICTURE = 600
STYLE = {  # entity type: (shape, fill)
    "person": ("circle", "#1f77b4"), "phone": ("rect", "#2ca02c"),
    "email": ("rect", "#17becf"), "handle": ("rect", "#9467bd"),
    "vehicle": ("hexagon", "#ff7f0e"), "address": ("house", "#8c564b"),
    "crime": ("diamond", "#d62728"), "device": ("rect", "#7f7f7f"),
}


def select(con: duckdb.DuckDBPyConnection, ids: list[str] | None,
           scores: dict[str, dict[str, Any]]) -> tuple[list[dict[str, Any]],
                                                        list[dict[str, Any]]]:
    """Entities and links to export: all, or those among ``ids`` (a chosen part, including
    the identifiers folded into its persons). Each entity gets its view vertex's scores."""
    con.execute("CREATE OR REPLACE TEMP TABLE g_pick (id VARCHAR)")
    if ids is not None:
        con.executemany("INSERT INTO g_pick VALUES (?)", [[i] for i in ids])
    where = "" if ids is None else """WHERE n.id IN (SELECT id FROM g_pick)
                                       OR v.view IN (SELECT id FROM g_pick)"""
    entities = [dict(zip(("id", "type", "label", "description", "view"), r, strict=True))
                for r in con.execute(f"""
        SELECT n.id, n.type, n.label, n.description, v.view FROM g_nodes n
        JOIN g_view v USING (id) {where} ORDER BY n.idx""").fetchall()]
    for e in entities:
        own = scores.get(e["id"])
        e.update(own or {"community": scores.get(e["view"], {}).get("community")})
    keep = {e["id"] for e in entities}
    links = [dict(zip(("src", "dst", "kind", "weight", "directed", "date", "label"), r,
                      strict=True))
             for r in con.execute("""SELECT src, dst, kind, weight, directed, date, label
                                     FROM g_edges ORDER BY src, dst, kind""").fetchall()
             if r[0] in keep and r[1] in keep]
    return entities, links


def write_i2(prefix: str, entities: list[dict[str, Any]], links: list[dict[str, Any]]
             ) -> list[Path]:
    """``PREFIX_entities.csv`` and ``PREFIX_links.csv`` for an i2 import specification."""
    ent, lnk = Path(f"{prefix}_entities.csv"), Path(f"{prefix}_links.csv")
    _writable(ent)
    with open(ent, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(ENTITY_COLUMNS)
        for e in entities:
            w.writerow([e["id"], e["type"], e["label"], e["description"] or "",
                        *(_num(e.get(c)) for c in ENTITY_COLUMNS[4:])])
    with open(lnk, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(LINK_COLUMNS)
        for i, k in enumerate(links, 1):
            w.writerow([f"L{i}", k["src"], k["dst"], k["kind"], k["label"] or "",
                        k["date"].isoformat() if k["date"] else "", _num(k["weight"]),
                        "from-to" if k["directed"] else "none"])
    return [ent, lnk]


def write_graphml(path: Path, entities: list[dict[str, Any]], links: list[dict[str, Any]]
                  ) -> None:
    """GraphML (directed; a link without direction has ``directed`` false)."""
    _writable(path)
    index = {e["id"]: i for i, e in enumerate(entities)}
    g = ig.Graph(n=len(entities), edges=[(index[k["src"]], index[k["dst"]]) for k in links],
                 directed=True)
    g.vs["name"] = [e["id"] for e in entities]
    for attr in ("type", "label", "description"):
        g.vs[attr] = [e[attr] or "" for e in entities]
    for attr in ENTITY_COLUMNS[4:]:
        g.vs[attr] = [float(e[attr]) if e.get(attr) is not None else math.nan
                      for e in entities]
    g.es["kind"] = [k["kind"] for k in links]
    g.es["weight"] = [float(k["weight"]) for k in links]
    g.es["directed"] = [bool(k["directed"]) for k in links]
    g.es["date"] = [k["date"].isoformat() if k["date"] else "" for k in links]
    g.es["label"] = [k["label"] or "" for k in links]
    g.write_graphml(str(path))


def write_html(path: Path, title: str, entities: list[dict[str, Any]],
               links: list[dict[str, Any]], centre: str | None, seed: int) -> None:
    """One HTML file with an inline SVG: a shape and colour per entity type, link width by
    contact count, a tooltip per entity and link. No script, nothing fetched."""
    if len(entities) > MAX_PICTURE:
        raise CrossforceError(f"the picture would hold {len(entities)} entities (at most "
                              f"{MAX_PICTURE}); choose fewer with --around P --hops 1")
    _writable(path)
    index = {e["id"]: i for i, e in enumerate(entities)}
    g = ig.Graph(n=len(entities), edges=[(index[k["src"]], index[k["dst"]]) for k in links])
    import random

    ig.set_random_number_generator(random.Random(seed))
    try:
        layout = g.layout_fruchterman_reingold(niter=500) if len(entities) > 1 else \
            ig.Layout([(0.0, 0.0)] * len(entities))
    finally:
        ig.set_random_number_generator(random)
    size = 900
    xs, ys = [p[0] for p in layout], [p[1] for p in layout]
    x0, x1 = (min(xs), max(xs)) if xs else (0, 1)
    y0, y1 = (min(ys), max(ys)) if ys else (0, 1)

    def at(i: int) -> tuple[float, float]:
        sx = (xs[i] - x0) / (x1 - x0) if x1 > x0 else 0.5
        sy = (ys[i] - y0) / (y1 - y0) if y1 > y0 else 0.5
        return 40 + sx * (size - 80), 40 + sy * (size - 80)

    parts = []
    for k in links:
        (ax, ay), (bx, by) = at(index[k["src"]]), at(index[k["dst"]])
        width = 1 + 1.5 * math.log1p(float(k["weight"])) if k["kind"] == "contact" else 1
        dash = "" if k["kind"] == "contact" else ' stroke-dasharray="4 3"'
        marker = ' marker-end="url(#arrow)"' if k["directed"] else ""
        tip = html.escape(f"{k['kind']}: {k['label'] or ''} ({k['date'] or 'no date'})")
        parts.append(f'<line x1="{ax:.1f}" y1="{ay:.1f}" x2="{bx:.1f}" y2="{by:.1f}" '
                     f'stroke="#999" stroke-width="{width:.1f}"{dash}{marker}>'
                     f"<title>{tip}</title></line>")
    for i, e in enumerate(entities):
        x, y = at(i)
        shape, fill = STYLE.get(e["type"], ("rect", "#7f7f7f"))
        ring = ' stroke="#000" stroke-width="3"' if e["id"] == centre else \
            ' stroke="#fff" stroke-width="1"'
        tip = html.escape(f"{e['type']} {e['label']}" + (f" — {e['description']}"
                                                        if e["description"] else "")
                          + (f" · community {e['community']}"
                             if e.get("community") is not None else ""))
        parts.append(f"<g>{_shape(shape, x, y, fill, ring)}<title>{tip}</title>"
                     f'<text x="{x + 11:.1f}" y="{y + 4:.1f}">'
                     f"{html.escape(str(e['label']))}</text></g>")
    legend = "".join(
        f'<g transform="translate({20 + 110 * j},{size + 20})">'
        f'{_shape(shape, 8, 0, fill, "")}<text x="20" y="4">{t}</text></g>'
        for j, (t, (shape, fill)) in enumerate(STYLE.items()))
    path.write_text(f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:16px}} text{{font-size:10px;fill:#222}}</style>
</head><body><h1 style="font-size:16px">{html.escape(title)}</h1>
<p style="font-size:12px">{len(entities)} entities, {len(links)} links. Solid lines:
calls and messages (width grows with the count, arrow = direction); dashed: roles,
ownership, addresses, vehicles, intelligence. Hover for details. Made on the node;
this file fetches nothing.</p>
<svg xmlns="http://www.w3.org/2000/svg" width="{size + 40}" height="{size + 40}"
viewBox="0 0 {size + 40} {size + 40}"><defs><marker id="arrow" viewBox="0 0 10 10"
refX="18" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse">
<path d="M 0 0 L 10 5 L 0 10 z" fill="#999"/></marker></defs>
{"".join(parts)}{legend}</svg></body></html>
""", encoding="utf-8")


def _shape(shape: str, x: float, y: float, fill: str, ring: str) -> str:
    r = 8
    if shape == "circle":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r}" fill="{fill}"{ring}/>'
    if shape == "diamond":
        pts = f"{x},{y - r} {x + r},{y} {x},{y + r} {x - r},{y}"
    elif shape == "hexagon":
        pts = " ".join(f"{x + r * math.cos(a * math.pi / 3):.1f},"
                       f"{y + r * math.sin(a * math.pi / 3):.1f}" for a in range(6))
    elif shape == "house":
        pts = f"{x},{y - r} {x + r},{y - 2} {x + r},{y + r} {x - r},{y + r} {x - r},{y - 2}"
    else:
        return (f'<rect x="{x - r:.1f}" y="{y - r * 0.7:.1f}" width="{2 * r}" '
                f'height="{1.4 * r:.1f}" rx="2" fill="{fill}"{ring}/>')
    return f'<polygon points="{pts}" fill="{fill}"{ring}/>'


def _num(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _writable(path: Path) -> None:
    if not path.parent.exists():
        raise CrossforceError(f"cannot write {path}: folder {path.parent} does not exist")
