// Catalogue lookup: an address -> its location, ASN, reachability and its measurements per
// probe (GET /v1/ip/{addr}); other text searches the catalogue (GET /v1/search).
import {get} from "./api.js";
import {count, field, h, heading, ms, pct, table, when} from "./dom.js";

const ADDRESS = /^[0-9a-fA-F:.]+$/;

export async function render(root, params, {go}) {
  const q = params.get("q") || "";
  const input = h("input", {type: "search", name: "q", value: q, autocomplete: "off", required: true});
  const form = h("form", {class: "controls", role: "search"},
    field("Address, or words of a place (city, country, ASN)", input),
    h("button", {type: "submit"}, "Look up"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    go("lookup", {q: input.value.trim()});
  });
  const out = h("div", {class: "results", "aria-live": "polite"});
  root.append(heading("Lookup"), form, out);
  if (!q) return;
  try {
    if (ADDRESS.test(q) && (q.includes(".") || q.includes(":"))) await showAddress(out, q);
    else await showSearch(out, q);
  } catch (err) {
    out.append(h("p", {class: "error", role: "alert"}, err.detail || err.message));
  }
}

async function showAddress(out, addr) {
  const info = await get(`/v1/ip/${encodeURIComponent(addr)}`, {since: "1d"});
  const loc = info.location;
  const facts = [
    ["address", `${info.address} (IPv${info.ip_version})`],
    ["location", loc ? loc.name : "not in the catalogue"],
    ["country", loc && loc.country_code ? `${loc.country_code} ${loc.country_name || ""}` : "–"],
    ["city", (loc && loc.city) || "–"],
    ["ASN", loc && loc.asn !== null ? `AS${loc.asn} ${loc.asn_name || ""}` : "–"],
    ["reachability", info.reachability || "never swept"],
    ["last answered", when(info.last_seen_ms)],
  ];
  out.append(h("dl", {class: "facts"}, facts.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])));
  if (!info.latency.length) {
    out.append(h("p", {}, "No measurements to this address in the last day."));
    return;
  }
  out.append(table("Measurements in the last day, per probe",
    ["probe", "sent", "loss", "p50", "p95", "p99", ""],
    info.latency.map((r) => [r.source, count(r.sent), pct(r.loss_ratio), ms(r.p50_ms), ms(r.p95_ms), ms(r.p99_ms),
      h("a", {href: `#/pair?dest_by=target&dest=${encodeURIComponent(info.address)}&range=1d`}, "smoke graph")])));
}

async function showSearch(out, q) {
  const page = await get("/v1/search", {q, limit: 50});
  if (!page.items.length) {
    out.append(h("p", {}, "No location matches."));
    return;
  }
  out.append(table("Matching locations", ["location", "country", "city", "ASN"],
    page.items.map((l) => [l.name, l.country_code || "–", l.city || "–", l.asn === null ? "–" : `AS${l.asn}`])));
}
