// dicomviz browsing view: a canonical volume drawn with Canvas2D, scrolled, windowed and
// projected in the browser, so none of that waits for a Streamlit rerun.
//
// The message format is written by dicomviz/display/browse.py (read its docstring): a JSON
// document, then the voxels as gzip members of byte planes. The volume is on canonical axes
// (S, P, L): index 0 runs inferior -> superior, 1 anterior -> posterior, 2 patient right ->
// left, and voxel (s, p, l) sits at ((s * nP) + p) * nL + l. The views below replicate
// dicomviz.display.views.make_view exactly (tests/test_browse_view.py compares pixels):
//   axial    = slice s,  rows p (top anterior),            columns l (patient right on the left)
//   coronal  = slice p,  rows s flipped (top superior),    columns l
//   sagittal = slice l,  rows s flipped (top superior),    columns p (anterior on the left)
// and grey levels follow dicomviz.display.windowing.to_grey (DICOM's linear VOI function in
// float32 arithmetic, no data black).

const PLANES = ["axial", "coronal", "sagittal"];
const NORMAL = { axial: 0, coronal: 1, sagittal: 2 };
const MODE_TITLE = { slice: "slice", max: "MIP", min: "MinIP", mean: "Mean" };
const DIRECTION = { x: "L", y: "P", z: "S" }; // LPS: a coordinate grows towards L, P, S
const REPORT_MS = 800; // a pause before telling Python what is shown (it reruns the page)
const GREY = new Uint32Array(256); // opaque grey RGBA as one little-endian word
for (let g = 0; g < 256; g++) GREY[g] = (0xff000000 | (g << 16) | (g << 8) | g) >>> 0;

// Survives re-renders and remounts: the decoded volume (by digest, only the latest kept, to
// hold the tab's memory to about one volume), the viewer of each mount point, and the last
// view state of each stack.
const STORE = (globalThis.__dicomvizBrowse ??= {
  volumes: new Map(),
  viewers: new WeakMap(),
  states: new Map(),
});

// Streamlit calls this on every render whose data changed, with the same parentElement:
// one Viewer per mount point, fed each message.
export default function mount({ data, parentElement, setStateValue, setTriggerValue }) {
  let viewer = STORE.viewers.get(parentElement);
  if (!viewer || !viewer.root.isConnected) {
    viewer?.unmount();
    viewer = new Viewer(parentElement);
    STORE.viewers.set(parentElement, viewer);
  }
  viewer.bridge = { setStateValue, setTriggerValue }; // the latest ones
  viewer.receive(data);
  // Streamlit also calls this when a render is superseded before it ran: let go of the
  // viewer only once its element has really left the page.
  return () => setTimeout(() => parentElement.isConnected || viewer.unmount(), 0);
}

// ---------- message and volume ----------

function readMessage(bytes) {
  const magic = String.fromCharCode(...bytes.subarray(0, 4));
  if (magic !== "DVZB") throw new Error("not a dicomviz browse message");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.getUint32(8, true);
  const doc = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + length)));
  const start = 12 + length + ((8 - ((12 + length) % 8)) % 8);
  return { doc, body: bytes.subarray(start) };
}

// Inflate one gzip member into `target` (preallocated: no list of pieces to join, half the
// time of reading it through a Blob and a Response); returns the bytes written.
async function inflateInto(part, target) {
  const stream = new DecompressionStream("gzip");
  const writer = stream.writable.getWriter();
  writer.write(part).catch(() => {}); // a broken member fails the reader below
  writer.close().catch(() => {});
  const reader = stream.readable.getReader();
  let at = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return at;
    if (at + value.length > target.length) throw new Error("a chunk is larger than announced");
    target.set(value, at);
    at += value.length;
  }
}

