"""`node analyse network`: who is central, in which groups, and how is A connected to B —
the node's relationship graph (persons, phones, emails, handles, vehicles, addresses,
crimes) with i2 Analyst's Notebook's measures, Leiden communities, paths, the connecting
network of chosen persons, and exports to GraphML, i2 and a self-contained HTML picture."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import typer

from federation.errors import CrossforceError
from node.analyses import CsvOption, DirOption, JsonOption, Result, Table, consult, emit
from node.analyses import _graph as gr
from node.analyses import _network_export as ex

MEASURES = ("degree", "w_degree", "betweenness", "closeness", "eigenvector", "pagerank",
            "k_core")
RANK_COLUMNS = ["rank", "entity", "type", *MEASURES, "community"]


def command(
    dir: Path = DirOption,
    view: str = typer.Option("persons", "--view", help="persons: an identifier recorded for "
                             "one person is folded into that person before measuring (calls "
                             "between two suspects' phones link the suspects); entities: "
                             "measure every entity as it is."),
    kind: str = typer.Option("person", "--type", help="Rank entities of this type (person, "
                             "phone, vehicle, address, crime, ...) or all."),
    rank_by: str = typer.Option("pagerank", "--rank-by", help="Measure to rank by: "
                                + ", ".join(MEASURES) + "."),
    top: int = typer.Option(15, "--top", min=1, help="Rows shown per table."),
    seed: int = typer.Option(1, "--seed", help="Seed of the Leiden communities (same seed, "
                             "same communities) and of any sampling."),
    resolution: float = typer.Option(1.0, "--resolution", min=0.0, help="Leiden "
                                     "resolution: higher gives more, smaller communities."),
    path: tuple[str, str] = typer.Option((None, None), "--path", help="Find the path "
                                         "between two entities: fewest links, and strongest "
                                         "links (many contacts)."),
    connect: list[str] = typer.Option([], "--connect", help="Connecting network of these "
                                      "entities (give 2 or more: --connect A --connect B)."),
    around: str = typer.Option(None, "--around", help="The part around this entity (for "
                               "--html, --graphml, --i2)."),
    hops: int = typer.Option(2, "--hops", min=1, max=6, help="Links from --around."),
    graphml: Path = typer.Option(None, "--graphml", help="Write GraphML here.",
                                 dir_okay=False),
    i2: str = typer.Option(None, "--i2", help="Write PREFIX_entities.csv and "
                           "PREFIX_links.csv for an i2 Analyst's Notebook import."),
    html: Path = typer.Option(None, "--html", help="Write a self-contained HTML picture "
                              "(of --around, --connect or --path).", dir_okay=False),
    as_json: bool = JsonOption,
    csv: Path = CsvOption,
) -> None:
    """The relationship graph of the node: persons (one per resolved person), phones,
    emails, handles, vehicles, addresses and crimes, linked by roles, ownership, calls and
    messages (weighted by count, directed), shared addresses and vehicles, intelligence
    reports. Ranks entities by degree, weighted degree, betweenness, closeness,
    eigenvector, PageRank and k-core; finds Leiden communities; the path between two
    entities (--path A B) and the connecting network of several (--connect); exports the
    whole graph, or the part chosen by --around/--connect/--path, to GraphML, i2 CSVs or an
    HTML picture. --csv writes the full ranking."""
    if view not in ("persons", "entities"):
        raise CrossforceError(f"--view {view}: choose persons or entities")
    if rank_by not in MEASURES:
        raise CrossforceError(f"--rank-by {rank_by}: choose one of {', '.join(MEASURES)}")
    if kind != "all" and kind not in gr.TYPES:
        raise CrossforceError(f"--type {kind}: choose all or one of {', '.join(gr.TYPES)}")
    if len(connect) == 1:
        raise CrossforceError("--connect needs two or more entities (--connect A --connect B)")
    pair = [p for p in path if p]
    params = {"view": view, "type": kind, "rank_by": rank_by, "seed": seed,
              "resolution": resolution, "path": pair, "connect": connect, "around": around,
              "hops": hops if around else None, "graphml": bool(graphml), "i2": bool(i2),
              "html": bool(html)}
    with consult(dir, "network", params) as (con, counts):
        result, written = network(con, view == "persons", kind, rank_by, seed, resolution,
                                  pair, connect, around, hops, graphml, i2, html)
        result.params = params
        counts.update({k: int(v) for k, v in result.summary.items() if isinstance(v, int)})
    # a path or connecting network is shown whole; the rankings stop at --top
    emit(result, as_json, csv, limit=max([top, *(len(t.rows) for t in result.tables[2:])]))
    if not as_json:
        for w in written:
            typer.echo(f"wrote {w}")


def network(con: duckdb.DuckDBPyConnection, persons_view: bool = True, kind: str = "person",
            rank_by: str = "pagerank", seed: int = 1, resolution: float = 1.0,
            pair: list[str] | None = None, connect: list[str] | None = None,
            around: str | None = None, hops: int = 2, graphml: Path | None = None,
            i2: str | None = None, html: Path | None = None) -> tuple[Result, list[Path]]:
    """Build, measure, answer; returns the result and the files written."""
    with gr.step("building the graph"):
        gr.build(con)
        size = gr.details(con)
        if not size["entities"]:
            raise CrossforceError("this node holds no records yet: load some first "
                                  "(crossforce node ingest --dir DIR FILES)")
        gr.define_view(con, persons_view)
        g = gr.load(con, persons_view)
        full = gr.load(con, False) if persons_view else g
    with gr.step(f"measuring {g.undirected.vcount():,} entities, "
                 f"{g.undirected.ecount():,} links"):
        m = gr.measure(g, seed, resolution)
    scores = _scores(g, m)
    tables = [_ranking(g, scores, kind, rank_by), _communities(g, m, scores)]
    summary: dict[str, Any] = {**size, "measured": g.undirected.vcount(),
                               "persons": sum(t == "person" for t in g.types),
                               "communities": len(set(m.community)),
                               "modularity": round(m.modularity, 3)}
    chosen: list[str] | None = None
    centre = None
    if pair:
        a, b = (gr.find(con, full, p, "--path") for p in pair)
        for strongest in (False, True):
            steps = gr.path(full, full.index[a], full.index[b], strongest)
            tables.append(_path_table(con, full, steps, a, b, strongest))
            chosen = sorted(set(chosen or []) | {full.ids[i] for i in steps})
        summary["path_links"] = max(0, len(tables[-2].rows) - 1)
    if connect:
        ids = [gr.find(con, full, c, "--connect") for c in connect]
        keep, missing = gr.connecting(full, [full.index[i] for i in ids])
        chosen = sorted(set(chosen or []) | {full.ids[i] for i in keep})
        tables.append(Table("connecting network", ["entity", "type", "chosen", "community"],
                            [[full.ids[i].split(":", 1)[1], full.types[i],
                              full.ids[i] in ids, scores.get(full.ids[i], {}).get(
                                  "community", _community_of(con, full.ids[i], scores))]
                             for i in keep]))
        summary["connecting_entities"] = len(keep)
        summary["unconnected_pairs"] = len(missing)
    if around:
        centre = gr.find(con, full, around, "--around")
        chosen = sorted(set(chosen or []) |
                        {full.ids[i] for i in gr.neighbourhood(full, full.index[centre], hops)})
        summary["around_entities"] = len(chosen)
    written = _export(con, scores, chosen, centre, graphml, i2, html, seed, around, hops)
    notes = [f"{k}: {v}" for k, v in m.method.items()] + [
        "w_degree: degree weighted by contact counts; pagerank is scaled so that 1 is the "
        "average entity; closeness (in --json and --csv) counts links, scaled by the share "
        "of the graph reachable; eigenvector is near 0 outside the most connected part."]
    return Result("network", {}, tables, summary=summary, notes=notes), written


def _scores(g: gr.Graph, m: gr.Measures) -> dict[str, dict[str, Any]]:
    n = max(len(g.ids), 1)
    out: dict[str, dict[str, Any]] = {}
    for i, v in enumerate(g.ids):
        row = {k: m.values[k][i] for k in MEASURES}
        row["pagerank"] = row["pagerank"] * n
        row["community"] = m.community[i]
        out[v] = row
    return out


def _ranking(g: gr.Graph, scores: dict[str, dict[str, Any]], kind: str, rank_by: str
             ) -> Table:
    ids = [v for v, t in zip(g.ids, g.types, strict=True) if kind in ("all", t)]
    ids.sort(key=lambda v: (-scores[v][rank_by], v))
    rows = []
    for r, v in enumerate(ids, 1):
        s = scores[v]
        rows.append([r, v.split(":", 1)[1], v.split(":", 1)[0], int(s["degree"]),
                     round(s["w_degree"]), round(s["betweenness"]),
                     round(s["closeness"], 3), round(s["eigenvector"], 3),
                     round(s["pagerank"], 2), int(s["k_core"]), s["community"]])
    what = "entities" if kind == "all" else f"{kind}s"
    # 100 columns hold all but rank (the order), closeness (in --json / --csv) and the type
    hidden = {"rank", "closeness"} | ({"type"} if kind != "all" else {"w_degree"})
    return Table(f"most central {what} by {rank_by}", RANK_COLUMNS, rows,
                 brief=[c for c in RANK_COLUMNS if c not in hidden])


def _communities(g: gr.Graph, m: gr.Measures, scores: dict[str, dict[str, Any]]) -> Table:
    members: dict[int, list[int]] = {}
    for i, c in enumerate(m.community):
        members.setdefault(c, []).append(i)
    rows = []
    for c in sorted(members):
        vs = members[c]
        persons = sorted((g.ids[i] for i in vs if g.types[i] == "person"),
                         key=lambda v: -scores[v]["pagerank"])
        rows.append([c, len(vs), len(persons),
                     sum(g.types[i] == "crime" for i in vs),
                     sum(g.types[i] == "phone" for i in vs),
                     ", ".join(p.split(":", 1)[1] for p in persons[:3])])
    return Table("communities (Leiden), largest first",
                 ["community", "entities", "persons", "crimes", "phones",
                  "leading persons (pagerank)"], rows)


def _path_table(con: duckdb.DuckDBPyConnection, g: gr.Graph, steps: list[int], a: str,
                b: str, strongest: bool) -> Table:
    title = ("strongest path (links of many contacts first)" if strongest
             else "shortest path (fewest links)") + f" {a} → {b}"
    if not steps:
        return Table(title + ": none", ["step", "entity", "type", "link to next"], [])
    ids = [g.ids[i] for i in steps]
    links = {}
    for x, y in zip(ids, ids[1:], strict=False):
        found = con.execute("""
            SELECT string_agg(kind || CASE WHEN kind = 'contact' THEN ' (' || label || ')'
                                           ELSE '' END, '; ')
            FROM g_edges WHERE (src = ? AND dst = ?) OR (src = ? AND dst = ?)""",
                            [x, y, y, x]).fetchall()[0][0]
        links[x] = found
    return Table(title, ["step", "entity", "type", "link to next"],
                 [[k, v.split(":", 1)[1], v.split(":", 1)[0], links.get(v, "")]
                  for k, v in enumerate(ids)])


def _community_of(con: duckdb.DuckDBPyConnection, node: str,
                  scores: dict[str, dict[str, Any]]) -> Any:
    view = con.execute("SELECT view FROM g_view WHERE id = ?", [node]).fetchall()
    return scores.get(view[0][0], {}).get("community") if view else None


def _export(con: duckdb.DuckDBPyConnection, scores: dict[str, dict[str, Any]],
            chosen: list[str] | None, centre: str | None, graphml: Path | None,
            i2: str | None, html: Path | None, seed: int, around: str | None,
            hops: int) -> list[Path]:
    if not (graphml or i2 or html):
        return []
    if html and chosen is None:
        total = con.execute("SELECT count(*) FROM g_nodes").fetchall()[0][0]
        if total > ex.MAX_PICTURE:
            raise CrossforceError(f"--html: the whole graph has {total:,} entities; choose "
                                  "a part with --around P --hops 2, --connect or --path")
    with gr.step("writing exports"):
        entities, links = ex.select(con, chosen, scores)
        written: list[Path] = []
        if graphml:
            ex.write_graphml(graphml, entities, links)
            written.append(graphml)
        if i2:
            written += ex.write_i2(i2, entities, links)
        if html:
            title = (f"Network around {around} ({hops} links)" if around else
                     "Chosen part of the network")
            ex.write_html(html, title, entities, links, centre, seed)
            written.append(html)
    return written
