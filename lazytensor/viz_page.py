"""The HTML page of the graph visualizer (lazytensor/visualize.py fills in __TITLE__ and __TRACE__).

Plain JS and SVG, no network: a compound layered layout (longest-path layers, barycenter ordering):
each expanded kernel is laid out as a block, then blocks and loose nodes as units in layers of
their dependency DAG, so kernel frames never overlap. Big snapshots open with each kernel collapsed
to one box. Click a collapsed kernel to expand it and see its source; click an expanded kernel's
label to collapse it; hover a node for its IR line and the user's source line. Opened with `#selftest`, the page checks itself (clusters drawn,
a click expands one, no two kernel frames intersect with every kernel expanded, at each stage) and
writes the result as JSON into <pre id="selftest-result">.
"""

PAGE = r"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>__TITLE__</title>
<style>
body{margin:0;font:13px system-ui,sans-serif;display:flex;flex-direction:column;height:100vh}
header{padding:6px 10px;background:#223;color:#eee;display:flex;gap:8px;align-items:center;flex-wrap:wrap}
header button{background:#445;color:#eee;border:1px solid #667;border-radius:3px;padding:2px 8px;cursor:pointer}
header button.on{background:#6a8;color:#000}
#main{flex:1;display:flex;min-height:0}
#view{flex:1;overflow:auto;background:#fafafa}
#side{width:34%;overflow:auto;border-left:1px solid #ccc;padding:8px;font:12px monospace;white-space:pre;margin:0;background:#fff}
.node rect{fill:#fff;stroke:#557;rx:3}
.node.out rect{stroke:#c33;stroke-width:2}
.node.buf rect{fill:#eef}
.node text,.cluster text{font:11px monospace;pointer-events:none}
.node{cursor:pointer}
.cluster rect{fill:#e8f0ff;fill-opacity:.55;stroke:#58a}
.cluster.collapsed{cursor:pointer}
.cluster.collapsed rect{fill:#cfe0ff;fill-opacity:1}
.cluster.ghost rect{stroke-dasharray:5 3}
.cluster .lbl{cursor:pointer}
.edge{fill:none;stroke:#889;stroke-width:1}
</style></head><body>
<header><b>__TITLE__</b> <select id="flush"></select><span id="stages"></span><span id="info"></span></header>
<div id="main"><div id="view"><svg id="graph" xmlns="http://www.w3.org/2000/svg"></svg></div>
<pre id="side">Click a kernel to see its source, a node for its details.</pre></div>
<script type="application/json" id="trace">__TRACE__</script>
<script>
"use strict";
window.__errors = [];
window.addEventListener("error", e => window.__errors.push(String(e.message)));
const T0 = performance.now();
const T = JSON.parse(document.getElementById("trace").textContent);
const SVGNS = "http://www.w3.org/2000/svg";
const S = {f: T.flushes.length - 1, s: 0, expanded: new Set()};
const $ = id => document.getElementById(id);

function el(tag, attrs, parent) {
  const e = document.createElementNS(SVGNS, tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (parent) parent.appendChild(e);
  return e;
}
function stage() { return T.flushes[S.f].stages[S.s]; }

function pickStage(f, s) {
  S.f = f; S.s = s;
  const st = stage();
  S.expanded = new Set();
  if (st.nodes.length <= T.collapse_above) st.clusters.forEach((c, i) => S.expanded.add(i));
  draw();
}

function items(st) {
  // visible items: a node, or a whole collapsed cluster; edges between items
  const itemOf = st.nodes.map((n, i) => (n.k !== null && n.k !== undefined && !S.expanded.has(n.k)) ? "k" + n.k : "n" + i);
  const list = [], index = new Map();
  itemOf.forEach((it, i) => { if (!index.has(it)) { index.set(it, list.length); list.push({id: it, members: []}); } list[index.get(it)].members.push(i); });
  const edges = new Set();
  st.nodes.forEach((n, i) => n.srcs.forEach(s => { const a = index.get(itemOf[s]), b = index.get(itemOf[i]); if (a !== b) edges.add(a + "," + b); }));
  return {list, edges: [...edges].map(e => e.split(",").map(Number))};
}

function order(n, edges) {
  // longest-path layers (a cycle, possible between would-be kernels, is broken at its lowest
  // index), then two barycenter sweeps; deterministic: ties keep index order
  const preds = [], succs = [], indeg = new Array(n).fill(0);
  for (let i = 0; i < n; i++) { preds.push([]); succs.push([]); }
  edges.forEach(([a, b]) => { if (a === b) return; preds[b].push(a); succs[a].push(b); indeg[b]++; });
  const layer = new Array(n).fill(0), queue = [];
  indeg.forEach((d, i) => { if (!d) queue.push(i); });
  for (let q = 0, next = 0; ; ) {
    for (; q < queue.length; q++) { const a = queue[q]; for (const b of succs[a]) { layer[b] = Math.max(layer[b], layer[a] + 1); if (!--indeg[b]) queue.push(b); } }
    if (queue.length >= n) break;
    while (indeg[next] <= 0) next++;
    indeg[next] = 0; queue.push(next);
  }
  const layers = [];
  layer.forEach((l, i) => (layers[l] = layers[l] || []).push(i));
  for (let l = 0; l < layers.length; l++) layers[l] = layers[l] || [];
  const pos = new Array(n).fill(0);
  layers.forEach(L => L.forEach((i, j) => pos[i] = j));
  for (let sweep = 0; sweep < 2; sweep++) {
    for (const L of layers) {
      const bc = new Map();
      L.forEach(i => bc.set(i, preds[i].length ? preds[i].reduce((s, p) => s + pos[p], 0) / preds[i].length : pos[i]));
      L.sort((a, b) => bc.get(a) - bc.get(b) || pos[a] - pos[b]);
      L.forEach((i, j) => pos[i] = j);
    }
  }
  return layers;
}

const H = 34, VGAP = 30, HGAP = 14, CH = 7, UGAP = 24, PAD = 10, PADT = 26;

function layout(st, list, edges, box) {
  // compound layout: an expanded kernel's nodes are laid out in layers as one block; the blocks,
  // collapsed kernels and loose nodes are then laid out as units in layers of the unit DAG, so
  // kernel frames never overlap (each frame is its block's rectangle)
  const unitOf = new Array(list.length), units = [], ukey = new Map();
  list.forEach((it, i) => {
    const nd = st.nodes[it.members[0]];
    const key = (it.id[0] === "n" && nd.k !== null && nd.k !== undefined) ? "k" + nd.k : "i" + i;
    if (!ukey.has(key)) { ukey.set(key, units.length); units.push({k: key[0] === "k" ? nd.k : null, items: [], inner: []}); }
    unitOf[i] = ukey.get(key); units[unitOf[i]].items.push(i);
  });
  const local = new Array(list.length);
  units.forEach(u => u.items.forEach((i, j) => local[i] = j));
  const uedges = new Set();
  edges.forEach(([a, b]) => { const ua = unitOf[a], ub = unitOf[b]; if (ua === ub) units[ua].inner.push([local[a], local[b]]); else uedges.add(ua + "," + ub); });
  units.forEach(u => {
    if (u.k === null) { const b = box[u.items[0]]; b.rx = 0; b.ry = 0; u.w = b.w; u.h = b.h; return; }
    const rows = order(u.items.length, u.inner).map(L => L.map(j => u.items[j]));
    const rw = rows.map(L => L.reduce((s, i) => s + box[i].w, 0) + HGAP * Math.max(L.length - 1, 0));
    const inner = Math.max(...rw, st.clusters[u.k].name.length * CH + 8);
    u.w = inner + 2 * PAD; u.h = PADT + rows.length * (H + VGAP) - VGAP + PAD;
    rows.forEach((L, l) => { let x = PAD + (inner - rw[l]) / 2; L.forEach(i => { box[i].rx = x; box[i].ry = PADT + l * (H + VGAP); x += box[i].w + HGAP; }); });
  });
  const rows = order(units.length, [...uedges].map(e => e.split(",").map(Number)));
  const rw = rows.map(L => L.reduce((s, u) => s + units[u].w, 0) + UGAP * Math.max(L.length - 1, 0));
  const width = Math.max(0, ...rw) + 40;
  let y = 20;
  rows.forEach((L, l) => {
    let x = 20 + (width - 40 - rw[l]) / 2, rh = 0;
    L.forEach(ui => { const u = units[ui]; u.x = x; u.y = y; x += u.w + UGAP; rh = Math.max(rh, u.h); });
    y += rh + VGAP;
  });
  list.forEach((it, i) => { const u = units[unitOf[i]]; box[i].x = u.x + box[i].rx; box[i].y = u.y + box[i].ry; });
  const frames = new Map();
  units.forEach(u => { if (u.k !== null) frames.set(u.k, {x: u.x, y: u.y, w: u.w, h: u.h}); });
  return {frames, width, height: y + 20};
}

function label(st, it) {
  if (it.id[0] === "k") { const c = st.clusters[+it.id.slice(1)]; return [c.name, c.ops + " ops, [" + c.shape.join(",") + "]" + (c.reduce.length ? " reduce " + c.reduce.join(",") : "")]; }
  const nd = st.nodes[it.members[0]];
  return [nd.op, nd.type];
}

function draw() {
  const t0 = performance.now();
  const st = stage(), svg = $("graph");
  svg.textContent = "";
  const {list, edges} = items(st);
  const box = list.map((it, i) => { const [a, b] = label(st, it); return {w: Math.max(a.length, b.length) * CH + 16, h: H, a, b}; });
  const {frames, width, height} = layout(st, list, edges, box);
  const gC = el("g", {}, svg), gE = el("g", {}, svg), gN = el("g", {}, svg);
  const outs = new Set(st.outputs);
  // expanded clusters: their block's frame
  frames.forEach((f, k) => {
    const c = st.clusters[k];
    const g = el("g", {class: "cluster expanded" + (c.real ? "" : " ghost"), "data-k": k}, gC);
    el("rect", {x: f.x, y: f.y, width: f.w, height: f.h}, g);
    const t = el("text", {x: f.x + 6, y: f.y + 15, class: "lbl"}, g); t.textContent = c.name;
    g.addEventListener("click", ev => { ev.stopPropagation(); S.expanded.delete(k); showKernel(st, k); draw(); });
  });
  edges.forEach(([a, b]) => { const A = box[a], B = box[b]; const x1 = A.x + A.w / 2, y1 = A.y + A.h, x2 = B.x + B.w / 2, y2 = B.y; el("path", {class: "edge", d: `M${x1},${y1} C${x1},${y1 + 20} ${x2},${y2 - 20} ${x2},${y2}`}, gE); });
  list.forEach((it, i) => {
    const b = box[i];
    if (it.id[0] === "k") {
      const k = +it.id.slice(1), c = st.clusters[k];
      const g = el("g", {class: "cluster collapsed" + (c.real ? "" : " ghost"), "data-k": k}, gN);
      el("rect", {x: b.x, y: b.y, width: b.w, height: b.h}, g);
      el("title", {}, g).textContent = c.name + " (click to expand)";
      g.addEventListener("click", () => { S.expanded.add(k); showKernel(st, k); draw(); });
      texts(g, b);
      return;
    }
    const id = it.members[0], nd = st.nodes[id];
    const g = el("g", {class: "node" + (outs.has(id) ? " out" : "") + (nd.op === "BUFFER" ? " buf" : ""), "data-n": id}, gN);
    el("rect", {x: b.x, y: b.y, width: b.w, height: b.h}, g);
    el("title", {}, g).textContent = nd.text + (nd.loc ? "\nbuilt at " + nd.loc : "");
    g.addEventListener("click", () => showNode(st, id));
    texts(g, b);
  });
  svg.setAttribute("width", width); svg.setAttribute("height", height); svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  $("info").textContent = `${st.nodes.length} nodes, ${st.clusters.length} kernels, ${list.length} boxes drawn in ${(performance.now() - t0).toFixed(0)} ms`;
  document.querySelectorAll("#stages button").forEach((bt, j) => bt.classList.toggle("on", j === S.s));
}

function texts(g, b) {
  const t1 = el("text", {x: b.x + 8, y: b.y + 14}, g); t1.textContent = b.a;
  const t2 = el("text", {x: b.x + 8, y: b.y + 28}, g); t2.textContent = b.b;
}

function showKernel(st, k) {
  const c = st.clusters[k];
  $("side").textContent = `${c.name}\niteration shape [${c.shape}]${c.reduce.length ? ", reduces axes " + c.reduce : ""}, ${c.ops} ops, ${c.inputs} inputs\n\n${c.source}`;
}
function showNode(st, i) {
  const nd = st.nodes[i];
  const k = (nd.k !== null && nd.k !== undefined) ? "\nin kernel " + st.clusters[nd.k].name : "";
  $("side").textContent = `${nd.text}\nbuilt at ${nd.loc || "<unknown>"}${k}`;
}

function setup() {
  const sel = $("flush");
  T.flushes.forEach((f, i) => { const o = document.createElement("option"); o.value = i; o.textContent = f.label + (f.count > 1 ? ` (x${f.count})` : ""); sel.appendChild(o); });
  sel.value = S.f;
  sel.addEventListener("change", () => { buildStageButtons(); pickStage(+sel.value, T.flushes[+sel.value].stages.length - 1); });
  buildStageButtons();
  if (!T.flushes.length) { $("side").textContent = "The trace holds no flush."; return; }
  pickStage(S.f, T.flushes[S.f].stages.length - 1);
}
function buildStageButtons() {
  const span = $("stages"); span.textContent = "";
  const f = +$("flush").value || 0;
  (T.flushes[f] ? T.flushes[f].stages : []).forEach((st, j) => { const b = document.createElement("button"); b.textContent = st.name; b.addEventListener("click", () => pickStage(f, j)); span.appendChild(b); });
}

function frameCheck() {
  // cluster rectangles drawn (expanded frames and collapsed boxes): how many, how many pairs
  // intersect (sweep over x), how many nodes of an expanded kernel lie outside its frame
  const R = [...document.querySelectorAll("#graph .cluster > rect")].map(e => { const x = +e.getAttribute("x"), y = +e.getAttribute("y"); return [x, y, x + +e.getAttribute("width"), y + +e.getAttribute("height")]; });
  R.sort((a, b) => a[0] - b[0]);
  let overlaps = 0, outside = 0;
  for (let i = 0; i < R.length; i++) for (let j = i + 1; j < R.length && R[j][0] < R[i][2]; j++) if (R[j][1] < R[i][3] && R[i][1] < R[j][3]) overlaps++;
  const st = stage(), F = new Map();
  document.querySelectorAll("#graph .cluster.expanded").forEach(g => { const e = g.querySelector("rect"), x = +e.getAttribute("x"), y = +e.getAttribute("y"); F.set(+g.getAttribute("data-k"), [x, y, x + +e.getAttribute("width"), y + +e.getAttribute("height")]); });
  document.querySelectorAll("#graph .node").forEach(g => {
    const k = st.nodes[+g.getAttribute("data-n")].k, f = F.get(k);
    if (f === undefined) return;
    const e = g.querySelector("rect"), x = +e.getAttribute("x"), y = +e.getAttribute("y");
    if (x < f[0] || y < f[1] || x + +e.getAttribute("width") > f[2] || y + +e.getAttribute("height") > f[3]) outside++;
  });
  return {frames: R.length, expanded: F.size, overlaps, outside};
}

function selftest() {
  const r = {load_ms: Math.round(performance.now() - T0), flushes: T.flushes.length, stages: T.flushes.length ? T.flushes[S.f].stages.length : 0};
  S.expanded = new Set(); draw();
  r.clusters = document.querySelectorAll("#graph .cluster.collapsed").length;
  r.nodes_collapsed = document.querySelectorAll("#graph .node").length;
  const c = document.querySelector("#graph .cluster.collapsed");
  if (c) c.dispatchEvent(new MouseEvent("click", {bubbles: true}));
  r.nodes_after_click = document.querySelectorAll("#graph .node").length;
  r.expanded_after_click = document.querySelectorAll("#graph .cluster.expanded").length;
  r.side = $("side").textContent.split("\n")[0];
  r.after_click = frameCheck();
  // every kernel expanded: no two frames may intersect, and each node sits inside its own frame
  T.flushes[S.f].stages.forEach((st, j) => { S.s = j; S.expanded = new Set(st.clusters.map((c, i) => i)); draw(); r["expanded_" + j] = frameCheck(); });
  if (T.flushes.length) pickStage(S.f, T.flushes[S.f].stages.length - 1);
  r.errors = window.__errors;
  const pre = document.createElement("pre"); pre.id = "selftest-result"; pre.textContent = JSON.stringify(r); document.body.appendChild(pre);
}

setup();
if (location.hash.indexOf("selftest") >= 0) selftest();
</script></body></html>
"""
