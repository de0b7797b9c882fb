// The node's own link chart around an entity, with find path; brokers are the entities
// with the highest betweenness in the part drawn (Cytoscape.js computes it here).
"use strict";
(() => {
  if (!CF.page(["analyst"])) return;
  const form = document.getElementById("around");
  let cy = null;

  async function draw() {
    const around = form.around.value.trim();
    const r = await CF.api("/chart", {around, hops: form.hops.value});
    document.getElementById("title").textContent =
      around ? `Link chart around ${around} (${r.hops} links)` : "Link chart of the node";
    document.getElementById("member-count").textContent = String(r.elements.nodes.length);
    document.getElementById("edge-count").textContent = String(r.elements.edges.length);
    const list = document.getElementById("members");
    list.replaceChildren(...r.elements.nodes.map((n) => CF.el("option", {value: n.data.id,
                                                                          text: n.data.label})));
    cy = LinkChart.draw(document.getElementById("cy"), r.elements, {
      legend: document.getElementById("legend"),
      onSelect: (d) => {
        const links = cy.getElementById(d.id).connectedEdges().map((e) => e.data());
        document.getElementById("details").replaceChildren(
          CF.el("h3", {text: d.label}), CF.el("p", {text: `${d.type} · ${d.id}`}),
          CF.el("p", {text: d.description || ""}),
          CF.table(["source", "target", "kind", "weight", "date"], links));
      }});
    const bc = cy.elements().betweennessCentrality({directed: false});
    const ranked = cy.nodes().sort((a, b) => bc.betweenness(b) - bc.betweenness(a));
    ranked.slice(0, Math.max(1, Math.round(ranked.length / 20)))
          .forEach((n) => { if (bc.betweenness(n) > 0) n.data("broker", true); });
  }
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    history.replaceState(null, "", `?around=${encodeURIComponent(form.around.value)}`);
    draw().catch(CF.fail);
  });
  LinkChart.pathTools(() => cy);
  form.around.value = CF.param("around") || "";
  if (form.around.value) draw().catch(CF.fail);
})();
