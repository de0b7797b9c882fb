// Timelines with vis-timeline: one theme line (group) per device or person, events on it.
"use strict";

const Timeline = (() => {
  function draw(container, {groups, items}) {
    const t = new vis.Timeline(container, new vis.DataSet(items), new vis.DataSet(groups), {
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
