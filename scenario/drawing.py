"""networks.html: the largest cross-force networks, drawn as the coordinator sees them.

One self-contained file (inline SVG and CSS, no script, no CDN), so it opens offline in any
browser and can be attached to a disclosure request. It draws exactly what
``crossforce coordinator networks --json`` returns — the visible members of each network
and the edges between them (the links the forces sent, mapped onto national entities) — so
the picture cannot disagree with the coordinator. Victim (match-only) entities and
stop-listed hubs are in neither list, so they are never drawn.

Nodes are national entities: circles persons, squares identifiers, filled with the colour
of every force holding them (rings, outermost first); brokers get a thick outline and a
halo. An edge takes the colour of the force whose link it is, grey when several forces
linked the same pair; its dash says the kind of link. Labels are entity ids only — the
drawing carries no raw value, no token and no reference.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import networkx as nx

#: Okabe–Ito + Tableau: colour-blind-safe and distinct, for up to 16 forces
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442",
           "#000000", "#4E79A7", "#F28E2B", "#59A14F", "#B07AA1", "#9C755F", "#EDC948",
           "#76B7B2", "#FF9DA7")
#: an edge several forces' links make: no single force's colour fits
SHARED_EDGE = "#8C8C8C"
#: link kind → (label, stroke width, SVG dash pattern, CSS border style for the legend);
#: the order is the order of strength: an edge of several kinds is drawn as its first
LINK_STYLES: dict[str, tuple[str, float, str, str]] = {
    "person_identifier": ("person's own identifier", 2.6, "", "solid"),
    "co_suspect": ("co-suspects", 2.0, "", "solid"),
    "shared_vehicle": ("shared vehicle", 1.8, "9 3 2 3", "dashed"),
    "shared_address": ("shared address", 1.8, "2 3", "dotted"),
    "communication": ("calls / messages", 1.4, "6 3", "dashed"),
}
OTHER_LINK = ("other link", 1.4, "1 2", "dotted")
RADIUS = 9
#: above this many members, Kamada–Kawai (O(n²) per step) gives way to a seeded spring layout
KAMADA_KAWAI_MAX = 250
SEED = 1


def force_colours(networks: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Force → colour, stable for a given set of forces (sorted, then the palette)."""
    forces = sorted({f for n in networks for f in n["forces"]})
    return {f: PALETTE[i % len(PALETTE)] for i, f in enumerate(forces)}


def edge_colour(forces: Sequence[str], colour: Mapping[str, str]) -> str:
    return colour.get(forces[0], SHARED_EDGE) if len(forces) == 1 else SHARED_EDGE


def link_style(kinds: Sequence[str]) -> tuple[str, float, str, str]:
    """The style of an edge's strongest kind (a phone's owner beats a phone call)."""
    for kind, style in LINK_STYLES.items():
        if kind in kinds:
            return style
    return OTHER_LINK


def layout(members: Sequence[int], edges: Sequence[tuple[int, int]]
           ) -> dict[int, tuple[float, float]]:
    """Positions in [0, 1]², the same every run for the same network.

    Kamada–Kawai (deterministic: it starts from a circle) on the square root of path
    lengths: the long tails of a network (a runner, his phones, their contacts) fold in and
    its dense cross-force core opens up — twice the spacing of plain Kamada–Kawai on the
    demo's network. Pieces not joined inside the drawing sit one step beyond the farthest
    pair. A very large network gets a seeded spring layout (Kamada–Kawai is O(n²) a step).
    """
    graph = nx.Graph()
    graph.add_nodes_from(sorted(members))
    graph.add_edges_from(sorted(edges))
    if len(graph) == 0:
        return {}
    if len(graph) == 1:
        return {next(iter(graph)): (0.5, 0.5)}
    if len(graph) <= KAMADA_KAWAI_MAX:
        hops = dict(nx.all_pairs_shortest_path_length(graph))
        far = math.sqrt(max(max(row.values()) for row in hops.values())) + 1
        dist = {a: {b: math.sqrt(hops[a][b]) if b in hops[a] else far for b in graph}
                for a in graph}
        pos = nx.kamada_kawai_layout(graph, dist=dist)
    else:
        pos = nx.spring_layout(graph, seed=SEED, k=1.6 / math.sqrt(len(graph)))
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    span = max(max(xs) - min(xs), max(ys) - min(ys)) or 1.0
    x0 = (min(xs) + max(xs)) / 2 - span / 2
    y0 = (min(ys) + max(ys)) / 2 - span / 2
    return {n: ((x - x0) / span, (y - y0) / span) for n, (x, y) in pos.items()}