// Rebuild the voxels: each chunk holds whole axial planes, stored byte plane by byte plane
// (all first bytes, then all second bytes... little-endian), which gzip packs far better.
async function decodeVolume(header, body, progress) {
  const [nS, nP, nL] = header.shape;
  const Typed = header.dtype === "int16" ? Int16Array : Float32Array;
  const size = Typed.BYTES_PER_ELEMENT;
  const voxels = new Typed(nS * nP * nL);
  const chunkBytes = header.planes_per_chunk * nP * nL * size;
  const parts = [];
  let offset = 0;
  for (const length of header.chunks) parts.push(body.subarray(offset, (offset += length)));
  let next = 0;
  let written = 0;
  // Two chunks in flight: one inflates while the other's byte planes are put in place.
  const worker = async () => {
    const raw = new Uint8Array(chunkBytes);
    while (next < parts.length) {
      const k = next++;
      const n = (await inflateInto(parts[k], raw)) / size;
      const at = k * chunkBytes;
      if (size === 2) {
        const out = new Uint16Array(voxels.buffer, at, n);
        for (let i = 0; i < n; i++) out[i] = raw[i] | (raw[n + i] << 8);
      } else {
        const out = new Uint32Array(voxels.buffer, at, n);
        const [n2, n3] = [2 * n, 3 * n];
        for (let i = 0; i < n; i++) {
          out[i] = (raw[i] | (raw[n + i] << 8) | (raw[n2 + i] << 16) | (raw[n3 + i] << 24)) >>> 0;
        }
      }
      written += n * size;
      progress(k / parts.length);
    }
  };
  await Promise.all([worker(), worker()]);
  if (written !== voxels.byteLength) throw new Error("the volume arrived incomplete");
  if (STORE.marks) STORE.marks.decoded = performance.now();
  const marker = header.no_data === -32768 ? -32768 : null;
  return { header, voxels, shape: header.shape, marker, float: Typed === Float32Array };
}

function keepVolume(digest, promise) {
  for (const key of STORE.volumes.keys()) if (key !== digest) STORE.volumes.delete(key);
  STORE.volumes.set(digest, promise);
  promise.catch(() => STORE.volumes.delete(digest));
}

// ---------- geometry and projection ----------

// One view's pixel (r, c) at depth k is voxels[base + r * rs + c * cs + k * ks].
function planeGeometry(shape, plane) {
  const [nS, nP, nL] = shape;
  const sStride = nP * nL;
  const flipped = (nS - 1) * sStride; // rows run superior -> inferior: row r is s = nS-1-r
  if (plane === "axial") {
    return { rows: nP, cols: nL, depth: nS, base: 0, rs: nL, cs: 1, ks: sStride };
  }
  if (plane === "coronal") {
    return { rows: nS, cols: nL, depth: nP, base: flipped, rs: -sStride, cs: 1, ks: nL };
  }
  return { rows: nS, cols: nP, depth: nL, base: flipped, rs: -sStride, cs: nL, ks: 1 };
}

// The view's values over slices [a, b): one slice, or a projection. No data (NaN, or the
// int16 marker) is left out of max, min and mean as numpy's fmax/fmin and the library's mean
// do; a line of sight through no data only stays no data. Loop order r, k, c keeps the lines
// read for one row in cache across the slab (a sagittal column is strided).
function project(vol, g, mode, a, b) {
  if (mode === "mean") return projectMean(vol, g, a, b);
  const V = vol.voxels;
  const M = vol.marker; // the int16 no-data value, or null
  const { rows, cols, base, rs, cs, ks } = g;
  const out = new V.constructor(rows * cols);
  const last = mode === "slice" ? a + 1 : b;
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let k = a; k < last; k++) {
      const at = base + r * rs + k * ks;
      if (k === a) {
        for (let c = 0; c < cols; c++) out[o + c] = V[at + c * cs];
      } else if (mode === "max") {
        // The int16 marker is the smallest value: max skips it by itself. NaN never wins a
        // comparison, and a NaN so far gives way to any value (numpy's fmax).
        for (let c = 0; c < cols; c++) {
          const v = V[at + c * cs];
          const best = out[o + c];
          if (v > best || best !== best) out[o + c] = v;
        }
      } else {
        for (let c = 0; c < cols; c++) {
          const v = V[at + c * cs];
          const best = out[o + c];
          if (v !== M && (v < best || best !== best || best === M)) out[o + c] = v;
        }
      }
    }
  }
  return out;
}

