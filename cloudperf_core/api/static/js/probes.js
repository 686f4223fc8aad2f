// Probes: online or not, last seen, location, jobs per minute, and whether their fping can
// send (from the last heartbeat), from GET /v1/probes.
import {ApiError, get} from "./api.js";
import {ago, h, heading, table} from "./dom.js";

/** Every probe (GET /v1/probes, page by page). */
export async function allProbes(signal) {
  const out = [];
  let after = null;
  for (let i = 0; i < 1000; i += 1) {
    const page = await get("/v1/probes", {after, limit: 1000}, {signal});
    out.push(...page.probes);
    after = page.next_after;
    if (!after) break;
  }
  return out;
}

function yesNo(value, yes, no) {
  if (value === null || value === undefined) return "unknown";
  return value ? yes : no;
}

export async function render(root) {
  root.append(heading("Probes"));
  let probes;
  try {
    probes = await allProbes();
  } catch (err) {
    const missing = err instanceof ApiError && err.status === 404;
    root.append(h("p", {class: "error", role: "alert"},
      missing ? "This server has no probe list (GET /v1/probes)." : `Could not load the probes: ${err.message}`));
    return;
  }
  const online = probes.filter((p) => p.online).length;
  root.append(h("p", {class: "summary"}, `${probes.length} probes, ${online} online.`));
  if (!probes.length) return;
  const now = Date.now();
  const rows = probes.map((p) => [
    p.probe_id,
    p.location || "–",
    p.enabled ? (p.online ? "online" : "offline") : "disabled",
    ago(p.last_seen_ms, now),
    p.jobs_per_minute.toFixed(1),
    p.reports_per_minute.toFixed(1),
    yesNo(p.fping_can_send, "yes", "NO"),
    p.agent_version || "–",
  ]);
  root.append(table("Probes",
    ["probe", "location", "state", "last seen", "jobs / min", "reports / min", "fping can send", "agent"],
    rows, {"data-testid": "probes"}));
}
