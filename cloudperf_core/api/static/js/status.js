// Status: catalogue sizes, discovery, data lately, probes online, the shared counters' rates
// and the job queue depths (GET /v1/status).
import {get} from "./api.js";
import {count, h, heading, table, when} from "./dom.js";

export async function render(root) {
  root.append(heading("Status"));
  const s = await get("/v1/status");
  const c = s.catalog;
  root.append(
    h("p", {class: "summary", "data-testid": "status-summary"},
      `${when(s.now_ms)}: ${s.paused ? "PAUSED, no jobs are issued" : "running"}; ${count(s.probes_online)} probes online.`),
    table("Catalogue", ["what", "count"], [
      ["locations", count(c.locations)], ["groups", count(c.groups)],
      ["ranges", `${count(c.ranges)} (fresh ${count(c.ranges_fresh)}, stale ${count(c.ranges_stale)}, queued ${count(c.ranges_queued)})`],
      ["addresses", `${count(c.addresses)} (new ${count(c.addresses_new)}, stable ${count(c.addresses_stable)}, lost ${count(c.addresses_lost)})`],
      ["probes", `${count(c.probes)} (${count(c.probes_enabled)} enabled)`], ["users", count(c.users)],
    ]),
    table("Data in the last hour", ["what", "count"], [
      ["source probes", count(s.data.sources)], ["destination locations", count(s.data.dest_locations)],
      ["pairs", count(s.data.pairs)],
    ]),
    table("Rates", ["counter", "last minute", "per minute (15 min)"],
      s.rates.map((r) => [r.name, count(r.last_minute), r.per_minute_15m.toFixed(1)]),
      {"data-testid": "rates"}),
  );
  if (s.job_queues.length) {
    root.append(table("Job queues", ["source location", "jobs waiting or leased"],
      s.job_queues.map((q) => [q.source, count(q.depth)])));
  }
}