// float32 mean as the library computes it: sum / count of the voxels with data, rounded to
// float32 once (the library's int16 path divides an exact int32 sum the same way).
function projectMean(vol, g, a, b) {
  const V = vol.voxels;
  const { rows, cols, base, rs, cs, ks } = g;
  const M = vol.marker;
  const out = new Float32Array(rows * cols);
  const sum = new Float64Array(cols);
  const count = new Uint32Array(cols);
  for (let r = 0; r < rows; r++) {
    sum.fill(0);
    count.fill(0);
    for (let k = a; k < b; k++) {
      const at = base + r * rs + k * ks;
      for (let c = 0; c < cols; c++) {
        const v = V[at + c * cs];
        if (v === v && v !== M) { sum[c] += v; count[c]++; }
      }
    }
    const o = r * cols;
    for (let c = 0; c < cols; c++) out[o + c] = count[c] ? Math.fround(sum[c] / count[c]) : NaN;
  }
  return out;
}

// to_grey in float32: grey = clip((v - offset) * scale, 0, 255), truncated; NaN black.
function greyOf(v, offset, scale) {
  if (v !== v) return 0;
  const g = Math.fround(Math.fround(v - offset) * scale);
  return g <= 0 ? 0 : g >= 255 ? 255 : g | 0;
}

function windowTerms([center, width]) {
  const scale = Math.fround(255 / Math.max(width - 1, 1e-6));
  const offset = Math.fround(center - 0.5 - (width - 1) / 2);
  return { offset, scale };
}

// ---------- the viewer ----------

class Viewer {
  constructor(parent) {
    this.parent = parent;
    this.root = parent.querySelector(".dvb-root");
    if (!this.root) throw new Error("dicomviz browse: the component's HTML is missing");
    this.$ = (role) => this.root.querySelector(`[data-role="${role}"]`);
    this.cells = {};
    for (const plane of PLANES) {
      const cell = this.root.querySelector(`[data-cell="${plane}"]`);
      const image = cell.querySelector("canvas[data-dicomviz]");
      const overlay = cell.querySelector(".dvb-overlay");
      const frame = cell.querySelector(".dvb-frame");
      this.cells[plane] = { plane, cell, image, overlay, frame, title: cell.querySelector(".dvb-title") };
    }
    this.vol = null;
    this.control = {};
    this.digest = null;
    this.wanted = null;
    this.asked = new Set();
    this.lastReport = "";
    // A large stack's full volume (tens of MB) travels only once the visitor turns to this
    // view: a hosted page does not push it to every tab, nor make the visitor's machine decode
    // it while the page is still busy with their first look.
    this.turnedTo = false;
    this.waitingFull = null;
    this.listen();
    this.resizer = new ResizeObserver(() => this.vol && this.layout());
    this.resizer.observe(this.parent);
  }

  unmount() {
    this.resizer.disconnect();
    clearTimeout(this.reportTimer);
    STORE.viewers.delete(this.parent);
  }

  receive(data) {
    if (!(data instanceof Uint8Array) || data.length < 12) return;
    const { doc, body } = readMessage(data);
    const control = doc.control || {};
    const sameStack = this.vol !== null && this.control?.stack === control.stack;
    if (control.pending) {
      // Python is still compressing this stack: ask for the run that waits for it. The same
      // stack (full resolution asked) stays on screen meanwhile; another one does not.
      if (!sameStack) this.clear();
      this.status(sameStack ? "Preparing the full-resolution volume…" : "Preparing the volume…");
      this.bridge.setTriggerValue("poll", control.stack);
      return;
    }
    // A quick, coarser volume while the real one is made: ask at once for the run that
    // waits for the real one, and browse this meanwhile.
    if (control.coming) this.askFullWhenUsed(control.stack);
    if (!sameStack) this.clear();
    this.control = control;
    this.wanted = doc.digest;
    if (doc.volume && !STORE.volumes.has(doc.digest)) {
      STORE.marks = { received: performance.now() }; // for benchmarks
      // Where a first look starts, and whether a better volume follows, travel with it.
      const extra = { start: control.start, stack: control.stack, coming: Boolean(control.coming) };
      const progress = (f) => this.vol || this.status(`Loading the volume… ${Math.round(f * 100)}%`);
      const decoded = decodeVolume(doc.volume, body, progress);
      keepVolume(doc.digest, decoded.then((vol) => Object.assign(vol, extra)));
    }
    const pending = STORE.volumes.get(doc.digest);
    if (!pending) {
      // Python believed this tab held the volume (a reload, or a render never drawn): ask.
      if (!this.asked.has(doc.digest)) {
        this.asked.add(doc.digest);
        this.bridge.setTriggerValue("missing", doc.digest);
      }
      this.status("Fetching the volume…");
      return;
    }
    if (doc.digest === this.digest) return this.notice();
    pending.then((vol) => {
      // The volume asked for last, or a preview when nothing of its stack is shown yet.
      const first = !this.vol || this.vol.stack !== vol.stack;
      const current = vol.stack === this.control.stack;
      if (this.wanted === doc.digest || (first && current)) this.show(doc.digest, vol);
    }, (error) => this.status(`Could not read the volume: ${error.message}`));
  }

