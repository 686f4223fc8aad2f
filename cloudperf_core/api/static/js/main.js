// The console's shell: who is signed in (GET /v1/me), the login form, the navigation by
// role, and a hash router (#/page?param=value) so every view has a link and Back works.
import {ApiError, get, onSignedOut, post} from "./api.js";
import {clear, field, h, heading} from "./dom.js";
import * as overview from "./overview.js";
import * as pair from "./pair.js";
import * as probes from "./probes.js";
import * as lookup from "./lookup.js";
import * as status from "./status.js";
import * as account from "./account.js";
import * as admin from "./admin.js";

const RANK = {viewer: 1, operator: 2, admin: 3};
const PAGES = {
  overview: {title: "Overview", module: overview, nav: "viewer"},
  pair: {title: "Pair", module: pair, nav: null},
  probes: {title: "Probes", module: probes, nav: "viewer"},
  lookup: {title: "Lookup", module: lookup, nav: "viewer"},
  status: {title: "Status", module: status, nav: "viewer"},
  admin: {title: "Admin", module: admin, nav: "operator"},
  account: {title: "Account", module: account, nav: "viewer"},
};

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const who = document.getElementById("who");
let session = null;
let cleanup = null;

export function can(role) {
  return session !== null && RANK[session.role] >= RANK[role];
}

/** The current route: {page, params}. */
export function route() {
  const hash = window.location.hash.replace(/^#\/?/, "");
  const [page, query = ""] = hash.split("?");
  return {page: page || "overview", params: new URLSearchParams(query)};
}

/** Go to a page: #/page?params (params: an object; null values are left out). ``silent``
 * only records the new state in the address (no re-render); ``replace`` re-renders without a
 * new history entry. */
export function go(page, params = {}, {replace = false, silent = false} = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== "") q.set(k, v);
  const text = q.toString();
  const hash = `#/${page}${text ? `?${text}` : ""}`;
  if (silent || replace) {
    window.history.replaceState(null, "", hash);
    if (replace) render();
  } else {
    window.location.hash = hash;
  }
}

export function toast(message) {
  const el = document.getElementById("toast");
  el.textContent = message;
}

function buildNav() {
  clear(nav);
  const list = h("ul");
  for (const [name, page] of Object.entries(PAGES)) {
    if (page.nav && can(page.nav)) {
      list.append(h("li", {}, h("a", {href: `#/${name}`, "data-page": name}, page.title)));
    }
  }
  nav.append(list);
  nav.hidden = false;
  document.getElementById("who-name").textContent = `${session.user} (${session.role})`;
  who.hidden = false;
}

function markCurrent(name) {
  for (const a of nav.querySelectorAll("a")) {
    if (a.dataset.page === name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

async function render() {
  if (cleanup) {
    cleanup();
    cleanup = null;
  }
  if (session === null) return;
  const {page, params} = route();
  const found = PAGES[page];
  clear(main);
  if (!found) {
    main.append(heading("Not found"), h("p", {}, "There is no such page."));
    return;
  }
  markCurrent(page === "pair" ? "overview" : page);
  document.title = `${found.title} – cloudperf`;
  try {
    cleanup = (await found.module.render(main, params, {session, can, go})) || null;
  } catch (err) {
    main.append(h("p", {class: "error", role: "alert"}, `Could not show this page: ${err.message}`));
  }
  const title = main.querySelector("h1");
  if (title && document.activeElement !== document.body) title.focus({preventScroll: true});
}

function showLogin(message) {
  session = null;
  nav.hidden = true;
  who.hidden = true;
  clear(main);
  document.title = "Log in – cloudperf";
  const user = h("input", {name: "username", autocomplete: "username", required: true});
  const pass = h("input", {name: "password", type: "password", autocomplete: "current-password", required: true});
  const problem = h("p", {class: "error", role: "alert"});
  if (message) problem.textContent = message;
  const form = h("form", {class: "login", "aria-labelledby": "login-title"},
    h("h1", {id: "login-title", tabindex: "-1"}, "Log in"),
    field("User name", user),
    field("Password", pass),
    problem,
    h("button", {type: "submit"}, "Log in"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    problem.textContent = "";
    try {
      await post("/v1/login", {username: user.value, password: pass.value}, {quiet401: true});
      pass.value = "";
      await start();
    } catch (err) {
      problem.textContent = err instanceof ApiError && err.status === 401
        ? "Wrong user name or password."
        : err.message;
    }
  });
  main.append(form);
  user.focus();
}

async function start() {
  try {
    const me = await get("/v1/me", null, {quiet401: true});
    session = {user: me.user, role: me.role};
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      showLogin();
      return;
    }
    clear(main).append(h("p", {class: "error", role: "alert"}, `The API does not answer: ${err.message}`));
    return;
  }
  buildNav();
  await render();
}

document.getElementById("logout").addEventListener("click", async () => {
  try {
    await post("/v1/logout");
  } finally {
    if (cleanup) cleanup();
    cleanup = null;
    showLogin("You are logged out.");
  }
});
document.getElementById("skip").addEventListener("click", (event) => {
  event.preventDefault();
  main.focus();
});
onSignedOut(() => {
  if (session !== null) showLogin("Your session ended: log in again.");
});
window.addEventListener("hashchange", () => render());
start();
