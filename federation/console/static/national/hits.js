// A liaison's own force's hits. The API answers for the caller's own force only; a URL
// naming another force is refused here too, so nobody mistakes whose hits these are.
"use strict";
(async () => {
  const s = CF.page(["liaison"]);
  if (!s) return;
  const asked = CF.param("force");
  if (asked && asked !== s.force) {
    CF.fail(new Error(`A liaison of ${s.force} sees ${s.force}'s hits only, not ${asked}'s.`));
    document.querySelector("main").hidden = true;
    return;
  }
  document.getElementById("title").textContent = `${s.force}: our hits`;
  try {
    const rows = await CF.api("/hits");
    document.getElementById("hits").replaceChildren(rows.length ? CF.table(
      Object.keys(rows[0]), rows) : CF.el("p", {text: "No hits for your force."}));
  } catch (err) { CF.fail(err); }
})();