  askFullWhenUsed(stack) {
    if (this.turnedTo) return this.bridge.setTriggerValue("poll", stack);
    this.waitingFull = stack;
  }

  // The pointer over this view, a key or a click in it: the visitor uses it.
  turnTo() {
    if (this.turnedTo) return;
    this.turnedTo = true;
    const stack = this.waitingFull;
    this.waitingFull = null;
    if (stack && this.control.stack === stack) {
      this.notice();
      this.status("Loading the full volume…");
      this.bridge.setTriggerValue("poll", stack);
    }
  }

  clear() {
    if (this.vol) STORE.states.set(this.vol.stack, structuredClone(this.state));
    this.vol = null;
    this.digest = null;
    this.$("grid").hidden = true;
    this.$("notice").hidden = true;
  }

  show(digest, vol) {
    this.$("grid").hidden = false;
    this.vol = vol;
    this.digest = digest;
    const h = vol.header;
    this.geometry = Object.fromEntries(PLANES.map((p) => [p, planeGeometry(vol.shape, p)]));
    this.values = {};
    // The same stack seen before in this tab (another resolution, or back from another
    // stack) keeps its place; a new one starts where the page's own controls are.
    const kept = STORE.states.get(vol.stack);
    this.state = kept ? this.rescaled(kept, h) : this.startState(h, vol.start || {});
    this.fillPresets(h);
    for (const plane of PLANES) {
      const { image, title } = this.cells[plane];
      const g = this.geometry[plane];
      image.width = g.cols;
      image.height = g.rows;
      image.dataset.stack = vol.stack || "";
      // What a canvas says it shows is set when it is painted (a hidden view is not).
      for (const name of ["slice", "slab", "mode", "window"]) delete image.dataset[name];
      title.textContent = "";
      const labels = h.oriented ? h.labels[plane] : ["", "", "", ""];
      const [top, bottom, left, right] = this.cells[plane].frame.querySelectorAll(".dvb-label");
      [top.textContent, bottom.textContent, left.textContent, right.textContent] = labels;
    }
    this.notice();
    this.layout();
    this.redraw(PLANES);
    this.status("");
    // A start the page chose is what it already shows: reported only once it changes.
    if (!kept) this.lastReport = JSON.stringify(this.shown());
    STORE.states.set(vol.stack, structuredClone(this.state));
  }

  startState(h, start) {
    const mid = Object.fromEntries(PLANES.map((p) => [p, this.geometry[p].depth >> 1]));
    const indices = { ...mid, ...(start.indices || {}) };
    for (const p of PLANES) indices[p] = clamp(indices[p], 0, this.geometry[p].depth - 1);
    const window = start.window || h.window;
    const named = Object.entries({ Automatic: h.window, ...h.presets });
    const preset = named.find(([, w]) => w[0] === window[0] && w[1] === window[1]);
    return {
      layout: start.layout || "all",
      active: start.layout && start.layout !== "all" ? start.layout : "axial",
      mode: start.mode || "slice",
      thickness: start.thickness_mm || 20,
      indices,
      window,
      preset: preset ? preset[0] : "",
      step: h.step,
    };
  }

