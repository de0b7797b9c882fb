// The console's shared script: the session (key, purpose, justification kept in this tab
// only), the JSON API called with them, navigation per role, tables and small charts.
// The server enforces who may see what; this script only asks and shows.
"use strict";

const CF = (() => {
  const body = document.body;
  const API = body.dataset.api;            // "/v1" (national) or "/api" (force)
  const KIND = body.dataset.console;       // "national" or "force"
  const STORE = `crossforce-${KIND}`;
  const NAV = {
    national: {
      analyst: [["networks", "Networks"], ["pairs", "Force pairs"],
                ["aggregates", "National aggregates"]],
      liaison: [["hits", "Our hits"]],
      auditor: [["flows", "Data flows"], ["aggregates", "National aggregates"]],
      admin: [["users", "Users"]],
    },
    force: {analyst: [["subjects", "Persons and devices"], ["chart", "Link chart"],
                      ["cse", "CSE definition"], ["review", "Review list"],
                      ["hits", "Hits received"]]},
  }[KIND];

  function session() {
    try { return JSON.parse(sessionStorage.getItem(STORE)) || null; } catch { return null; }
  }

  function el(tag, attrs = {}, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") e.className = v; else if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c));
    return e;
  }

  function fail(err) {
    const box = document.getElementById("error");
    if (box) { box.textContent = err.message || String(err); box.hidden = false; }
    if (err.status === 401) { sessionStorage.removeItem(STORE); }
  }

  async function api(path, params = {}, s = session()) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) {
      if (v !== null && v !== undefined && v !== "") q.append(k, v);
    }
    const headers = {"Authorization": `Bearer ${s.key}`, "X-Justification": s.justification};
    if (s.purpose) headers["X-Purpose"] = s.purpose;
    const reply = await fetch(`${API}${path}${q.toString() ? "?" + q : ""}`, {headers});
    const data = await reply.json().catch(() => ({}));
    if (!reply.ok) {
      const e = new Error((data.error && data.error.message) || `HTTP ${reply.status}`);
      e.status = reply.status;
      throw e;
    }
    return data;
  }

  // A page: the session, or back to the login; a role the page does not serve is told so
  // (the API would refuse it anyway).
  function page(roles) {
    const s = session();
    if (!s) { location.replace("/console/login"); return null; }
    const nav = document.getElementById("nav");
    const here = location.pathname.split("/").pop();
    nav.append(el("strong", {text: KIND === "national" ? "crossforce national console"
                                                        : `crossforce force console · ${s.force}`}));
    for (const [href, label] of NAV[s.role] || []) {
      nav.append(el("a", {href: `/console/${href}`, class: href === here ? "here" : "",
                          text: label}));
    }
    nav.append(el("span", {class: "who", text: `${s.name} (${s.role_spec || s.role})` +
                                               (s.purpose ? ` · purpose ${s.purpose}` : "")}));
    nav.append(el("a", {href: "#", id: "logout", text: "Log out", onclick: (ev) => {
      ev.preventDefault(); sessionStorage.removeItem(STORE); location.replace("/console/login");
    }}));
    if (!roles.includes(s.role)) {
      fail(new Error(`The ${s.role_spec || s.role} role may not open this page.`));
      document.querySelector("main").hidden = true;
      return null;
    }
    return s;
  }

  async function login(form) {
    const s = {key: form.key.value.trim(), justification: form.justification.value.trim(),
               purpose: form.purpose ? form.purpose.value.trim() : ""};
    const me = await api("/me", {}, s);
    Object.assign(s, {role: me.role, role_spec: me.force ? `${me.role}:${me.force}` : me.role,
                      name: me.name, force: me.force});
    sessionStorage.setItem(STORE, JSON.stringify(s));
    const first = (NAV[s.role] || [["login"]])[0][0];
    location.assign(`/console/${first}`);
  }

  function fmt(v) {
    if (v === null || v === undefined) return "";
    if (Array.isArray(v)) return v.map(fmt).join(", ");
    if (typeof v === "object") return JSON.stringify(v);
    if (typeof v === "number" && !Number.isInteger(v)) return v.toFixed(3);
    return String(v);
  }

  // A table of objects; `link(row, column)` may return an href for a cell.
  function table(columns, rows, {link, caption, cls} = {}) {
    const t = el("table", {class: cls || ""});
    if (caption) t.append(el("caption", {text: caption}));
    t.append(el("thead", {}, el("tr", {}, ...columns.map((c) => el("th", {text: c})))));
    const tb = el("tbody");
    for (const r of rows) {
      tb.append(el("tr", {}, ...columns.map((c) => {
        const href = link && link(r, c);
        const text = fmt(r[c]);
        return el("td", {}, href ? el("a", {href, text}) : text);
      })));
    }
    t.append(tb);
    return t;
  }

  const SVG = "http://www.w3.org/2000/svg";
  function svg(tag, attrs = {}, text) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // Horizontal bars: rows of {label, value}; one bar each, the value written beside it.
  function bars(rows, {title, width = 560, colour = "#3465a4"} = {}) {
    const max = Math.max(1, ...rows.map((r) => r.value));
    const h = 22, left = 220;
    const s = svg("svg", {width, height: rows.length * h + 28, class: "chart bars"});
    if (title) s.append(svg("text", {x: 0, y: 14, class: "title"}, title));
    rows.forEach((r, i) => {
      const y = 24 + i * h, w = Math.max(1, (width - left - 60) * r.value / max);
      s.append(svg("text", {x: left - 6, y: y + 13, "text-anchor": "end"}, r.label));
      s.append(svg("rect", {x: left, y, width: w, height: h - 6, fill: r.colour || colour,
                            "data-label": r.label, "data-value": r.value}));
      s.append(svg("text", {x: left + w + 4, y: y + 13}, fmt(r.value)));
    });
    return s;
  }

  // Columns per day, stacked by series (e.g. force): rows of {day, series, value}.
  function daily(rows, {title, width = 760, height = 220} = {}) {
    const days = [...new Set(rows.map((r) => r.day))].sort();
    const series = [...new Set(rows.map((r) => r.series))].sort();
    const totals = days.map((d) => rows.filter((r) => r.day === d)
                                       .reduce((a, r) => a + r.value, 0));
    const max = Math.max(1, ...totals);
    const s = svg("svg", {width, height: height + 60, class: "chart daily"});
    if (title) s.append(svg("text", {x: 0, y: 14, class: "title"}, title));
    const left = 50, top = 24, bw = Math.max(4, Math.min(40, (width - left) / days.length - 4));
    s.append(svg("text", {x: left - 6, y: top + 10, "text-anchor": "end"}, fmt(max)));
    s.append(svg("line", {x1: left, y1: top + height, x2: width, y2: top + height,
                          stroke: "#888"}));
    days.forEach((d, i) => {
      let y = top + height;
      const x = left + 4 + i * (bw + 4);
      for (const name of series) {
        const v = rows.filter((r) => r.day === d && r.series === name)
                      .reduce((a, r) => a + r.value, 0);
        if (!v) continue;
        const hgt = height * v / max;
        y -= hgt;
        const rect = svg("rect", {x, y, width: bw, height: hgt, fill: colour(name),
                                  "data-day": d, "data-series": name, "data-value": v});
        rect.append(svg("title", {}, `${d} · ${name}: ${v}`));
        s.append(rect);
      }
      if (days.length <= 16 || i % Math.ceil(days.length / 16) === 0) {
        s.append(svg("text", {x: x + bw / 2, y: top + height + 14, "text-anchor": "middle",
                              class: "tick"}, d.slice(5)));
      }
    });
    series.forEach((name, i) => {
      const x = left + (i % 4) * 180, y = top + height + 30 + Math.floor(i / 4) * 16;
      s.append(svg("rect", {x, y: y - 9, width: 10, height: 10, fill: colour(name)}));
      s.append(svg("text", {x: x + 14, y}, name));
    });
    return s;
  }

  // A fixed colour per name (forces, communities), the same on every page.
  const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                   "#e377c2", "#17becf", "#bcbd22", "#7f7f7f", "#393b79", "#637939"];
  function colour(name) {
    let h = 0;
    for (const ch of String(name)) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
    return PALETTE[h % PALETTE.length];
  }

  // An analysis result of the node (summary, tables, notes), as tables.
  function result(json, {only} = {}) {
    const box = el("div", {class: "result"});
    const summary = Object.entries(json.summary || {})
      .map(([k, v]) => `${k.replace(/_/g, " ")}: ${fmt(v)}`).join(" · ");
    if (summary) box.append(el("p", {class: "summary", text: summary}));
    for (const [title, rows] of Object.entries(json.tables || {})) {
      if (only && !only.includes(title)) continue;
      const columns = rows.length ? Object.keys(rows[0]) : [];
      box.append(el("h3", {text: title}));
      box.append(rows.length ? table(columns, rows.slice(0, 200)) : el("p", {text: "none"}));
    }
    for (const n of json.notes || []) box.append(el("p", {class: "note", text: n}));
    return box;
  }

  function param(name) { return new URLSearchParams(location.search).get(name); }

  return {api, page, login, fail, table, bars, daily, colour, result, el, param, session,
          fmt, KIND};
})();

// The login form, when the page has one.
const loginForm = document.getElementById("login");
if (loginForm) {
  loginForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    CF.login(loginForm).catch(CF.fail);
  });
}
