// National aggregates and recording consistency per force (the forces' released counts).
"use strict";
(async () => {
  if (!CF.page(["analyst", "auditor"])) return;
  try {
    const recording = await CF.api("/recording");
    document.getElementById("recording-chart").replaceChildren(CF.bars(
      recording.filter((r) => r.recording_accuracy !== null).map((r) => ({
        label: r.force, value: Math.round(r.recording_accuracy * 100)})),
      {title: "recording accuracy: cases meeting R3 that the force flagged (%)"}));
    document.getElementById("recording").replaceChildren(CF.table(
      ["force", "r3_cases", "r3_flagged", "recording_accuracy", "r3_not_flagged",
       "flagged_failing_r1", "r3_suspect_ethnicity_blank_rate",
       "r3_suspect_nationality_blank_rate", "suppressed"], recording));
    const rows = await CF.api("/aggregates");
    document.getElementById("aggregates").replaceChildren(CF.table(
      ["table", "cell", "count", "forces", "forces_suppressed", "method"],
      rows.slice(0, 500)));
  } catch (err) { CF.fail(err); }
})();
