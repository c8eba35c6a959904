/**
 * The live view's single HTML page: no build step, no external assets. It
 * fetches `stats` once, then follows `events` (server-sent events) and
 * draws the containers, their links, per-method figures and a sequence
 * diagram of recent calls. Every text from the system (paths, addresses,
 * class names) is inserted with `textContent`, never parsed as HTML: paths
 * come from peers.
 *
 * @module
 */

/** The page served at the inspector's root. */
export const INSPECTOR_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>aiomas live view</title>
<style>
  :root { --fg: #1d2430; --muted: #6b7687; --line: #d9dee6; --ok: #2f7d4f; --err: #c0392b;
          --accent: #2a5db0; font-family: system-ui, sans-serif; color: var(--fg); }
  body { margin: 0; background: #f6f7f9; }
  header { background: #1d2430; color: #fff; padding: 10px 18px; display: flex; gap: 24px;
           align-items: baseline; }
  header h1 { font-size: 17px; margin: 0; }
  header span { color: #b8c2d3; font-size: 13px; }
  main { padding: 14px 18px; display: grid; gap: 14px;
         grid-template-columns: minmax(420px, 1fr) minmax(420px, 1.2fr); }
  section { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; }
  h2 { font-size: 14px; margin: 0 0 8px; }
  h3 { font-size: 13px; margin: 10px 0 4px; color: var(--accent); word-break: break-all; }
  table { border-collapse: collapse; width: 100%; font-size: 12px; }
  th, td { text-align: left; padding: 2px 6px; border-bottom: 1px solid var(--line); }
  td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
  .muted { color: var(--muted); font-size: 12px; }
  .agents { font-size: 12px; display: flex; flex-wrap: wrap; gap: 4px; }
  .agent { background: #eef2f8; border-radius: 3px; padding: 1px 5px; }
  .err { color: var(--err); }
  #diagram { overflow-x: auto; }
  #diagram text { font-size: 11px; font-family: system-ui, sans-serif; }
  #state.offline { color: #ffb4a8; }
</style>
</head>
<body>
<header><h1>aiomas live view</h1><span id="root"></span><span id="state">connecting</span></header>
<main>
  <div id="containers"></div>
  <div>
    <section><h2>Calls between agents (most recent last)</h2>
      <div id="diagram" class="muted">No calls recorded yet.</div></section>
  </div>
</main>
<script>
"use strict";
const params = new URLSearchParams(location.search);
const query = params.has("token") ? "?token=" + encodeURIComponent(params.get("token")) : "";
const previous = new Map();   // container addr -> last stats (for rates)
const calls = new Map();      // container addr + seq -> call
const MAX_CALLS = 40;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}
function svg(tag, attrs, text) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}
function ms(seconds) {
  return seconds < 0.001 ? (seconds * 1e6).toFixed(0) + " µs" : (seconds * 1000).toFixed(2) + " ms";
}
function bytes(n) {
  return n < 1024 ? n + " B" : n < 1048576 ? (n / 1024).toFixed(1) + " KiB"
    : (n / 1048576).toFixed(1) + " MiB";
}
// Calls per second of a path (in direction dir) since the snapshot before.
function rate(now, before, dir, path) {
  if (!before) return "";
  const dt = (now.now - before.now) / 1000;
  const old = before.calls[dir].find((p) => p.path === path.path);
  return dt > 0 ? ((path.count - (old ? old.count : 0)) / dt).toFixed(1) + "/s" : "";
}

function renderContainer(stats) {
  const before = previous.get(stats.addr);
  const box = el("section", { "data-container": stats.addr });
  box.append(el("h2", {}, "Container ", stats.addr));
  const clock = stats.clock;
  box.append(el("div", { class: "muted" },
    "clock time " + clock.time.toFixed(3) + " s · timers pending " +
    (clock.pendingTimers ?? "n/a") + " · " + stats.agents.count + " agents · " +
    stats.connections.length + " connections"));
  const agents = el("div", { class: "agents" });
  for (const agent of stats.agents.list) {
    agents.append(el("span", { class: "agent", "data-agent": stats.addr + agent.id },
      agent.id + " " + agent.type));
  }
  if (stats.agents.count > stats.agents.list.length) {
    agents.append(el("span", { class: "muted" }, "+" + (stats.agents.count - stats.agents.list.length)));
  }
  box.append(el("h3", {}, "Agents"), agents);
  if (stats.connections.length > 0) {
    const table = el("table", {}, el("tr", {}, el("th", {}, "link"), el("th", {}, "peer"),
      el("th", { class: "n" }, "in"), el("th", { class: "n" }, "out"), el("th", { class: "n" }, "out/s"),
      el("th", { class: "n" }, "queued"), el("th", { class: "n" }, "pending")));
    for (const link of stats.connections) {
      const old = before && before.connections.find((c) => c.peer === link.peer);
      const dt = before ? (stats.now - before.now) / 1000 : 0;
      const outRate = old && dt > 0 ? bytes(Math.round((link.bytesOut - old.bytesOut) / dt)) + "/s" : "";
      table.append(el("tr", { "data-link": link.peer }, el("td", {}, link.kind), el("td", {}, link.peer),
        el("td", { class: "n" }, bytes(link.bytesIn)), el("td", { class: "n" }, bytes(link.bytesOut)),
        el("td", { class: "n" }, outRate), el("td", { class: "n" }, bytes(link.queuedBytes)),
        el("td", { class: "n" }, link.pendingCalls)));
    }
    box.append(el("h3", {}, "Links"), table);
  }
  const table = el("table", {}, el("tr", {}, el("th", {}, ""), el("th", {}, "path"),
    el("th", { class: "n" }, "calls"), el("th", { class: "n" }, "rate"), el("th", { class: "n" }, "errors"),
    el("th", { class: "n" }, "p50"), el("th", { class: "n" }, "p99")));
  for (const dir of ["in", "out"]) {
    for (const path of stats.calls[dir]) {
      table.append(el("tr", { "data-path": dir + " " + path.path }, el("td", {}, dir),
        el("td", {}, path.path), el("td", { class: "n" }, path.count),
        el("td", { class: "n" }, rate(stats, before, dir, path)),
        el("td", { class: path.errors ? "n err" : "n" }, path.errors),
        el("td", { class: "n" }, ms(path.p50)), el("td", { class: "n" }, ms(path.p99))));
    }
  }
  box.append(el("h3", {}, "Methods"), table);
  if (stats.error) box.append(el("div", { class: "err" }, stats.error));
  previous.set(stats.addr, stats);
  return box;
}

function participantOf(call, side) {
  // The caller of an outgoing call is its container (calls do not carry the
  // calling agent); the callee is the agent named by the path.
  if (side === "from") return call.direction === "out" ? call.container : call.peer;
  const match = /^agents\\/([^/]+)/.exec(call.path);
  let target = call.direction === "out" ? call.peer : call.container;
  if (!target.endsWith("/")) target += "/";
  return match ? target + match[1] : target;
}

// A call between two containers of this view is recorded by both: draw the
// caller's record, and incoming calls only of containers nobody here calls.
function drawnCalls() {
  const called = new Set();
  for (const call of calls.values()) {
    if (call.direction === "out") called.add(call.peer.endsWith("/") ? call.peer : call.peer + "/");
  }
  return [...calls.values()].filter((call) => call.direction === "out" || !called.has(call.container));
}

// Housekeeping calls (the view's own polling, connection checks) are not drawn.
const HOUSEKEEPING = /^(validate_aid|agents\\/0\\/stats)$/;
const types = new Map(); // agent address -> class name

function renderDiagram() {
  const recent = drawnCalls().filter((call) => !HOUSEKEEPING.test(call.path))
    .sort((a, b) => a.time - b.time).slice(-MAX_CALLS);
  const box = document.getElementById("diagram");
  if (recent.length === 0) return;
  const names = [];
  for (const call of recent) {
    for (const side of ["from", "to"]) {
      const name = participantOf(call, side);
      if (!names.includes(name)) names.push(name);
    }
  }
  const fit = Math.floor((box.clientWidth - 20) / names.length);
  const column = Math.max(110, Math.min(180, fit)), row = 22, top = 52;
  const width = Math.max(300, names.length * column + 20);
  const height = top + recent.length * row + 20;
  const root = svg("svg", { width, height, role: "img", "aria-label": "sequence diagram" });
  const short = (text) => text.length > 22 ? "…" + text.slice(-21) : text;
  names.forEach((name, i) => {
    const x = 10 + i * column + column / 2;
    root.append(svg("line", { x1: x, y1: 38, x2: x, y2: height - 6, stroke: "#c5ccd8" }));
    const label = svg("text", { x, y: 14, "text-anchor": "middle", "data-participant": name });
    label.append(svg("tspan", { x, "font-weight": "bold" }, types.get(name) ?? "container"));
    label.append(svg("tspan", { x, dy: 14 }, short(name.replace(/^[a-z]+:\\/\\//, ""))));
    root.append(label);
  });
  recent.forEach((call, i) => {
    const from = 10 + names.indexOf(participantOf(call, "from")) * column + column / 2;
    const to = 10 + names.indexOf(participantOf(call, "to")) * column + column / 2;
    const y = top + i * row;
    const color = call.ok ? "#2a5db0" : "#c0392b";
    const dir = to >= from ? 1 : -1;
    root.append(svg("line", { x1: from, y1: y, x2: to - dir * 6, y2: y, stroke: color }));
    root.append(svg("path", { d: "M" + to + " " + y + " l" + (-dir * 7) + " -4 v8 z", fill: color }));
    const method = call.path.split("/").pop();
    root.append(svg("text", { x: (from + to) / 2, y: y - 4, "text-anchor": "middle", fill: color,
      "data-call": call.path }, method + " (" + ms(call.seconds) + (call.ok ? "" : ", failed") + ")"));
  });
  box.replaceChildren(root);
  box.classList.remove("muted");
}

function render(snapshot) {
  for (const stats of snapshot.containers) {
    for (const agent of stats.agents.list) types.set(stats.addr + agent.id, agent.type);
  }
  document.getElementById("root").textContent = snapshot.containers[0]?.addr ?? "";
  document.getElementById("containers").replaceChildren(...snapshot.containers.map(renderContainer));
  for (const call of snapshot.calls) calls.set(call.container + "#" + call.seq, call);
  while (calls.size > 4 * MAX_CALLS) calls.delete(calls.keys().next().value);
  renderDiagram();
}

fetch("stats" + query).then((response) => response.json()).then(render).catch(() => {});
const events = new EventSource("events" + query);
const state = document.getElementById("state");
events.addEventListener("snapshot", (event) => {
  state.textContent = "live";
  state.className = "";
  render(JSON.parse(event.data));
});
events.onerror = () => { state.textContent = "offline"; state.className = "offline"; };
</script>
</body>
</html>
`;
