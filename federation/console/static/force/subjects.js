// Persons and seized devices of this node: each opens its page.
"use strict";
(async () => {
  if (!CF.page(["analyst"])) return;
  try {
    const s = await CF.api("/subjects");
    const show = (text) => {
      const has = (r) => !text || JSON.stringify(r).toLowerCase().includes(text.toLowerCase());
      document.getElementById("persons").replaceChildren(CF.table(
        ["person_id", "name", "dob", "devices"], s.persons.filter(has).slice(0, 500),
        {caption: "persons", cls: "persons",
         link: (r, c) => c === "person_id" ? `/console/subject?kind=person&id=${encodeURIComponent(r.person_id)}` : null}));
      document.getElementById("devices").replaceChildren(CF.table(
        ["device_id", "person_id", "number", "imei", "events"], s.devices.filter(has),
        {caption: "seized devices", cls: "devices",
         link: (r, c) => c === "device_id" ? `/console/subject?kind=device&id=${encodeURIComponent(r.device_id)}` : null}));
    };
    show("");
    document.getElementById("filter").addEventListener("input", (ev) => show(ev.target.value));
  } catch (err) { CF.fail(err); }
})();