  // A kept place on this volume's grid (full resolution asked: indices along reduced axes
  // scale by the reduction).
  rescaled(state, h) {
    const s = structuredClone(state);
    for (const p of PLANES) {
      const axis = NORMAL[p];
      const k = Math.round((s.indices[p] * s.step[axis]) / h.step[axis]);
      s.indices[p] = clamp(k, 0, this.geometry[p].depth - 1);
    }
    s.step = h.step;
    return s;
  }

  // ----- drawing -----

  slab(plane) {
    const g = this.geometry[plane];
    const k = this.state.indices[plane];
    if (this.state.mode === "slice") return [k, k + 1];
    // As modes.Mode.opening_slab around slice k: at least one slice each side.
    const spacing = this.vol.header.spacing[NORMAL[plane]];
    const half = Math.max(1, Math.round(this.state.thickness / 2 / spacing));
    return [Math.max(0, k - half), Math.min(g.depth, k + half)];
  }

  visible() {
    return this.state.layout === "all" ? PLANES : [this.state.layout];
  }

  redraw(planes) {
    for (const plane of planes) {
      if (!this.visible().includes(plane)) continue;
      const [a, b] = this.slab(plane);
      this.values[plane] = project(this.vol, this.geometry[plane], this.state.mode, a, b);
      this.paint(plane);
    }
    this.overlays();
    this.toolbar();
  }

  paint(plane) {
    const { image, title } = this.cells[plane];
    const values = this.values[plane];
    if (!values) return;
    const g = this.geometry[plane];
    const context = image.getContext("2d", { willReadFrequently: true });
    const picture = context.createImageData(g.cols, g.rows);
    const pixels = new Uint32Array(picture.data.buffer);
    const { offset, scale } = windowTerms(this.state.window);
    if (values instanceof Int16Array) {
      const lut = this.lut();
      for (let i = 0; i < values.length; i++) pixels[i] = GREY[lut[values[i] + 32768]];
    } else {
      for (let i = 0; i < values.length; i++) pixels[i] = GREY[greyOf(values[i], offset, scale)];
    }
    context.putImageData(picture, 0, 0);
    const [a, b] = this.slab(plane);
    image.dataset.slice = String(this.state.indices[plane]);
    image.dataset.slab = `${a},${b}`;
    image.dataset.mode = this.state.mode;
    image.dataset.window = this.state.window.join(",");
    title.textContent = this.title(plane, a, b);
  }

  // Grey level of every int16 value for the current window (65,536 entries, rebuilt only
  // when the window changes); the no-data marker is black, as NaN is in to_grey.
  lut() {
    const key = this.state.window.join(",");
    if (this.lutKey !== key) {
      const { offset, scale } = windowTerms(this.state.window);
      this.lutTable ??= new Uint8Array(65536);
      for (let v = -32768; v < 32768; v++) this.lutTable[v + 32768] = greyOf(v, offset, scale);
      if (this.vol.marker !== null) this.lutTable[0] = 0;
      this.lutKey = key;
    }
    return this.lutTable;
  }

  title(plane, a, b) {
    const name = plane[0].toUpperCase() + plane.slice(1);
    const axis = this.vol.header.axes[NORMAL[plane]];
    const mmHere = (axis.start + this.state.indices[plane] * axis.step).toFixed(1);
    const where = this.vol.header.oriented ? ` · ${DIRECTION[axis.name]} ${mmHere} mm` : "";
    // Numbered as the sidebar and the views number them: on the full grid, also in a preview
    // or a reduced volume (every n-th slice along a reduced axis).
    const n = this.vol.header.step[NORMAL[plane]];
    if (this.state.mode === "slice") return `${name} slice ${a * n + 1}${where}`;
    const mm = (b - a) * this.vol.header.spacing[NORMAL[plane]];
    return `${name} ${MODE_TITLE[this.state.mode]} ${a * n + 1}-${(b - 1) * n + 1} · ${mm.toFixed(0)} mm`;
  }

