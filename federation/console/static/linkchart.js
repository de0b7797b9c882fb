// Link charts with Cytoscape.js: entity type by shape, force (or community) by colour,
// link width by strength, brokers marked, click for details, find path, expand.
"use strict";

const LinkChart = (() => {
  // i2-style shapes per entity type; the legend shows the same
  const SHAPES = {person: "ellipse", phone: "round-rectangle", email: "rhomboid",
                  handle: "hexagon", vehicle: "triangle", address: "rectangle",
                  crime: "star", device: "barrel", intel: "tag", name: "octagon",
                  dob: "vee"};
  const shape = (type) => SHAPES[type] || "octagon";

  // elements: {nodes: [{data}], edges: [{data}]}; node data: id, label, type, colourBy
  // (a name coloured by CF.colour), broker (bool), size; edge data: source, target, weight.
  function draw(container, elements, {onSelect, legend} = {}) {
    const t0 = performance.now();
    const n = elements.nodes.length;
    const maxW = Math.max(1, ...elements.edges.map((e) => e.data.weight || 1));
    for (const e of elements.nodes) {
      e.data.shape = shape(e.data.type);
      e.data.colour = CF.colour(e.data.colourBy);
    }
    for (const e of elements.edges) {
      e.data.width = 1 + 7 * Math.sqrt((e.data.weight || 1) / maxW);
    }
    const cy = cytoscape({
      container, elements, wheelSensitivity: 0.3, minZoom: 0.05, maxZoom: 4,
      textureOnViewport: n > 800, hideEdgesOnViewport: n > 1500,
      style: [
        {selector: "node", style: {
          "shape": "data(shape)", "background-color": "data(colour)",
          "width": n > 800 ? 10 : 22, "height": n > 800 ? 10 : 22,
          "label": n > 300 ? "" : "data(label)", "font-size": 9, "text-valign": "bottom",
          "text-margin-y": 2, "color": "#222"}},
        {selector: "node[?broker]", style: {
          "border-width": 4, "border-color": "#000", "border-style": "double",
          "width": n > 800 ? 16 : 30, "height": n > 800 ? 16 : 30}},
        {selector: "node[?shared]", style: {"border-width": 3, "border-color": "#444"}},
        {selector: "edge", style: {
          "width": "data(width)", "line-color": "#9aa", "curve-style": "haystack",
          "opacity": 0.8}},
        {selector: "edge[?directed]", style: {
          "curve-style": "bezier", "target-arrow-shape": "triangle",
          "target-arrow-color": "#9aa"}},
        {selector: ".path", style: {"background-color": "#ffd400", "line-color": "#e6a100",
                                    "target-arrow-color": "#e6a100", "opacity": 1,
                                    "z-index": 10, "label": "data(label)"}},
        {selector: "node.path", style: {"border-width": 3, "border-color": "#e6a100"}},
        {selector: ":selected", style: {"overlay-color": "#e6a100", "overlay-opacity": 0.3,
                                        "label": "data(label)"}},
        {selector: ".faded", style: {"opacity": 0.25}},
      ],
      layout: {name: "fcose", animate: false, randomize: true,
               quality: n > 500 ? "draft" : "default", nodeRepulsion: 6000,
               idealEdgeLength: n > 500 ? 30 : 60, numIter: n > 500 ? 1000 : 2500},
    });
    const ready = performance.now() - t0;
    container.dataset.nodes = String(cy.nodes().length);
    container.dataset.edges = String(cy.edges().length);
    container.dataset.readyMs = String(Math.round(ready));
    performance.mark("chart-ready");
    window.chartReadyMs = ready;
    window.linkChart = cy;  // for the browser tests and the console of the browser
    if (onSelect) cy.on("tap", "node", (ev) => onSelect(ev.target.data()));
    if (legend) legend.replaceChildren(legendOf(elements));
    return cy;
  }

  function legendOf(elements) {
    const types = [...new Set(elements.nodes.map((e) => e.data.type))].sort();
    const colours = [...new Set(elements.nodes.map((e) => e.data.colourBy))].sort();
    const box = CF.el("div", {class: "legend"});
    box.append(CF.el("strong", {text: "Shapes: "}),
               types.map((t) => `${t} = ${shape(t)}`).join(" · "));
    const list = CF.el("div", {});
    for (const c of colours.slice(0, 20)) {
      const sw = CF.el("span", {class: "swatch"});
      sw.style.background = CF.colour(c);
      list.append(sw, CF.el("span", {text: ` ${c}  `}));
    }
    box.append(list, CF.el("div", {text: "Bold double ring: broker (high betweenness). " +
                                          "Link width: strength (number of links)."}));
    return box;
  }

  // The fewest-links path between two nodes (A*), highlighted; returns its nodes' data.
  function findPath(cy, a, b) {
    cy.elements().removeClass("path faded");
    const from = cy.getElementById(a), to = cy.getElementById(b);
    if (!from.length || !to.length) {
      throw new Error(`${from.length ? b : a} is not in this chart`);
    }
    const found = cy.elements().aStar({root: from, goal: to, directed: false});
    if (!found.found) return [];
    cy.elements().addClass("faded");
    found.path.removeClass("faded").addClass("path");
    cy.fit(found.path, 60);
    return found.path.nodes().map((x) => x.data());
  }

  // Add neighbours not yet drawn around a node (placed in a ring beside it).
  function expand(cy, id, elements) {
    const centre = cy.getElementById(id).position();
    const fresh = elements.nodes.filter((e) => !cy.getElementById(e.data.id).length);
    fresh.forEach((e, i) => {
      const a = (2 * Math.PI * i) / Math.max(1, fresh.length);
      e.data.shape = shape(e.data.type);
      e.data.colour = CF.colour(e.data.colourBy);
      e.position = {x: centre.x + 80 * Math.cos(a), y: centre.y + 80 * Math.sin(a)};
    });
    const edges = elements.edges.filter((e) => !cy.getElementById(e.data.id).length);
    for (const e of edges) e.data.width = 1 + Math.min(7, e.data.weight || 1);
    cy.add([...fresh, ...edges]);
    return fresh.length;
  }

  // The page's "from / to / Find path / Clear" tools (#path-a, #path-b, #find-path,
  // #clear, #path-result) on the chart ``chart()`` returns; ``ref`` turns what was typed
  // into a node id.
  function pathTools(chart, ref = (v) => v.trim()) {
    const out = document.getElementById("path-result");
    document.getElementById("find-path").addEventListener("click", () => {
      try {
        const path = findPath(chart(), ref(document.getElementById("path-a").value),
                              ref(document.getElementById("path-b").value));
        out.textContent = path.length ? `${path.map((p) => p.label).join(" → ")} ` +
                                        `(${path.length - 1} link(s))` : "no path";
      } catch (err) { out.textContent = err.message; }
    });
    document.getElementById("clear").addEventListener("click", () => {
      chart().elements().removeClass("path faded"); chart().fit();
      out.textContent = "";
    });
  }

  return {draw, findPath, expand, shape, pathTools};
})();
