// One person or device: timeline (with handovers), handovers, contacts, heat matrix.
"use strict";
(() => {
  if (!CF.page(["analyst"])) return;
  const kind = CF.param("kind"), id = CF.param("id");
  const args = {kind, subject: id};
  document.getElementById("title").textContent = `${kind} ${id}`;
  document.getElementById("chart-link").href =
    `/console/chart?around=${encodeURIComponent(id)}`;

  async function timeline() {
    const t = await CF.api("/timeline", args);
    Timeline.draw(document.getElementById("timeline"), t);
    document.getElementById("timeline-note").textContent =
      `${t.events} event(s)` + (t.shown < t.events ? `, the newest ${t.shown} drawn` : "") +
      ". Drag to move, Ctrl + wheel to zoom; handovers are on their own line.";
  }
  async function handovers() {
    const rows = await CF.api("/handovers", args);
    document.getElementById("handovers").replaceChildren(rows.length ? CF.table(
      ["old", "new", "switch", "strength", "explanation"], rows, {cls: "handovers"})
      : CF.el("p", {text: "No handover from or to this subject's numbers."}));
  }
  async function contacts() {
    const r = await CF.api("/contacts", args);
    document.getElementById("contacts").replaceChildren(CF.result(r));
  }
  async function heat() {
    const r = await CF.api("/heat", args);
    const rows = Object.values(r.tables)[0] || [];
    const cols = rows.length ? Object.keys(rows[0]) : [];
    const max = Math.max(1, ...rows.flatMap((x) => cols.slice(1).map((c) => +x[c] || 0)));
    const t = CF.table(cols, rows, {cls: "heat"});
    t.querySelectorAll("tbody tr").forEach((tr) => {
      [...tr.children].slice(1).forEach((td) => {
        const v = +td.textContent || 0;
        td.style.background = `rgba(214, 39, 40, ${(v / max).toFixed(2)})`;
      });
    });
    document.getElementById("heat").replaceChildren(t);
  }
  // one after another: the node's store is opened by one analysis at a time anyway
  (async () => {
    for (const step of [timeline, handovers, contacts, heat]) {
      try { await step(); } catch (err) { CF.fail(err); }
    }
  })();
})();
