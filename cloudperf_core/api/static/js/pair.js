// Pair or group view: from a source location (or all) to a destination place, the smoke
// graph over 3 h / 1 day / 7 days / 30 days / a custom range (the server re-windows the
// stored windows into 100-300 steps: GET /v1/latency/series), loss and duplicates below it,
// then the statistics of the whole range (GET /v1/latency), overall and per probe x target.
import {get} from "./api.js";
import {LOSS_SCALE, legend} from "./colors.js";
import {count, field, h, heading, ms, pct, table, when} from "./dom.js";
import {columns, lossChart, smokeChart} from "./smoke.js";

const RANGES = [["3h", "3 hours"], ["1d", "1 day"], ["7d", "7 days"], ["30d", "30 days"]];
const FILTER = {location: "location", city: "city", asn: "asn", country: "country", group: "group", target: "target"};
const KIND = {location: "location", city: "city", asn: "ASN", country: "country", group: "group", target: "address"};

function localInput(epochS) {
  const d = new Date(epochS * 1000 - new Date(epochS * 1000).getTimezoneOffset() * 60000);
  return d.toISOString().slice(0, 16);
}

export async function render(root, params, {go}) {
  const source = params.get("source");
  const destBy = FILTER[params.get("dest_by")] ? params.get("dest_by") : "country";
  const dest = params.get("dest");
  let range = params.get("range") || "3h";
  const nowS = Math.floor(Date.now() / 1000);
  let since = range;
  let until = null;
  if (range === "custom") {
    since = Number(params.get("since")) || nowS - 3 * 3600;
    until = Number(params.get("until")) || nowS;
  } else if (!RANGES.some(([v]) => v === range)) {
    range = "3h";
    since = range;
  }
  const filters = {probe_location: source, [FILTER[destBy]]: dest};
  const base = {source, dest_by: destBy, dest};
  const title = `${source || "All sources"} → ${dest ? `${KIND[destBy]} ${dest}` : "everywhere"}`;

  const rangeButtons = h("div", {class: "range-buttons", role: "group", "aria-label": "Range"},
    RANGES.map(([value, label]) => h("button", {
      type: "button", "aria-pressed": String(range === value),
      onclick: () => go("pair", {...base, range: value}),
    }, label)));
  const sinceIn = h("input", {type: "datetime-local", value: localInput(range === "custom" ? since : nowS - 3 * 3600)});
  const untilIn = h("input", {type: "datetime-local", value: localInput(range === "custom" ? until : nowS)});
  const custom = h("form", {class: "custom-range", "aria-label": "Custom range"},
    field("From", sinceIn), field("To", untilIn),
    h("button", {type: "submit", "aria-pressed": String(range === "custom")}, "Show range"));
  custom.addEventListener("submit", (event) => {
    event.preventDefault();
    const from = Math.floor(new Date(sinceIn.value).getTime() / 1000);
    const to = Math.floor(new Date(untilIn.value).getTime() / 1000);
    if (from < to) go("pair", {...base, range: "custom", since: from, until: to});
  });

  const summary = h("p", {class: "summary", "data-testid": "pair-summary"}, "Loading…");
  const readout = h("p", {class: "readout", "aria-live": "polite", "data-testid": "chart-readout"},
    "Hover over the graph, or focus it and use the arrow keys, for the figures of one step.");
  const smokeEl = h("div", {class: "chart"});
  const lossEl = h("div", {class: "chart"});
  const charts = h("div", {
    class: "charts", tabindex: "0", role: "group",
    "aria-label": "Smoke graph and loss panel: left and right arrow keys step through time, Home and End jump to the first and last step with data",
  }, smokeEl, lossEl);
  const tables = h("div", {class: "stats"});
  root.append(
    heading(title),
    h("p", {}, h("a", {href: "#/overview"}, "← Overview")),
    h("div", {class: "controls"}, rangeButtons, custom),
    summary,
    h("div", {class: "legend-box"}, legend(LOSS_SCALE, {withNoData: false})),
    h("p", {class: "hint"}, "Grey bands: p10–p90, p20–p80, p30–p70, p40–p60 per step; the line is the median, coloured by the step's loss. Drag across the graph to zoom in."),
    charts,
    readout,
    tables,
  );

  const aborter = new AbortController();
  const signal = aborter.signal;
  const query = {...filters, since, until};
  const [series, overall, rows] = await Promise.all([
    get("/v1/latency/series", query, {signal}),
    get("/v1/latency", {...query, group_by: "overall"}, {signal}),
    get("/v1/latency", {...query, source_by: "probe", dest_by: "target", limit: 200}, {signal}),
  ]);
  const total = overall.items[0];
  summary.textContent = total
    ? `${when(series.since_s * 1000)} to ${when(series.until_s * 1000)}, steps of ${series.step_s / 60} min: `
      + `loss ${pct(total.loss_ratio)} (${count(total.sent - total.received)} of ${count(total.sent)} probes lost), `
      + `median ${ms(total.p50_ms)}, p95 ${ms(total.p95_ms)}, ${count(total.duplicates)} duplicates.`
    : `No measurements from ${when(series.since_s * 1000)} to ${when(series.until_s * 1000)}.`;

  const cols = columns(series);
  const withData = series.points.map((p, i) => (p.sent > 0 ? i : -1)).filter((i) => i >= 0);
  const describe = (idx) => {
    if (idx === null || idx === undefined || idx < 0) return;
    const p = series.points[Math.floor(idx / 2)];
    if (!p) return;
    readout.textContent = p.sent > 0
      ? `${when(p.start_s * 1000)}: median ${ms(p.p50_ms)}, p10–p90 ${ms(p.p10_ms)} – ${ms(p.p90_ms)}, `
        + `loss ${pct(p.loss_ratio)} (${count(p.sent - p.received)} of ${count(p.sent)}), ${count(p.duplicates)} duplicates`
      : `${when(p.start_s * 1000)}: no data`;
  };
  const onSelect = (from, to) => go("pair", {...base, range: "custom", since: from, until: to});
  const syncKey = `pair-${Math.random()}`;
  const width = () => Math.max(280, charts.clientWidth - 4);
  const smoke = smokeChart(smokeEl, series, cols, {width: width(), syncKey, onCursor: describe, onSelect});
  const loss = lossChart(lossEl, cols, {width: width(), syncKey, onSelect});
  let at = withData.length ? withData.length - 1 : -1;
  const moveTo = (k) => {
    if (!withData.length) return;
    at = Math.max(0, Math.min(withData.length - 1, k));
    const i = withData[at];
    smoke.setCursor({left: smoke.valToPos(cols.xs[2 * i], "x"), top: 10});
    describe(2 * i);
  };
  charts.addEventListener("focus", () => moveTo(at));
  charts.addEventListener("keydown", (event) => {
    const keys = {ArrowLeft: at - 1, ArrowRight: at + 1, Home: 0, End: withData.length - 1};
    if (event.key in keys) {
      event.preventDefault();
      moveTo(keys[event.key]);
    }
  });
  const resize = new ResizeObserver(() => {
    smoke.setSize({width: width(), height: 280});
    loss.setSize({width: width(), height: 150});
  });
  resize.observe(charts);

  const row = (label, r) => [label, count(r.sent), pct(r.loss_ratio), count(r.duplicates), ms(r.min_ms),
    ms(r.avg_ms), ms(r.p50_ms), ms(r.p95_ms), ms(r.p99_ms), ms(r.max_ms), ms(r.jitter_ms), ms(r.stddev_ms)];
  const headers = ["", "sent", "loss", "duplicates", "min", "mean", "p50", "p95", "p99", "max", "jitter", "stddev"];
  if (total) {
    tables.append(table("Whole range", headers, [row("all probes", total)], {"data-testid": "stats-overall"}));
    tables.append(table("Per probe and address", ["probe → address", ...headers.slice(1)],
      rows.items.map((r) => row(`${r.source} → ${r.dest}`, r))));
    if (rows.next_cursor) tables.append(h("p", {class: "hint"}, "The first 200 pairs are shown."));
  }
  return () => {
    aborter.abort();
    resize.disconnect();
    smoke.destroy();
    loss.destroy();
  };
}

