// The force-pair matrix: networks (and entities) each pair of forces shares.
"use strict";
(async () => {
  if (!CF.page(["analyst"])) return;
  try {
    const rows = await CF.api("/force-pairs");
    const forces = [...new Set(rows.flatMap((r) => [r.force_a, r.force_b]))].sort();
    const cell = {};
    for (const r of rows) {
      cell[`${r.force_a}|${r.force_b}`] = cell[`${r.force_b}|${r.force_a}`] = r;
    }
    const t = CF.el("table", {class: "matrix"});
    t.append(CF.el("tr", {}, CF.el("th"), ...forces.map((f) => CF.el("th", {text: f}))));
    for (const a of forces) {
      t.append(CF.el("tr", {}, CF.el("th", {text: a}), ...forces.map((b) => {
        const r = cell[`${a}|${b}`];
        return CF.el("td", {text: a === b ? "—" : r ?
          `${r.shared_networks} (${r.shared_entities})` : "0"});
      })));
    }
    document.getElementById("matrix").replaceChildren(t);
    document.getElementById("list").replaceChildren(CF.table(
      ["force_a", "force_b", "shared_networks", "shared_entities", "shared_persons"], rows));
  } catch (err) { CF.fail(err); }
})();