  // Crosshair: where the other planes' current slices cut this view.
  overlays() {
    const [nS] = this.vol.shape;
    const { axial, coronal, sagittal } = this.state.indices;
    const cross = {
      axial: [coronal, sagittal],
      coronal: [nS - 1 - axial, sagittal],
      sagittal: [nS - 1 - axial, coronal],
    };
    for (const plane of this.visible()) {
      const { overlay } = this.cells[plane];
      const g = this.geometry[plane];
      const context = overlay.getContext("2d");
      context.clearRect(0, 0, overlay.width, overlay.height);
      const sx = overlay.width / g.cols;
      const sy = overlay.height / g.rows;
      const [row, col] = cross[plane];
      context.strokeStyle = "rgba(255, 176, 0, 0.55)";
      context.lineWidth = Math.max(1, devicePixelRatio);
      context.beginPath();
      context.moveTo(0, (row + 0.5) * sy);
      context.lineTo(overlay.width, (row + 0.5) * sy);
      context.moveTo((col + 0.5) * sx, 0);
      context.lineTo((col + 0.5) * sx, overlay.height);
      context.stroke();
    }
  }

  // Physical aspect: one scale (CSS pixels per mm) for every shown view, so the planes line up.
  layout() {
    const shown = this.visible();
    for (const plane of PLANES) this.cells[plane].cell.hidden = !shown.includes(plane);
    const gaps = 6 * (shown.length - 1) + 32 * shown.length; // between cells, label frames
    const width = Math.max(240, this.parent.clientWidth || 900) - gaps;
    const height = shown.length > 1 ? 440 : 620;
    const mm = shown.map((p) => this.extent(p));
    const across = mm.reduce((sum, [w]) => sum + w, 0);
    const scale = Math.min(width / across, ...mm.map(([, h]) => height / h));
    shown.forEach((plane, i) => {
      const { image, overlay } = this.cells[plane];
      const [w, h] = mm[i].map((v) => Math.max(1, Math.round(v * scale)));
      for (const canvas of [image, overlay]) {
        canvas.style.width = `${w}px`;
        canvas.style.height = `${h}px`;
      }
      overlay.width = Math.round(w * devicePixelRatio);
      overlay.height = Math.round(h * devicePixelRatio);
    });
    this.overlays();
  }

  extent(plane) {
    const g = this.geometry[plane];
    const sp = this.vol.header.spacing;
    const rowAxis = plane === "axial" ? 1 : 0;
    const colAxis = plane === "sagittal" ? 1 : 2;
    return [g.cols * sp[colAxis], g.rows * sp[rowAxis]];
  }

  // ----- controls -----

  fillPresets(h) {
    const select = this.$("preset");
    select.replaceChildren();
    const choices = { Automatic: h.window, ...h.presets };
    for (const [name, window] of Object.entries(choices)) {
      const option = new Option(`${name} (${window[0]}/${window[1]})`, name);
      select.add(option);
    }
    select.add(new Option("Custom", ""));
    select.value = this.state.preset;
    this.presets = choices;
  }

  toolbar() {
    for (const b of this.root.querySelectorAll("button[data-layout]")) {
      b.setAttribute("aria-pressed", String(b.dataset.layout === this.state.layout));
    }
    for (const b of this.root.querySelectorAll("button[data-mode]")) {
      b.setAttribute("aria-pressed", String(b.dataset.mode === this.state.mode));
    }
    const slab = this.$("slab");
    slab.closest("label").hidden = this.state.mode === "slice";
    if (document.activeElement !== slab) slab.value = String(this.state.thickness);
    this.$("preset").value = this.state.preset;
    const [c, w] = this.state.window;
    this.$("window").textContent = `C ${round(c)} / W ${round(w)}`;
  }

