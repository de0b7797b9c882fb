// Timelines with vis-timeline: one theme line (group) per device or person, events on it.
"use strict";

const Timeline = (() => {
  function draw(container, {groups, items}) {
    // open on the span of the events (not on today), with a little room either side
    const times = items.map((i) => Date.parse(i.start)).filter((x) => !Number.isNaN(x));
    const lo = Math.min(...times), hi = Math.max(...times), pad = Math.max(864e5, (hi - lo) / 20);
    const t = new vis.Timeline(container, new vis.DataSet(items), new vis.DataSet(groups), {
      start: times.length ? new Date(lo - pad) : undefined,
      end: times.length ? new Date(hi + pad) : undefined,
      stack: false, zoomKey: "ctrlKey", maxHeight: 520, orientation: "top",
      cluster: items.length > 400 ? {maxItems: 3, titleTemplate: "{count} events"} : false,
      tooltip: {followMouse: true}, selectable: true,
    });
    container.dataset.items = String(items.length);
    window.timeline = t;
    return t;
  }
  return {draw};
})();
