// One network as a link chart: shape by entity type, colour by force (a ring when several
// forces hold it), width by links, brokers ringed; details, neighbours and paths on demand.
"use strict";
(() => {
  if (!CF.page(["analyst"])) return;
  const id = CF.param("id");
  const node = (m) => ({data: {id: `e${m.entity_id}`, entity_id: m.entity_id,
                               label: `${m.kind} ${m.entity_id}`, type: m.kind,
                               colourBy: m.forces.length > 1 ? "several forces" : m.forces[0],
                               shared: m.forces.length > 1, broker: !!m.is_broker,
                               forces: m.forces}});
  let cy = null;

  async function details(d) {
    const box = document.getElementById("details");
    const e = await CF.api(`/entities/${d.entity_id}`);
    box.replaceChildren(
      CF.el("h3", {text: d.label}),
      CF.el("p", {text: `held by: ${e.forces.join(", ")}`}),
      CF.el("p", {text: `network ${e.network_id ?? "-"} · ${e.links.length} link(s)` +
                        (e.stop_listed ? " · stop-listed hub" : "") +
                        (d.broker ? " · broker" : "")}),
      CF.el("button", {id: "expand", text: "Expand neighbours", onclick: () => {
        const els = {nodes: e.links.map((l) => node({entity_id: l.entity_id, kind: l.kind,
                                                        forces: l.forces})),
                     edges: e.links.map((l) => ({data: {
                       id: `x${d.entity_id}-${l.entity_id}`, source: `e${d.entity_id}`,
                       target: `e${l.entity_id}`, weight: l.n_links}}))};
        const added = LinkChart.expand(cy, `e${d.entity_id}`, els);
        box.append(CF.el("p", {class: "note", text: `${added} neighbour(s) added`}));
      }}),
      CF.table(["entity_id", "kind", "link_kinds", "forces", "n_links"], e.links.slice(0, 50)));
  }

  async function show() {
    const n = await CF.api(`/networks/${encodeURIComponent(id)}`);
    document.getElementById("title").textContent =
      `Network ${n.network_id}: ${n.n_persons} person(s), ${n.n_identifiers} identifier(s)`;
    document.getElementById("member-count").textContent = String(n.members.length);
    document.getElementById("edge-count").textContent = String(n.edges.length);
    document.getElementById("forces").textContent = n.forces.join(", ");
    const list = document.getElementById("members");
    for (const m of n.members) list.append(CF.el("option", {value: m.entity_id,
                                                            text: `${m.kind} ${m.entity_id}`}));
    const elements = {nodes: n.members.map(node),
                      edges: n.edges.map((e) => ({data: {
                        id: `e${e.entity_a}-e${e.entity_b}`, source: `e${e.entity_a}`,
                        target: `e${e.entity_b}`, weight: e.n_links, kinds: e.kinds}}))};
    cy = LinkChart.draw(document.getElementById("cy"), elements, {
      onSelect: (d) => details(d).catch(CF.fail),
      legend: document.getElementById("legend")});
  }

  LinkChart.pathTools(() => cy, (v) => `e${v.trim().replace(/^e/, "")}`);
  show().catch(CF.fail);
})();