  notice() {
    const box = this.$("notice");
    const h = this.vol?.header;
    const factor = h ? Math.max(...h.step) : 1;
    box.hidden = factor === 1;
    if (factor === 1) return;
    const mb = (bytes) => `${Math.round(bytes / 2 ** 20)} MB`;
    const nth = factor === 2 ? "2nd" : `${factor}th`;
    const full = this.$("full");
    full.hidden = this.vol.coming;
    if (this.vol.coming) {
      this.$("notice-text").textContent =
        this.turnedTo
          ? `A quick look at every ${nth} pixel: the full volume is on its way.`
          : `A quick look at every ${nth} pixel: the full volume loads once you point at this view.`;
      return;
    }
    const budget = mb(this.control.budget || 0);
    this.$("notice-text").textContent =
      `Shown at every ${nth} pixel in the slice plane, to keep the download under ${budget}.`;
    const estimate = this.control.full_estimate || 0;
    full.textContent = `Load full resolution (about ${mb(estimate)})`;
    full.disabled = Boolean(this.control.full_refused);
    full.title = this.control.full_refused || "";
  }

  status(text) {
    this.$("status").textContent = text;
  }

  // ----- interaction -----

  listen() {
    const root = this.root;
    for (const kind of ["pointerenter", "pointerdown", "wheel", "keydown", "focusin"]) {
      root.addEventListener(kind, () => this.turnTo(), { passive: true });
    }
    root.addEventListener("click", (event) => {
      const button = event.target.closest("button");
      if (!button || !this.vol) return;
      if (button.dataset.layout) this.set({ layout: button.dataset.layout }, true);
      if (button.dataset.mode) this.set({ mode: button.dataset.mode });
      if (button.dataset.role === "full") {
        button.disabled = true;
        this.status("Asking for the full-resolution volume…");
        this.bridge.setTriggerValue("full", this.vol.stack);
      }
    });
    this.$("slab").addEventListener("change", (event) => {
      const mm = Number(event.target.value);
      if (Number.isFinite(mm) && mm >= 0) this.set({ thickness: mm });
    });
    this.$("preset").addEventListener("change", (event) => {
      const name = event.target.value;
      if (name && this.presets[name]) this.setWindow(this.presets[name], name);
    });
    root.addEventListener("keydown", (event) => this.key(event));
    for (const plane of PLANES) this.listenTo(this.cells[plane]);
  }

  listenTo({ plane, frame }) {
    frame.addEventListener("wheel", (event) => {
      if (!this.vol) return;
      event.preventDefault();
      this.state.active = plane;
      this.step(plane, Math.sign(event.deltaY)); // wheel down (towards you): next slice
    }, { passive: false });
    let drag = null;
    frame.addEventListener("pointerdown", (event) => {
      if (!this.vol || event.button !== 0) return;
      this.root.focus({ preventScroll: true });
      this.state.active = plane;
      frame.setPointerCapture(event.pointerId);
      const from = [...this.state.window];
      drag = { x: event.clientX, y: event.clientY, from, moved: false, cross: event.shiftKey };
    });
    frame.addEventListener("pointermove", (event) => {
      if (!this.vol) return;
      if (!drag) return this.hover(plane, event);
      const dx = event.clientX - drag.x;
      const dy = event.clientY - drag.y;
      if (!drag.moved && Math.hypot(dx, dy) < 3) return;
      drag.moved = true;
      if (drag.cross) return this.pick(plane, event);
      // Right: wider window (less contrast); down: higher center (darker picture).
      const [center, width] = drag.from;
      const k = Math.max(width, 1) / 300;
      this.setWindow([center + dy * k, Math.max(1, width + dx * k)].map(tidy), "");
    });
    frame.addEventListener("pointerup", (event) => {
      if (drag && !drag.moved) this.pick(plane, event);
      drag = null;
    });
    frame.addEventListener("pointerleave", () => !drag && this.status(""));
    frame.addEventListener("dblclick", () => this.vol && this.setWindow(this.vol.header.window, "Automatic"));
  }

  key(event) {
    if (!this.vol || event.target.closest("input, select")) return;
    const steps = { ArrowUp: 1, ArrowRight: 1, ArrowDown: -1, ArrowLeft: -1, PageUp: 10, PageDown: -10 };
    if (!(event.key in steps)) return;
    event.preventDefault();
    const plane = this.visible().includes(this.state.active) ? this.state.active : this.visible()[0];
    this.step(plane, steps[event.key]);
  }

  step(plane, by) {
    const depth = this.geometry[plane].depth;
    const k = clamp(this.state.indices[plane] + by, 0, depth - 1);
    if (k === this.state.indices[plane]) return;
    this.state.indices[plane] = k;
    this.redraw([plane]);
    this.report();
  }