def write_networks_html(path: Path, networks: Sequence[Mapping[str, Any]], *,
                        largest: int = 6) -> Path:
    """Write the drawing of the ``largest`` networks to ``path`` and return it.

    ``networks`` is what ``crossforce coordinator networks --json`` prints: per network its
    ``forces``, sizes, ``members`` (with their ``forces``) and ``edges``.
    """
    colour = force_colours(networks)
    chosen = sorted(networks, key=lambda n: (-(n["n_persons"] + n["n_identifiers"]),
                                             n["network_id"]))[:largest]
    panels = [_panel(n, colour) for n in chosen]
    kinds = sorted({k for n in chosen for e in n.get("edges", []) for k in e["kinds"]},
                   key=lambda k: (list(LINK_STYLES).index(k) if k in LINK_STYLES
                                  else len(LINK_STYLES), k))
    force_keys = "".join(
        f'<span class="key"><i class="dot" style="background:{c}"></i>{html.escape(f)}</span>'
        for f, c in colour.items())
    link_keys = "".join(
        f'<span class="key"><i class="line" style="border-top:{max(w, 2):.0f}px {css} #555">'
        f"</i>{html.escape(label)}</span>"
        for label, w, _, css in (link_style([k]) for k in kinds))
    body = "\n".join(panels) or "<p>No cross-force network was found.</p>"
    path.write_text(f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>crossforce — cross-force networks</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 1.2em 1.5em; color: #222; }}
h1 {{ font-size: 1.4em; margin: 0 0 .3em; }}
p {{ margin: .3em 0; max-width: 70em; }}
.legend {{ margin: .6em 0 1em; line-height: 1.9; }}
.legend b {{ margin-right: .6em; }}
.panels {{ display: flex; flex-wrap: wrap; gap: 14px; }}
figure {{ margin: 0; border: 1px solid #ccc; border-radius: 6px; padding: 6px; }}
figcaption {{ margin-bottom: 4px; max-width: 100%; }}
figcaption .name {{ font-weight: 600; }}
figcaption .sub {{ color: #555; font-size: 12.5px; }}
.key {{ margin-right: 1.1em; white-space: nowrap; }}
.key i {{ display: inline-block; margin-right: .35em; vertical-align: middle; }}
.key .dot {{ width: 13px; height: 13px; border-radius: 50%; }}
.key .square {{ width: 12px; height: 12px; border: 1px solid #222; background: #fff; }}
.key .round {{ width: 12px; height: 12px; border: 1px solid #222; border-radius: 50%;
              background: #fff; }}
.key .broker {{ width: 11px; height: 11px; border: 3px solid #111; border-radius: 50%;
               box-shadow: 0 0 0 3px #ffd54f; background: #fff; }}
.key .line {{ width: 30px; height: 0; }}
svg {{ display: block; background: #fcfcfc; }}
svg text {{ font-size: 9px; fill: #222; paint-order: stroke; stroke: #fcfcfc;
           stroke-width: 2.5px; }}
svg text.broker {{ font-weight: 700; font-size: 10px; }}
</style></head><body>
<h1>Cross-force networks</h1>
<p>The {len(chosen)} largest of {len(networks)} networks found by the coordinator, drawn as
the coordinator holds them: every visible member and every link between two members. Circles
are persons, squares identifiers (phone, email, handle, vehicle, handset); each ring is a
force holding that entity. A line is a link the forces sent, in the colour of the force that
sent it (grey when several forces link the same pair); its dash is the kind of link. A thick
outline with a yellow halo marks a broker. Victims and stop-listed hubs (taxi firms,
helplines) are never drawn. Labels are national entity ids: no names, numbers, tokens or
references. Hover a node or a line for details.</p>
<div class="legend"><b>Forces</b>{force_keys}<br>
<b>Links</b>{link_keys}<span class="key"><i class="line"
 style="border-top:3px solid {SHARED_EDGE}"></i>linked by several forces</span><br>
<b>Nodes</b><span class="key"><i class="round"></i>person</span><span class="key"><i
 class="square"></i>identifier</span><span class="key"><i class="broker"></i>broker</span>
</div>
<div class="panels">
{body}
</div></body></html>
""")
    return path


def _side(n_members: int) -> int:
    """Panel width: three fit side by side on a laptop; big networks get more room."""
    return int(min(900, max(420, 95 * math.sqrt(n_members))))


def _panel(network: Mapping[str, Any], colour: Mapping[str, str]) -> str:
    members = sorted(network["members"], key=lambda m: int(m["entity_id"]))
    ids = {int(m["entity_id"]) for m in members}
    edges = [e for e in network.get("edges", [])
             if int(e["entity_a"]) in ids and int(e["entity_b"]) in ids]
    pos = layout(sorted(ids), [(int(e["entity_a"]), int(e["entity_b"])) for e in edges])
    side = _side(len(ids))
    margin, label_room = 2 * RADIUS + 6, 30  # labels sit right of their node

    def xy(entity: int) -> tuple[float, float]:
        x, y = pos[entity]
        return (margin + x * (side - 2 * margin - label_room),
                margin + y * (side - 2 * margin))

    parts: list[str] = []
    # single-force edges last, so a force's colour is not hidden under grey
    for e in sorted(edges, key=lambda e: (-len(e["forces"]), e["entity_a"], e["entity_b"])):
        a, b = int(e["entity_a"]), int(e["entity_b"])
        (x1, y1), (x2, y2) = xy(a), xy(b)
        _, width, dash, _ = link_style(e["kinds"])
        stroke = edge_colour(e["forces"], colour)
        dashes = f' stroke-dasharray="{dash}"' if dash else ""
        title = (f"{a} — {b}: {', '.join(e['kinds'])}; linked by {', '.join(e['forces'])}"
                 f" ({e['n_links']} link{'s' if e['n_links'] != 1 else ''})")
        parts.append(
            f'<line class="edge" data-a="{a}" data-b="{b}" '
            f'data-forces="{html.escape(";".join(e["forces"]))}" '
            f'data-kinds="{html.escape(";".join(e["kinds"]))}" x1="{x1:.1f}" y1="{y1:.1f}" '
            f'x2="{x2:.1f}" y2="{y2:.1f}" stroke="{stroke}" stroke-width="{width}" '
            f'stroke-linecap="round"{dashes} stroke-opacity="0.85">'
            f'<title>{html.escape(title)}</title></line>')
    for m in members:
        parts.append(_node(m, xy(int(m["entity_id"])), colour))
    brokers = [str(b) for b in network.get("brokers", [])]
    sub = (f"{network['n_persons']} persons, {network['n_identifiers']} identifiers, "
           f"{len(edges)} links · brokers: {', '.join(brokers) or 'none'}")
    name = f"Network {network['network_id']} — {', '.join(network['forces'])}"
    label = f"{name}: {sub}"
    return (f'<figure class="network" data-network="{network["network_id"]}">'
            f'<figcaption><div class="name">{html.escape(name)}</div>'
            f'<div class="sub">{html.escape(sub)}</div></figcaption>'
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{side}" height="{side}" '
            f'viewBox="0 0 {side} {side}" role="img" aria-label="{html.escape(label)}">'
            f'{"".join(parts)}</svg></figure>')


def _node(m: Mapping[str, Any], at: tuple[float, float], colour: Mapping[str, str]) -> str:
    entity = int(m["entity_id"])
    x, y = at
    forces = list(m.get("forces") or []) or ["?"]
    broker = bool(m["is_broker"])
    person = m["kind"] == "person"
    title = (f"entity {entity} ({m['kind']}) — held by {', '.join(forces)}; degree "
             f"{m['degree']}, betweenness {m['betweenness']:.3f}"
             + ("; broker" if broker else "") + ("; key player" if m["is_key_player"] else ""))

    def shape(r: float, attrs: str) -> str:
        if person:
            return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" {attrs}/>'
        return (f'<rect x="{x - r:.1f}" y="{y - r:.1f}" width="{2 * r:.1f}" '
                f'height="{2 * r:.1f}" {attrs}/>')

    shapes = []
    if broker:  # halo and thick outline both outside the fill: they hide no force colour
        shapes.append(shape(RADIUS + 7, 'fill="#ffd54f"'))
        shapes.append(shape(RADIUS + 1.5, 'fill="#fff" stroke="#111" stroke-width="3"'))
    for i, force in enumerate(forces):  # rings of equal width, outermost first
        shapes.append(shape(RADIUS * (len(forces) - i) / len(forces),
                            f'fill="{colour.get(force, "#bbb")}"'))
    if not broker:
        shapes.append(shape(RADIUS, 'fill="none" stroke="#111" stroke-width="0.8"'))
    text_class = ' class="broker"' if broker else ""
    gap = RADIUS + (9 if broker else 3)
    return (f'<g class="member{" broker" if broker else ""}" data-entity="{entity}" '
            f'data-kind="{html.escape(m["kind"])}" '
            f'data-forces="{html.escape(";".join(forces))}">'
            f'<title>{html.escape(title)}</title>{"".join(shapes)}'
            f'<text{text_class} x="{x + gap:.1f}" y="{y + 3:.1f}">{entity}</text></g>')
