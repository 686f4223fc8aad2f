// Smoke graphs in the manner of SmokePing, with uPlot (vendored): per step, shaded bands
// p10..p90, p20..p80, p30..p70, p40..p60 (darker towards the middle) from the merged
// sketches, and the median line coloured by that step's loss; a second panel shows loss and
// duplicates. Each step is drawn flat across its width (two x values per step), empty
// steps are gaps, never interpolated.
import {LOSS_SCALE, colorOf} from "./colors.js";

/* global uPlot */

const BANDS = [["p90_ms", "p10_ms"], ["p80_ms", "p20_ms"], ["p70_ms", "p30_ms"], ["p60_ms", "p40_ms"]];
const BAND_FILL = "rgba(40, 40, 40, 0.13)";

/** Columns for uPlot: every step twice (its start and just before its end). */
export function columns(series) {
  const step = series.step_s;
  const end = step - Math.min(1, step / 1000);
  const xs = [];
  const col = (name) => {
    const out = [];
    for (const p of series.points) out.push(p[name], p[name]);
    return out;
  };
  for (const p of series.points) xs.push(p.start_s, p.start_s + end);
  const bandCols = BANDS.flatMap(([hi, lo]) => [col(hi), col(lo)]);
  const loss = series.points.flatMap((p) => {
    const v = p.loss_ratio === null ? null : p.loss_ratio * 100;
    return [v, v];
  });
  const dups = series.points.flatMap((p) => {
    const v = p.sent > 0 ? p.duplicates : null;
    return [v, v];
  });
  return {xs, bands: bandCols, median: col("p50_ms"), loss, dups, step};
}

// The median's stroke: a horizontal gradient with hard stops, one colour per step by loss.
function lossGradient(series) {
  return (u) => {
    const {ctx, bbox} = u;
    const grad = ctx.createLinearGradient(bbox.left, 0, bbox.left + bbox.width, 0);
    const at = (x) => Math.min(1, Math.max(0, (u.valToPos(x, "x", true) - bbox.left) / bbox.width));
    let stops = 0;
    for (const p of series.points) {
      if (p.loss_ratio === null) continue;
      const color = colorOf(LOSS_SCALE, p.loss_ratio);
      grad.addColorStop(at(p.start_s), color);
      grad.addColorStop(at(p.start_s + series.step_s), color);
      stops += 1;
    }
    if (!stops) grad.addColorStop(0, "#000");
    return grad;
  };
}

const axisFont = "12px system-ui, sans-serif";
const LEFT_AXIS = 60;
const RIGHT_AXIS = 64;

function baseOpts(width, height, syncKey, onSelect) {
  return {
    width, height,
    legend: {show: false},
    cursor: {sync: {key: syncKey}, drag: {x: true, y: false, setScale: false}, points: {show: false}},
    scales: {x: {time: true}},
    hooks: {
      setSelect: [(u) => {
        if (u.select.width < 8) return;
        const from = u.posToVal(u.select.left, "x");
        const to = u.posToVal(u.select.left + u.select.width, "x");
        u.setSelect({left: 0, width: 0, top: 0, height: 0}, false);
        onSelect(Math.floor(from), Math.ceil(to));
      }],
    },
  };
}

/** The smoke graph: uPlot over el. */
export function smokeChart(el, series, cols, {width, syncKey, onCursor, onSelect}) {
  const opts = baseOpts(width, 280, syncKey, onSelect);
  opts.series = [
    {},
    ...BANDS.flatMap(([hi, lo]) => [
      {label: hi.replace("_ms", ""), stroke: "rgba(0,0,0,0)", width: 0, points: {show: false}},
      {label: lo.replace("_ms", ""), stroke: "rgba(0,0,0,0)", width: 0, points: {show: false}},
    ]),
    {label: "median", stroke: lossGradient(series), width: 2.5, points: {show: false}},
  ];
  opts.bands = BANDS.map((_, i) => ({series: [1 + 2 * i, 2 + 2 * i], fill: BAND_FILL}));
  opts.axes = [
    {font: axisFont, stroke: "#333"},
    {font: axisFont, stroke: "#333", label: "RTT (ms)", labelFont: axisFont, size: LEFT_AXIS},
    // An empty right axis as wide as the loss panel's, so both plots share their x pixels.
    {side: 1, size: RIGHT_AXIS, label: "\u00a0", labelFont: axisFont, grid: {show: false}, ticks: {show: false}, values: (u, vals) => vals.map(() => "")},
  ];
  opts.scales.y = {range: (u, min, max) => [0, max > 0 ? max * 1.08 : 1]};
  opts.hooks.setCursor = [(u) => onCursor(u.cursor.idx)];
  return new uPlot(opts, [cols.xs, ...cols.bands, cols.median], el);
}

/** Loss (%) and duplicates per step. */
export function lossChart(el, cols, {width, syncKey, onSelect}) {
  const opts = baseOpts(width, 150, syncKey, onSelect);
  opts.series = [
    {},
    {label: "loss %", scale: "%", stroke: "#b2182b", fill: "rgba(178, 24, 43, 0.25)", width: 1.5, points: {show: false}},
    {label: "duplicates", scale: "dups", stroke: "#2166ac", width: 1.5, dash: [4, 3], points: {show: false}},
  ];
  opts.scales["%"] = {range: (u, min, max) => [0, Math.max(5, Math.min(100, max * 1.15))]};
  opts.scales.dups = {range: (u, min, max) => [0, Math.max(1, max * 1.15)]};
  opts.axes = [
    {font: axisFont, stroke: "#333"},
    {scale: "%", font: axisFont, stroke: "#b2182b", label: "loss (%)", labelFont: axisFont, size: LEFT_AXIS},
    {scale: "dups", side: 1, size: RIGHT_AXIS, font: axisFont, stroke: "#2166ac", label: "duplicates", labelFont: axisFont, grid: {show: false}},
  ];
  return new uPlot(opts, [cols.xs, cols.loss, cols.dups], el);
}
