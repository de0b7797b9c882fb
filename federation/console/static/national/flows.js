// Data flows for the auditor: per force and day what left each node and what the
// coordinator received, hits sent back, consultations by actor and purpose, ledger check.
"use strict";
(() => {
  if (!CF.page(["auditor"])) return;
  const form = document.getElementById("window");
  const iso = (d) => d.toISOString().slice(0, 10);
  form.day.value = iso(new Date());

  async function show() {
    const day = form.day.value, days = form.days.value;
    const [f, check] = await Promise.all([CF.api("/flows", {last: day, days}),
                                          CF.api("/ledger/verify")]);
    const v = document.getElementById("verify");
    v.replaceChildren(CF.el("span", {class: check.ok ? "ok" : "bad",
                                     text: check.ok ? "coordinator ledger OK" :
                                       `coordinator ledger FAILED: ${check.problems.length} problem(s)`}),
      ` — ${check.entries} entries, chain and signatures checked; head ${check.head.slice(0, 16)}…. ` +
      "Each node checks its own ledger and matches its disclosures with these receipts " +
      "(crossforce audit verify --receipts).");
    for (const problem of check.problems) v.append(CF.el("div", {class: "bad", text: problem}));
    const fed = check.federation;
    if (fed) {  // both ends: every node's ledger and this one, as `audit verify --record` kept it
      const failed = fed.findings.length;
      v.append(CF.el("div", {id: "verify-federation", class: fed.ok ? "ok" : "bad",
        text: (fed.ok ? "all ledgers OK at both ends" :
               `ledgers FAILED at both ends: ${failed} finding(s)`) +
              ` — nodes ${fed.nodes.join(", ")} and the coordinator, checked ${fed.verified_at}` +
              " (crossforce audit verify --federation --record)"}));
      for (const f of fed.findings) {
        v.append(CF.el("div", {class: "bad", text: Object.values(f).join(" · ")}));
      }
    } else {
      v.append(CF.el("div", {id: "verify-federation", class: "bad",
        text: "the nodes' ledgers have not been checked against this one yet: run " +
              "crossforce audit verify --federation DIR --record"}));
    }
    const of = (flow, key) => f.daily.filter((r) => r.flow === flow)
      .map((r) => ({day: r.day, series: r.force, value: r[key]}));
    document.getElementById("chart-sent").replaceChildren(CF.daily(
      of("sent by node", "items"), {title: "identifiers sent by each node (by the day sealed)"}));
    document.getElementById("chart-received").replaceChildren(CF.daily(
      of("received by coordinator", "items"),
      {title: "identifiers the coordinator received (by the day received)"}));
    document.getElementById("chart-hits").replaceChildren(CF.daily(
      of("hits sent to force", "items"), {title: "hits sent back to each force"}));
    document.getElementById("day-title").textContent = `${day}: flows per force`;
    const today = f.daily.filter((r) => r.day === day);
    document.getElementById("day").replaceChildren(today.length ? CF.table(
      ["force", "flow", "payloads", "items", "links", "aggregates", "bytes"], today,
      {cls: "day-flows"}) : CF.el("p", {text: `No flows on ${day}.`}));
    document.getElementById("chart-consultations").replaceChildren(CF.bars(
      f.consultations.slice(0, 15).map((c) => ({label: `${c.actor} · ${c.purpose}`.slice(0, 40),
                                                value: c.consultations})),
      {title: "consultations by actor and purpose"}));
    document.getElementById("consultations").replaceChildren(CF.table(
      ["actor", "purpose", "consultations", "first", "last"], f.consultations));
  }
  form.addEventListener("submit", (ev) => { ev.preventDefault(); show().catch(CF.fail); });
  document.getElementById("yesterday").addEventListener("click", () => {
    form.day.value = iso(new Date(Date.now() - 864e5)); show().catch(CF.fail);
  });
  show().catch(CF.fail);
})();
