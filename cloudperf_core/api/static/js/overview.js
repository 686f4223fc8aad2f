// Overview: source locations (rows) by destination places (columns), each cell coloured by
// median RTT or loss over a range, from GET /v1/latency/matrix page by page (the matrix is
// drawn after every page, so a large one fills in progressively).
import {get} from "./api.js";
import {LOSS_SCALE, RTT_SCALE, legend} from "./colors.js";
import {clear, count, field, h, heading, select} from "./dom.js";
import {Matrix, MatrixData} from "./matrix.js";

export const DEST_KINDS = [
  ["country", "Countries"], ["city", "Cities"], ["asn", "ASNs"],
  ["location", "Locations"], ["group", "Groups"],
];
export const RANGES = [
  ["15m", "Last 15 minutes"], ["1h", "Last hour"], ["3h", "Last 3 hours"],
  ["1d", "Last day"], ["7d", "Last 7 days"], ["30d", "Last 30 days"],
];
const COLOURS = [["rtt", "Median RTT"], ["loss", "Loss"]];

function pick(value, options, fallback) {
  return options.some(([v]) => v === value) ? value : fallback;
}

/** Every page of the matrix; onPage(cells so far) after each. */
export async function loadMatrix(query, onPage, signal) {
  const cells = [];
  let cursor = null;
  for (let pages = 0; pages < 1000; pages += 1) {
    const page = await get("/v1/latency/matrix", {...query, cursor}, {signal});
    const {cells: c, sources, dests} = page;
    for (let i = 0; i < c.source.length; i += 1) {
      cells.push({
        source: sources[c.source[i]], dest: dests[c.dest[i]],
        sent: c.sent[i], received: c.received[i], duplicates: c.duplicates[i],
        p50_ms: c.p50_ms[i], p95_ms: c.p95_ms[i], p99_ms: c.p99_ms[i],
      });
    }
    onPage(cells, Boolean(page.next_cursor));
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  return cells;
}

/** Rows and columns (sorted by key) and the dense matrix of cells. */
export function toMatrix(cells) {
  const rows = new Map();
  const cols = new Map();
  for (const cell of cells) {
    rows.set(cell.source.key, cell.source);
    if (!cols.has(cell.dest.key) || cell.dest.name) cols.set(cell.dest.key, cell.dest);
  }
  const byKey = (a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
  const rowList = [...rows.values()].sort(byKey);
  const colList = [...cols.values()].sort(byKey);
  const rowIndex = new Map(rowList.map((p, i) => [p.key, i]));
  const colIndex = new Map(colList.map((p, i) => [p.key, i]));
  const data = new MatrixData(rowList, colList);
  for (const cell of cells) data.set(rowIndex.get(cell.source.key), colIndex.get(cell.dest.key), cell);
  return data;
}

export async function render(root, params, {go}) {
  const dest = pick(params.get("dest_by"), DEST_KINDS, "country");
  const colour = pick(params.get("colour"), COLOURS, "rtt");
  const range = pick(params.get("range"), RANGES, "1h");
  const state = {dest_by: dest, colour, range};
  const controls = h("form", {class: "controls", "aria-label": "Matrix options"});
  const destSel = select(DEST_KINDS, dest, {name: "dest_by"});
  const colourSel = select(COLOURS, colour, {name: "colour"});
  const rangeSel = select(RANGES, range, {name: "range"});
  controls.append(field("Columns", destSel), field("Colour by", colourSel), field("Range", rangeSel));
  const update = () => go("overview", {dest_by: destSel.value, colour: colourSel.value, range: rangeSel.value});
  destSel.addEventListener("change", update);
  rangeSel.addEventListener("change", update);
  controls.addEventListener("submit", (event) => event.preventDefault());

  const summary = h("p", {class: "summary", "aria-live": "polite", "data-testid": "matrix-summary"}, "Loading…");
  const legendBox = h("div", {class: "legend-box"});
  const matrix = new Matrix({
    label: "Latency matrix: source locations (rows) by destinations (columns). "
      + "Arrow keys move between cells, Enter opens the pair.",
    onOpen: (r, c) => {
      const data = matrix.data;
      go("pair", {
        source: data.rows[r].key, dest_by: state.dest_by, dest: data.cols[c].key,
        range: ["15m", "1h"].includes(state.range) ? "3h" : state.range,
      });
    },
  });
  matrix.mode = colour;
  const showLegend = () => clear(legendBox).append(legend(matrix.mode === "loss" ? LOSS_SCALE : RTT_SCALE));
  colourSel.addEventListener("change", () => {
    matrix.setMode(colourSel.value);
    showLegend();
    state.colour = colourSel.value;
    go("overview", {...state, dest_by: destSel.value, range: rangeSel.value}, {silent: true});
  });
  showLegend();
  root.append(
    heading("Overview"),
    controls,
    summary,
    legendBox,
    h("p", {class: "hint"}, "Hover over a cell, or focus the matrix and use the arrow keys, for its figures; click or press Enter to open the pair."),
    matrix.element,
  );

  const aborter = new AbortController();
  let frame = 0;
  let latest = null;
  const redraw = () => {
    frame = 0;
    const drawStart = performance.now();
    const data = toMatrix(latest.cells);
    if (!data.rows.length) {
      summary.textContent = latest.more ? "Loading…" : "No measurements in this range.";
      matrix.element.hidden = !latest.more;
      return;
    }
    matrix.element.hidden = false;
    matrix.setData(data);
    const what = DEST_KINDS.find(([v]) => v === state.dest_by)[1].toLowerCase();
    summary.textContent = `${count(data.rows.length)} source locations × ${count(data.cols.length)} ${what}, `
      + `${count(latest.cells.length)} pairs with data${latest.more ? " (loading more…)" : ""}.`;
    if (!latest.more) {
      // For the benchmark and the browser tests: when the whole matrix was drawn (ms since
      // navigation started), and how long its last draw took.
      const body = document.body.dataset;
      body.matrixDrawMs = (performance.now() - drawStart).toFixed(1);
      body.matrixCells = String(latest.cells.length);
      body.matrixRendered = performance.now().toFixed(0);
    }
  };
  loadMatrix({dest_by: state.dest_by, since: state.range}, (cells, more) => {
    latest = {cells, more};
    if (!more) {
      if (frame) cancelAnimationFrame(frame);
      redraw();
    } else if (!frame) {
      frame = requestAnimationFrame(redraw);
    }
  }, aborter.signal).catch((err) => {
    if (err.name !== "AbortError") summary.textContent = `Could not load the matrix: ${err.message}`;
  });
  const onResize = () => matrix.draw();
  window.addEventListener("resize", onResize);
  return () => {
    aborter.abort();
    window.removeEventListener("resize", onResize);
  };
}
