// The overview's matrix: one <canvas> for every cell (a 200 x 200 matrix is 40,000 cells,
// drawn as one rectangle each, grouped by colour), plus what makes it usable without a
// mouse: the canvas is one focusable control, arrow keys move a highlighted cell, the same
// tooltip shows on hover and on keyboard focus, and a live region reads the cell out.
import {bucket, NO_DATA, LOSS_SCALE, RTT_SCALE} from "./colors.js";
import {h, lossOf, ms, pct, count, clear} from "./dom.js";

const FONT = "11px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
const MIN_CELL = 4;
const MAX_CELL = 28;
const LABEL_GAP = 6;

/** Rows x columns of cells in flat arrays (index r * cols + c), NaN for no value. */
export class MatrixData {
  constructor(rows, cols) {
    this.rows = rows; // [{key, name}]
    this.cols = cols;
    const n = rows.length * cols.length;
    this.has = new Uint8Array(n);
    this.sent = new Float64Array(n);
    this.received = new Float64Array(n);
    this.duplicates = new Float64Array(n);
    this.p50 = new Float64Array(n).fill(NaN);
    this.p95 = new Float64Array(n).fill(NaN);
    this.p99 = new Float64Array(n).fill(NaN);
  }

  set(r, c, cell) {
    const i = r * this.cols.length + c;
    this.has[i] = 1;
    this.sent[i] = cell.sent;
    this.received[i] = cell.received;
    this.duplicates[i] = cell.duplicates;
    this.p50[i] = cell.p50_ms ?? NaN;
    this.p95[i] = cell.p95_ms ?? NaN;
    this.p99[i] = cell.p99_ms ?? NaN;
  }

  cell(r, c) {
    const i = r * this.cols.length + c;
    if (!this.has[i]) return null;
    return {
      sent: this.sent[i], received: this.received[i], duplicates: this.duplicates[i],
      loss: lossOf(this.sent[i], this.received[i]),
      p50: this.p50[i], p95: this.p95[i], p99: this.p99[i],
    };
  }

  value(i, mode) {
    if (!this.has[i]) return NaN;
    return mode === "loss" ? 1 - this.received[i] / this.sent[i] : this.p50[i];
  }
}

export function placeLabel(place) {
  return place.name && place.name !== place.key ? `${place.key} ${place.name}` : place.key;
}

export class Matrix {
  /** onOpen(row, col) opens a cell; label names the matrix for assistive technology. */
  constructor({onOpen, label}) {
    this.onOpen = onOpen;
    this.data = null;
    this.mode = "rtt";
    this.active = null; // [r, c] of the highlighted cell
    this.pointerCell = null;
    this.canvas = h("canvas", {
      class: "matrix-canvas", tabindex: "0", role: "application",
      "aria-roledescription": "latency matrix", "aria-label": label,
    });
    this.tooltip = h("div", {class: "tooltip", role: "tooltip", id: "matrix-tip", hidden: true});
    this.live = h("p", {class: "visually-hidden", "aria-live": "polite", "data-testid": "matrix-readout"});
    this.wrap = h("div", {class: "matrix-wrap"}, this.canvas);
    // The tooltip sits outside the scrolling box, so a small matrix does not clip it.
    this.element = h("div", {class: "matrix"}, this.wrap, this.tooltip, this.live);
    this.canvas.setAttribute("aria-describedby", "matrix-tip");
    this.listen();
  }

  setData(data) {
    this.data = data;
    if (this.active && (this.active[0] >= data.rows.length || this.active[1] >= data.cols.length)) {
      this.active = null;
    }
    this.draw();
  }

  setMode(mode) {
    this.mode = mode;
    this.draw();
  }

  layout() {
    const {data} = this;
    const ctx = this.canvas.getContext("2d");
    ctx.font = FONT;
    const widest = (places) => places.reduce((w, p) => Math.max(w, ctx.measureText(p.key).width), 0);
    const avail = Math.max(200, this.wrap.clientWidth - 4);
    const rowLabel = Math.min(220, Math.ceil(widest(data.rows)) + LABEL_GAP * 2);
    const colLabel = Math.min(150, Math.ceil(widest(data.cols)) + LABEL_GAP * 2);
    const fit = Math.floor((avail - rowLabel) / Math.max(1, data.cols.length));
    const size = Math.max(MIN_CELL, Math.min(MAX_CELL, fit));
    return {
      left: rowLabel, top: colLabel, size,
      width: rowLabel + size * data.cols.length + 2,
      height: colLabel + size * data.rows.length + 2,
    };
  }