  // The pixel under the pointer, as (row, col) of the view's image.
  pixel(plane, event) {
    const { image } = this.cells[plane];
    const box = image.getBoundingClientRect();
    const g = this.geometry[plane];
    const col = Math.floor(((event.clientX - box.left) / box.width) * g.cols);
    const row = Math.floor(((event.clientY - box.top) / box.height) * g.rows);
    return row >= 0 && row < g.rows && col >= 0 && col < g.cols ? [row, col] : null;
  }

  // A click moves the other planes there (views.linked_indices on the same grid).
  pick(plane, event) {
    const hit = this.pixel(plane, event);
    if (!hit) return;
    const [row, col] = hit;
    const [nS] = this.vol.shape;
    const i = this.state.indices;
    if (plane === "axial") Object.assign(i, { coronal: row, sagittal: col });
    if (plane === "coronal") Object.assign(i, { axial: nS - 1 - row, sagittal: col });
    if (plane === "sagittal") Object.assign(i, { axial: nS - 1 - row, coronal: col });
    this.redraw(PLANES.filter((p) => p !== plane));
    this.hover(plane, event);
    this.report();
  }

  // Value under the pointer (of the projection, in a slab mode) and its LPS position in mm.
  hover(plane, event) {
    const hit = this.pixel(plane, event);
    const values = this.values[plane];
    if (!hit || !values) return this.status("");
    const [row, col] = hit;
    const [nS] = this.vol.shape;
    const k = this.state.indices[plane];
    // Back from the view's (row, col) to canonical (s, p, l): make_view's mapping reversed.
    const voxel = {
      axial: [k, row, col],
      coronal: [nS - 1 - row, k, col],
      sagittal: [nS - 1 - row, col, k],
    };
    const [s, p, l] = voxel[plane];
    const h = this.vol.header;
    const where = [[h.axes[2], l], [h.axes[1], p], [h.axes[0], s]]
      .map(([axis, i]) => {
        const name = h.oriented ? DIRECTION[axis.name] : axis.name; // a guess when unoriented
        return `${name} ${(axis.start + i * axis.step).toFixed(1)}`;
      })
      .join(", ");
    const v = values[row * this.geometry[plane].cols + col];
    const noData = v !== v || (values instanceof Int16Array && v === this.vol.marker);
    const text = noData ? "no data" : `${round(v)}${h.units ? ` ${h.units}` : ""}`;
    this.status(`${text} · ${where} mm`);
  }

  set(change, relayout = false) {
    Object.assign(this.state, change);
    if (change.layout && change.layout !== "all") this.state.active = change.layout;
    if (relayout) this.layout();
    this.redraw(PLANES);
    this.report();
  }

  setWindow(window, preset) {
    this.state.window = window;
    this.state.preset = preset;
    for (const plane of this.visible()) this.paint(plane); // never recomputes a projection
    this.toolbar();
    this.report();
  }

  shown() {
    return {
      stack: this.vol.stack,
      layout: this.state.layout,
      mode: this.state.mode,
      indices: { ...this.state.indices },
      slabs: Object.fromEntries(PLANES.map((p) => [p, this.slab(p)])),
      thickness_mm: this.state.thickness,
      window: this.state.window,
      step: this.vol.header.step,
    };
  }

  // Tell Python what is shown (it reruns the page, whose views then follow), once things are
  // quiet and only if it changed.
  report() {
    STORE.states.set(this.vol.stack, structuredClone(this.state));
    clearTimeout(this.reportTimer);
    this.reportTimer = setTimeout(() => {
      const shown = this.shown();
      const text = JSON.stringify(shown);
      if (text === this.lastReport) return;
      this.lastReport = text;
      STORE.reports = (STORE.reports || 0) + 1; // for tests and benchmarks
      this.bridge.setStateValue("view", shown);
    }, REPORT_MS);
  }
}

function clamp(v, low, high) {
  return Math.min(high, Math.max(low, v));
}

function tidy(v) {
  return Math.round(v * 10) / 10;
}

function round(v) {
  return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(5)));
}
