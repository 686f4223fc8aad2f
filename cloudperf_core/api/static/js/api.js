// The /v1 API from the browser: the session is the HttpOnly cookie set by POST /v1/login
// (the console never sees or stores the token); every state-changing request is JSON, which
// the server requires of cookie sessions (a cross-site form cannot send it).

export class ApiError extends Error {
  constructor(status, code, detail) {
    super(detail || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

const listeners = new Set();
/** fn() is called whenever the API answers 401 (the session ended). */
export function onSignedOut(fn) {
  listeners.add(fn);
}

/** "?a=1&b=x&b=y" from {a: 1, b: ["x", "y"], c: null}. */
export function queryString(params) {
  const q = new URLSearchParams();
  for (const [name, value] of Object.entries(params || {})) {
    if (value === null || value === undefined || value === "") continue;
    for (const v of Array.isArray(value) ? value : [value]) q.append(name, String(v));
  }
  const text = q.toString();
  return text ? `?${text}` : "";
}

export async function api(method, path, {query, body, signal, quiet401} = {}) {
  const init = {method, credentials: "same-origin", headers: {Accept: "application/json"}, signal};
  if (method !== "GET") {
    init.headers["Content-Type"] = "application/json";
    if (body !== undefined) init.body = JSON.stringify(body);
  }
  const response = await fetch(path + queryString(query), init);
  if (response.status === 204) return null;
  let payload = null;
  const type = response.headers.get("content-type") || "";
  if (type.startsWith("application/json")) payload = await response.json();
  if (!response.ok) {
    if (response.status === 401 && !quiet401) listeners.forEach((fn) => fn());
    throw new ApiError(response.status, payload && payload.error, payload && payload.detail);
  }
  return payload;
}

export const get = (path, query, opts = {}) => api("GET", path, {...opts, query});
export const post = (path, body, opts = {}) => api("POST", path, {...opts, body});
export const put = (path, body, opts = {}) => api("PUT", path, {...opts, body});
export const del = (path, opts = {}) => api("DELETE", path, opts);

/** Every item of a paged list ({items, next_cursor}), following the cursors. */
export async function allPages(path, query = {}, {signal, max = 100} = {}) {
  const out = [];
  let cursor = null;
  for (let i = 0; i < max; i += 1) {
    const page = await get(path, {...query, cursor}, {signal});
    out.push(...page.items);
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  return out;
}
