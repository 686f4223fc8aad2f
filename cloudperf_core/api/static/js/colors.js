// Colour scales of the matrix and the smoke graph, with their legends. Buckets, not a
// continuous ramp, so a colour can be named in the legend and read back. The RTT scale is
// viridis (perceptually even, readable with the common colour-vision deficiencies); the
// loss scale follows SmokePing's (green = no loss, then blue, violet, magenta, red),
// darkened to keep at least 3:1 contrast against the white page.
import {h} from "./dom.js";

export const NO_DATA = "#e8e8e8";

export const RTT_SCALE = {
  name: "Median RTT",
  limits: [10, 25, 50, 100, 150, 250, Infinity], // upper bounds, ms
  colors: ["#fde725", "#8fd744", "#35b779", "#21908d", "#31688e", "#443a83", "#440154"],
  labels: ["< 10 ms", "10–25 ms", "25–50 ms", "50–100 ms", "100–150 ms", "150–250 ms", "≥ 250 ms"],
};

export const LOSS_SCALE = {
  name: "Loss",
  limits: [0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1], // upper bounds (inclusive), ratio
  colors: ["#1f9e00", "#0088cc", "#0050e6", "#5e00ff", "#a000e0", "#d1008f", "#d10000", "#7a0000"],
  labels: ["0 %", "≤ 1 %", "≤ 2 %", "≤ 5 %", "≤ 10 %", "≤ 20 %", "≤ 50 %", "> 50 %"],
};

/** The bucket index of value in scale (-1 for no value). */
export function bucket(scale, value) {
  if (value === null || value === undefined || Number.isNaN(value)) return -1;
  const {limits} = scale;
  for (let i = 0; i < limits.length; i += 1) {
    const inclusive = scale === LOSS_SCALE;
    if (inclusive ? value <= limits[i] : value < limits[i]) return i;
  }
  return limits.length - 1;
}

export function colorOf(scale, value) {
  const i = bucket(scale, value);
  return i < 0 ? NO_DATA : scale.colors[i];
}

/** A legend: a swatch and a label per bucket. */
export function legend(scale, {withNoData = true} = {}) {
  const items = scale.labels.map((label, i) =>
    h("li", {}, swatch(scale.colors[i]), label));
  if (withNoData) items.push(h("li", {}, swatch(NO_DATA), "no data"));
  return h("figure", {class: "legend"},
    h("figcaption", {}, scale.name), h("ul", {}, items));
}

// Colours are set through the CSSOM (el.style), which the CSP allows, unlike style="...".
function swatch(color) {
  const el = h("span", {class: "swatch", "aria-hidden": "true"});
  el.style.backgroundColor = color;
  return el;
}
