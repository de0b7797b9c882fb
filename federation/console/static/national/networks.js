// The networks list: filters go to the API; sorting by forces or recent activity is done
// here on the page of results.
"use strict";
(() => {
  if (!CF.page(["analyst"])) return;
  const form = document.getElementById("filters");
  async function show() {
    const f = Object.fromEntries(new FormData(form));
    const page = await CF.api("/networks", {min_forces: f.min_forces, force: f.force,
                                            min_persons: f.min_persons,
                                            active_from: f.active_from, limit: 500});
    const items = page.items.map((n) => ({...n, brokers: n.brokers.map((b) => b.entity_id)}));
    const key = {size: (n) => -n.n_persons, forces: (n) => -n.n_forces,
                 recent: (n) => -(Date.parse(n.last_activity || 0) || 0)}[f.sort];
    items.sort((a, b) => key(a) - key(b) || a.network_id - b.network_id);
    document.getElementById("count").textContent =
      `${page.total} network(s) under purpose ${CF.session().purpose}` +
      (page.total > items.length ? ` (first ${items.length} shown)` : "");
    document.getElementById("list").replaceChildren(CF.table(
      ["network_id", "forces", "n_forces", "n_persons", "n_identifiers", "first_activity",
       "last_activity", "brokers"], items,
      {link: (r, c) => c === "network_id" ? `/console/network?id=${r.network_id}` : null,
       cls: "networks"}));
  }
  form.addEventListener("submit", (ev) => { ev.preventDefault(); show().catch(CF.fail); });
  show().catch(CF.fail);
})();
