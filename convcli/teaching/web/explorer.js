// convcli's convolution explorer. Every number and every window comes from Python
// (the arithmetic of `convcli conv --steps`) in the JSON block above; this script
// only shows it: which cells to light for a frame, and what text to print.
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
const $ = (id) => document.getElementById(id);
const state = { frame: 0, view: "gather", hover: null, pin: null, timer: null };
const key = (c) => c.join(",");
const cells = { in: new Map(), out: new Map(), k: new Map() };

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

// One plane: a grid of cells, registered by (plane, row, col) for lighting later.
function plane(parent, label, rows, kinds, registry, cls, plane_index, target) {
  const box = el("div", "plane");
  box.appendChild(el("h3", "", label));
  const grid = el("div", "grid");
  grid.style.gridTemplateColumns = `repeat(${rows[0].length}, var(--cell))`;
  rows.forEach((row, r) => row.forEach((text, c) => {
    const kind = kinds ? kinds[r][c] : "";
    const cell = el("div", `cell ${cls} ${kind}`, text);
    if (text.length > 3) cell.classList.add("long");
    Object.assign(cell.dataset, { plane: plane_index, r, c });
    if (target) {
      cell.addEventListener("mouseenter", () => { state.hover = target(plane_index, r, c); show(); });
      cell.addEventListener("mouseleave", () => { state.hover = null; show(); });
      cell.addEventListener("click", () => {
        const t = target(plane_index, r, c);
        state.pin = state.pin && key(state.pin) === key(t) ? null : t;
        show();
      });
    }
    registry.set(key([plane_index, r, c]), cell);
    grid.appendChild(cell);
  }));
  box.appendChild(grid);
  parent.appendChild(box);
}

function build() {
  document.title = D.title;
  $("title").textContent = D.title;
  $("formula").textContent = D.formula;
  $("input-label").textContent = D.labels.input;
  $("kernel-label").textContent = D.labels.kernel;
  $("output-label").textContent = D.labels.output;
  document.body.style.setProperty("--cell", `${D.cell}px`);
  document.body.style.setProperty("--font", `${D.font}px`);
  if (D.layout === "above") $("stage").classList.add("above");
  D.inputs.forEach((rows, p) =>
    plane($("inputs"), D.labels.planes[p], rows, D.grid, cells.in, "in", p,
          (q, r, c) => (D.scatter[key([q, r, c])] ? ["in", q, r, c] : null)));
  D.kernels.forEach((block, f) => {
    const filter = el("div", "filter");  // one filter: its planes side by side
    block.forEach((rows, p) =>
      plane(filter, D.labels.kernels[f][p], rows, null, cells.k, "k", `${f}.${p}`));
    $("kernels").appendChild(filter);
  });
  D.outputs.forEach((rows, f) =>
    plane($("outputs"), D.labels.outputs[f], rows, null, cells.out, "out", f,
          (g, r, c) => ["out", g, r, c]));
  for (const [name, code] of Object.entries(D.code)) {
    const s = el("section");
    s.appendChild(el("h2", "", name));
    s.appendChild(el("pre", "", code));
    $("code").appendChild(s);
  }
  if (!D.scatter_order.length) $("view").disabled = true;
}

// The frames of the current view: steps (gather) or input cells (scatter).
const frames = () => (state.view === "gather" ? D.steps.length : D.scatter_order.length);

// What is shown: the hovered cell, else the pinned one, else the current frame.
function active() {
  const t = state.hover || state.pin;
  if (t && t[0] === "out") return { step: D.index[key(t.slice(1))] };
  if (t && t[0] === "in") return { source: key(t.slice(1)) };
  if (state.frame >= frames()) return {};
  return state.view === "gather" ? { step: state.frame } : { source: D.scatter_order[state.frame] };
}

function clear() {
  for (const registry of Object.values(cells))
    for (const cell of registry.values()) {
      cell.classList.remove("on", "src", "fed", "now", "done", "pinned", "other");
      const w = cell.querySelector(".w");
      if (w) w.remove();
    }
}

function show() {
  clear();
  const n = frames();
  $("scrubber").max = n;
  $("scrubber").value = state.frame;
  $("counter").textContent = state.frame < n ? `frame ${state.frame + 1} of ${n}` : `all ${n} done`;
  // outputs finished so far (gather) or every output (scatter)
  D.steps.forEach((s, i) => {
    if (state.view === "scatter" || i < state.frame) cells.out.get(key(s.o)).classList.add("done");
  });
  const a = active();
  let text = "";
  if (a.step !== undefined) {
    const s = D.steps[a.step];
    cells.out.get(key(s.o)).classList.add("done", "now");
    s.cells.forEach((c, i) => {
      const cell = cells.in.get(key(c));
      cell.classList.add("on");
      if (s.w.length) cell.appendChild(el("span", "w", `×${s.w[i]}`));
    });
    s.pad.forEach((c) => cells.in.get(key(c)).classList.add("on"));
    s.k.forEach((c) => cells.k.get(c).classList.add("on"));
    for (const [k, cell] of cells.in)
      if (!s.planes.includes(Number(k.split(",")[0]))) cell.classList.add("other");
    text = s.text;
  } else if (a.source !== undefined) {
    const feeds = D.scatter[a.source];
    cells.in.get(a.source).classList.add("src");
    feeds.outputs.forEach((i) => cells.out.get(key(D.steps[i].o)).classList.add("fed"));
    text = feeds.text;
  }
  if (state.pin) {
    const registry = state.pin[0] === "out" ? cells.out : cells.in;
    registry.get(key(state.pin.slice(1))).classList.add("pinned");
  }
  $("pin").textContent = state.pin ? "📌 " : "";
  $("text").textContent = text;
}

function go(frame) {
  state.frame = Math.max(0, Math.min(frames(), frame));
  show();
}

function play() {
  if (state.timer) {
    clearInterval(state.timer);
    state.timer = null;
  } else {
    if (state.frame >= frames()) state.frame = 0;
    state.timer = setInterval(() => {
      if (state.frame >= frames()) play(); else go(state.frame + 1);
    }, Number($("speed").value));
  }
  $("play").textContent = state.timer ? "⏸ pause" : "▶ play";
}

build();
$("first").addEventListener("click", () => go(0));
$("prev").addEventListener("click", () => go(state.frame - 1));
$("next").addEventListener("click", () => go(state.frame + 1));
$("last").addEventListener("click", () => go(frames()));
$("scrubber").addEventListener("input", (e) => go(Number(e.target.value)));
$("play").addEventListener("click", play);
$("speed").addEventListener("change", () => { if (state.timer) { play(); play(); } });
$("view").addEventListener("change", (e) => { state.view = e.target.value; go(0); });
show();
