"""networks.html: the largest cross-force networks, drawn, coloured by force.

One self-contained file (inline SVG and CSS, no script, no CDN), so it opens offline in any
browser. Nodes are national entities (circles: persons, squares: identifiers), filled with
the colour of every force holding them (rings, outermost first); brokers have a thick
outline. Edges are what the forces' own hits show: a person and an identifier the same
force holds. Labels are entity ids only — the drawing carries no raw value and no token.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import networkx as nx

#: Okabe–Ito + Tableau: colour-blind-safe and distinct, for up to 16 forces
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442",
           "#000000", "#4E79A7", "#F28E2B", "#59A14F", "#B07AA1", "#9C755F", "#EDC948",
           "#76B7B2", "#FF9DA7")
PANEL = 460
RADIUS = 9


def network_edges(rows: Sequence[Mapping[str, Any]]) -> set[tuple[int, int]]:
    """Person entity — identifier entity pairs, from each force's resolved hits."""
    person_entity = {(r["force"], r["local_id"]): r["entity_id"]
                     for r in rows if r["kind"] == "person"}
    edges: set[tuple[int, int]] = set()
    for r in rows:
        if r["kind"] == "person":
            continue
        for person in r.get("person_ids") or []:
            entity = person_entity.get((r["force"], person))
            if entity is not None and entity != r["entity_id"]:
                edges.add((min(entity, r["entity_id"]), max(entity, r["entity_id"])))
    return edges


def write_networks_html(path: Path, networks: Sequence[Mapping[str, Any]],
                        members: Mapping[int, Sequence[Mapping[str, Any]]],
                        holders: Sequence[Mapping[str, Any]],
                        rows: Sequence[Mapping[str, Any]], *, largest: int = 6) -> Path:
    """Write the drawing of the ``largest`` networks to ``path`` and return it."""
    forces_of: dict[int, list[str]] = {}
    for h in holders:
        held = forces_of.setdefault(int(h["entity_id"]), [])
        if h["force"] not in held:
            held.append(h["force"])
    all_forces = sorted({f for n in networks for f in n["forces"]})
    colour = {f: PALETTE[i % len(PALETTE)] for i, f in enumerate(all_forces)}
    edges = network_edges(rows)
    chosen = sorted(networks, key=lambda n: -(n["n_persons"] + n["n_identifiers"]))[:largest]
    panels = [_panel(n, members.get(n["network_id"], []), forces_of, colour, edges)
              for n in chosen]
    legend = "".join(f'<span class="key"><i style="background:{colour[f]}"></i>'
                     f"{html.escape(f)}</span>" for f in all_forces)
    body = "\n".join(panels) or "<p>No cross-force network was found.</p>"
    path.write_text(f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>crossforce — cross-force networks</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 1.5em; color: #222; }}
.panels {{ display: flex; flex-wrap: wrap; gap: 1em; }}
figure {{ margin: 0; border: 1px solid #ccc; border-radius: 6px; padding: .5em; }}
figcaption {{ font-weight: 600; margin-bottom: .3em; }}
.key {{ margin-right: 1.2em; white-space: nowrap; }}
.key i {{ display: inline-block; width: 12px; height: 12px; border-radius: 50%;
          margin-right: .35em; vertical-align: -1px; }}
svg text {{ font-size: 9px; fill: #333; }}
</style></head><body>
<h1>Cross-force networks</h1>
<p>The {len(chosen)} largest of {len(networks)} networks found by the coordinator.
Circles are persons, squares identifiers (phone, email, handle, vehicle, handset); each ring
is a force holding that entity; a thick outline marks a broker. Lines join a person and an
identifier the same force holds. Labels are national entity ids: no names, numbers or
tokens. Hover a node for details.</p>
<p>{legend}</p>
<div class="panels">
{body}
</div></body></html>
""")
    return path


def _panel(network: Mapping[str, Any], members: Sequence[Mapping[str, Any]],
           forces_of: Mapping[int, list[str]], colour: Mapping[str, str],
           edges: set[tuple[int, int]]) -> str:
    ids = {int(m["entity_id"]) for m in members}
    graph = nx.Graph()
    graph.add_nodes_from(sorted(ids))
    graph.add_edges_from(e for e in sorted(edges) if e[0] in ids and e[1] in ids)
    pos = nx.spring_layout(graph, seed=1, k=1.6 / max(len(ids), 1) ** 0.5) if ids else {}
    margin = 2 * RADIUS + 6

    def xy(node: int) -> tuple[float, float]:
        x, y = pos[node]
        return (margin + (x + 1) / 2 * (PANEL - 2 * margin),
                margin + (y + 1) / 2 * (PANEL - 2 * margin))

    parts = []
    for a, b in graph.edges:
        (x1, y1), (x2, y2) = xy(a), xy(b)
        parts.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
                     'stroke="#999" stroke-width="1"/>')
    for m in sorted(members, key=lambda m: int(m["entity_id"])):
        entity = int(m["entity_id"])
        x, y = xy(entity)
        forces = forces_of.get(entity) or ["?"]
        title = (f"entity {entity} ({m['kind']}) — held by {', '.join(forces)}; degree "
                 f"{m['degree']}, betweenness {m['betweenness']:.3f}"
                 + ("; broker" if m["is_broker"] else "")
                 + ("; key player" if m["is_key_player"] else ""))
        shapes = []
        for i, force in enumerate(forces):
            r = RADIUS * (1 - i / (len(forces) + 1))
            fill = colour.get(force, "#bbb")
            if m["kind"] == "person":
                shapes.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="{fill}"/>')
            else:
                shapes.append(f'<rect x="{x - r:.1f}" y="{y - r:.1f}" width="{2 * r:.1f}" '
                              f'height="{2 * r:.1f}" fill="{fill}"/>')
        outline = 3 if m["is_broker"] else 0.8
        if m["kind"] == "person":
            shapes.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{RADIUS}" fill="none" '
                          f'stroke="#222" stroke-width="{outline}"/>')
        else:
            shapes.append(f'<rect x="{x - RADIUS:.1f}" y="{y - RADIUS:.1f}" '
                          f'width="{2 * RADIUS}" height="{2 * RADIUS}" fill="none" '
                          f'stroke="#222" stroke-width="{outline}"/>')
        parts.append(f'<g><title>{html.escape(title)}</title>{"".join(shapes)}'
                     f'<text x="{x + RADIUS + 2:.1f}" y="{y + 3:.1f}">{entity}</text></g>')
    caption = (f"network {network['network_id']}: {', '.join(network['forces'])} — "
               f"{network['n_persons']} persons, {network['n_identifiers']} identifiers")
    return (f'<figure><figcaption>{html.escape(caption)}</figcaption>'
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{PANEL}" height="{PANEL}" '
            f'viewBox="0 0 {PANEL} {PANEL}" role="img" aria-label="{html.escape(caption)}">'
            f'{"".join(parts)}</svg></figure>')