  /** Draws every cell and label into an off-screen layer, then shows it. */
  draw() {
    const {data, canvas} = this;
    if (!data) return;
    const box = (this.box = this.layout());
    const dpr = window.devicePixelRatio || 1;
    const layer = (this.layer = this.layer || document.createElement("canvas"));
    for (const c of [canvas, layer]) {
      c.width = Math.round(box.width * dpr);
      c.height = Math.round(box.height * dpr);
    }
    canvas.style.width = `${box.width}px`;
    canvas.style.height = `${box.height}px`;
    const ctx = layer.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, box.width, box.height);
    this.drawCells(ctx, box);
    this.drawLabels(ctx, box);
    // Where the cells are (CSS pixels), for tests that point at one.
    Object.assign(canvas.dataset, {left: box.left, top: box.top, cell: box.size});
    this.paint();
  }

  /** The drawn layer plus the highlighted cell: all that moving the highlight costs. */
  paint() {
    const {canvas, layer, box} = this;
    const ctx = canvas.getContext("2d");
    const dpr = window.devicePixelRatio || 1;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.drawImage(layer, 0, 0);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    this.drawActive(ctx, box);
  }

  drawCells(ctx, {left, top, size}) {
    const {data, mode} = this;
    const scale = mode === "loss" ? LOSS_SCALE : RTT_SCALE;
    const cols = data.cols.length;
    const n = data.rows.length * cols;
    const byColor = scale.colors.map(() => []);
    const empty = [];
    for (let i = 0; i < n; i += 1) {
      const b = bucket(scale, data.value(i, mode));
      (b < 0 ? empty : byColor[b]).push(i);
    }
    const gap = size >= 8 ? 1 : 0;
    const paint = (color, cells) => {
      ctx.fillStyle = color;
      for (const i of cells) {
        const r = Math.floor(i / cols);
        ctx.fillRect(left + (i - r * cols) * size, top + r * size, size - gap, size - gap);
      }
    };
    paint(NO_DATA, empty);
    byColor.forEach((cells, b) => paint(scale.colors[b], cells));
  }

  drawLabels(ctx, {left, top, size}) {
    const {data} = this;
    ctx.font = FONT;
    ctx.fillStyle = "#1a1a1a";
    const every = Math.max(1, Math.ceil(12 / size)); // labels at least 12 px apart
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    data.rows.forEach((row, r) => {
      if (r % every) return;
      ctx.fillText(clip(ctx, row.key, left - LABEL_GAP * 2), left - LABEL_GAP, top + r * size + size / 2);
    });
    ctx.save();
    ctx.textAlign = "left";
    data.cols.forEach((col, c) => {
      if (c % every) return;
      ctx.save();
      ctx.translate(left + c * size + size / 2, top - LABEL_GAP);
      ctx.rotate(-Math.PI / 2);
      ctx.fillText(clip(ctx, col.key, top - LABEL_GAP * 2), 0, 0);
      ctx.restore();
    });
    ctx.restore();
  }

  drawActive(ctx, {left, top, size}) {
    if (!this.active) return;
    const [r, c] = this.active;
    ctx.lineWidth = 2;
    ctx.strokeStyle = "#000";
    ctx.strokeRect(left + c * size - 1, top + r * size - 1, size + 1, size + 1);
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = 1;
    ctx.strokeRect(left + c * size + 0.5, top + r * size + 0.5, size - 2, size - 2);
  }

  cellAt(x, y) {
    const {box, data} = this;
    if (!box || !data) return null;
    const c = Math.floor((x - box.left) / box.size);
    const r = Math.floor((y - box.top) / box.size);
    if (r < 0 || c < 0 || r >= data.rows.length || c >= data.cols.length) return null;
    return [r, c];
  }

  describe(r, c) {
    const {data} = this;
    const row = data.rows[r];
    const col = data.cols[c];
    const cell = data.cell(r, c);
    const title = `${row.key} → ${placeLabel(col)}`;
    if (!cell) return {title, lines: ["no data in this range"]};
    const lost = cell.sent - cell.received;
    return {
      title,
      lines: [
        `median ${ms(cell.p50)}, p95 ${ms(cell.p95)}, p99 ${ms(cell.p99)}`,
        `loss ${pct(cell.loss)} (${count(lost)} of ${count(cell.sent)} probes lost)`,
        `${count(cell.sent)} probes sent, ${count(cell.duplicates)} duplicates`,
      ],
    };
  }

  showTip(r, c) {
    const {box} = this;
    const {title, lines} = this.describe(r, c);
    clear(this.tooltip).append(h("strong", {}, title), ...lines.map((l) => h("span", {}, l)));
    this.tooltip.hidden = false;
    // Cell corners in the coordinates of .matrix (the wrap scrolls, the tooltip does not).
    const {wrap, tooltip} = this;
    const x0 = wrap.offsetLeft + box.left + c * box.size - wrap.scrollLeft;
    const y0 = wrap.offsetTop + box.top + r * box.size - wrap.scrollTop;
    const right = x0 + box.size + 8;
    const fits = right + tooltip.offsetWidth <= wrap.offsetLeft + wrap.clientWidth;
    tooltip.style.left = `${Math.max(0, fits ? right : x0 - tooltip.offsetWidth - 8)}px`;
    tooltip.style.top = `${Math.max(0, y0)}px`;
    return {title, lines};
  }

  hideTip() {
    this.tooltip.hidden = true;
  }

  setActive(r, c, {announce = true} = {}) {
    const {data} = this;
    r = Math.max(0, Math.min(data.rows.length - 1, r));
    c = Math.max(0, Math.min(data.cols.length - 1, c));
    this.active = [r, c];
    this.paint();
    this.scrollIntoView(r, c);
    const {title, lines} = this.showTip(r, c);
    if (announce) this.live.textContent = `${title}: ${lines.join("; ")}`;
  }

  scrollIntoView(r, c) {
    const {box, wrap} = this;
    const x = box.left + c * box.size;
    const y = box.top + r * box.size;
    if (x < wrap.scrollLeft + box.left) wrap.scrollLeft = Math.max(0, x - box.left);
    if (x + box.size > wrap.scrollLeft + wrap.clientWidth) wrap.scrollLeft = x + box.size - wrap.clientWidth + 8;
    if (wrap.scrollHeight > wrap.clientHeight) {
      if (y < wrap.scrollTop + box.top) wrap.scrollTop = Math.max(0, y - box.top);
      if (y + box.size > wrap.scrollTop + wrap.clientHeight) wrap.scrollTop = y + box.size - wrap.clientHeight + 8;
    }
  }

  listen() {
    const {canvas} = this;
    const pos = (event) => {
      const rect = canvas.getBoundingClientRect();
      return this.cellAt(event.clientX - rect.left, event.clientY - rect.top);
    };
    canvas.addEventListener("pointermove", (event) => {
      const at = pos(event);
      this.pointerCell = at;
      if (at) this.showTip(...at);
      else if (!this.active || document.activeElement !== canvas) this.hideTip();
      canvas.classList.toggle("pointing", Boolean(at));
    });
    canvas.addEventListener("pointerleave", () => {
      this.pointerCell = null;
      if (this.active && document.activeElement === canvas) this.showTip(...this.active);
      else this.hideTip();
    });
    canvas.addEventListener("click", (event) => {
      const at = pos(event);
      if (!at) return;
      const same = this.active && this.active[0] === at[0] && this.active[1] === at[1];
      if (event.pointerType === "touch" && !same) {
        this.setActive(...at); // first tap shows the cell, a second one opens it
        return;
      }
      this.onOpen(...at);
    });
    canvas.addEventListener("focus", () => {
      if (!this.data || !this.data.rows.length || !this.data.cols.length) return;
      const [r, c] = this.active || [0, 0];
      this.setActive(r, c);
    });
    canvas.addEventListener("blur", () => {
      if (!this.pointerCell) this.hideTip();
    });
    canvas.addEventListener("keydown", (event) => this.key(event));
  }

  key(event) {
    if (!this.data || !this.active) return;
    const [r, c] = this.active;
    const page = 10;
    const moves = {
      ArrowUp: [r - 1, c], ArrowDown: [r + 1, c], ArrowLeft: [r, c - 1], ArrowRight: [r, c + 1],
      PageUp: [r - page, c], PageDown: [r + page, c],
      Home: event.ctrlKey ? [0, 0] : [r, 0],
      End: event.ctrlKey ? [this.data.rows.length - 1, this.data.cols.length - 1] : [r, this.data.cols.length - 1],
    };
    if (event.key in moves) {
      event.preventDefault();
      this.setActive(...moves[event.key]);
    } else if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      this.onOpen(r, c);
    } else if (event.key === "Escape") {
      this.hideTip();
    }
  }
}

function clip(ctx, text, width) {
  if (ctx.measureText(text).width <= width) return text;
  let s = text;
  while (s.length > 1 && ctx.measureText(`${s}…`).width > width) s = s.slice(0, -1);
  return `${s}…`;
}

