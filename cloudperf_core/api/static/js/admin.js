// Administration forms, by role: groups (operator and up); users, probes and pause/resume
// (admin). The server checks every role again; these forms are only shown to those who may
// use them. A probe's token is shown once, right after it is made.
import {allPages, del, get, post, put} from "./api.js";
import {clear, field, h, heading, select, table} from "./dom.js";
import {allProbes} from "./probes.js";

const ROLES = [["viewer", "viewer"], ["operator", "operator"], ["admin", "admin"]];

function section(id, title, build, extra = null) {
  const body = h("div");
  const note = h("p", {class: "note", role: "status"});
  const el = h("section", {class: "panel", "aria-labelledby": `${id}-title`, "data-testid": id},
    h("h2", {id: `${id}-title`}, title), note, body, extra);
  const say = (text) => { note.textContent = text; };
  const refresh = async () => {
    try {
      clear(body);
      await build(body, {refresh, say});
    } catch (err) {
      say(`Could not load: ${err.detail || err.message}`);
    }
  };
  return {el, refresh};
}

/** Runs an action, then refreshes; says what happened either way. */
function act(ctx, fn, done) {
  return async (event) => {
    if (event && event.preventDefault) event.preventDefault();
    try {
      const result = await fn();
      await ctx.refresh();
      ctx.say(typeof done === "function" ? done(result) : done);
    } catch (err) {
      ctx.say(`Refused: ${err.detail || err.message}`);
    }
  };
}

const button = (label, onclick, attrs = {}) => h("button", {type: "button", onclick, ...attrs}, label);
const confirmed = (question, fn) => () => (window.confirm(question) ? fn() : Promise.reject(new Error("cancelled")));
const path = (...parts) => parts.map(encodeURIComponent).join("/");

async function groups(body, ctx) {
  const list = await allPages("/v1/groups", {limit: 1000});
  const name = h("input", {required: true, maxlength: 255});
  const members = h("textarea", {rows: 4, required: true});
  const form = h("form", {"aria-label": "Create or replace a group"},
    field("Group name", name),
    field("Locations, one per line", members, "Catalogue location names; the group gets exactly these."),
    h("button", {type: "submit"}, "Save group"));
  form.addEventListener("submit", act(ctx, () => put(`/v1/groups/${path(name.value.trim())}`, {
    locations: members.value.split("\n").map((l) => l.trim()).filter(Boolean),
  }), "Group saved."));
  const edit = (g) => async () => {
    const all = await allPages(`/v1/groups/${path(g.name)}`, {limit: 1000});
    name.value = g.name;
    members.value = all.join("\n");
    members.focus();
  };
  body.append(
    list.length
      ? table("Groups", ["group", "locations", "", ""], list.map((g) => [g.name, String(g.locations),
        button(`Edit ${g.name}`, edit(g)),
        button(`Delete ${g.name}`, act(ctx, confirmed(`Delete group ${g.name}?`, () => del(`/v1/groups/${path(g.name)}`)), "Group deleted."))]))
      : h("p", {}, "No groups yet."),
    form,
  );
}

async function users(body, ctx) {
  const list = await allPages("/v1/users", {limit: 1000});
  const rows = list.map((u) => {
    const role = select(ROLES, u.role, {"aria-label": `Role of ${u.name}`});
    return [u.name, role,
      button(`Set role of ${u.name}`, act(ctx, () => put(`/v1/users/${path(u.name)}/role`, {role: role.value}), "Role set.")),
      button(`Delete ${u.name}`, act(ctx, confirmed(`Delete user ${u.name}?`, () => del(`/v1/users/${path(u.name)}`)), "User deleted."))];
  });
  const name = h("input", {required: true, autocomplete: "off", pattern: "[A-Za-z0-9][A-Za-z0-9._@\\-]{0,63}"});
  const pass = h("input", {type: "password", required: true, minlength: 10, autocomplete: "new-password"});
  const role = select(ROLES, "viewer");
  const create = h("form", {"aria-label": "Create a user"},
    h("h3", {}, "New user"), field("User name", name), field("Password", pass, "At least 10 characters."),
    field("Role", role), h("button", {type: "submit"}, "Create user"));
  create.addEventListener("submit", act(ctx, () => post("/v1/users", {name: name.value, password: pass.value, role: role.value}), "User created."));
  const who = select(list.map((u) => [u.name, u.name]), null);
  const newPass = h("input", {type: "password", required: true, minlength: 10, autocomplete: "new-password"});
  const reset = h("form", {"aria-label": "Reset a password"},
    h("h3", {}, "Reset a password"), field("User", who), field("New password", newPass, "Their sessions end."),
    h("button", {type: "submit"}, "Reset password"));
  reset.addEventListener("submit", act(ctx, () => put(`/v1/users/${path(who.value)}/password`, {password: newPass.value}), "Password reset."));
  body.append(table("Users", ["user", "role", "", ""], rows), create, reset);
}

async function probes(body, ctx, tokenBox) {
  const list = await allProbes();
  const showToken = (answer) => {
    clear(tokenBox).append(
      h("p", {}, `Token of ${answer.probe.probe_id}, shown this once: put it in the probe's token file.`),
      field("Token", h("input", {readonly: true, value: answer.token, class: "mono", onfocus: (e) => e.target.select()})));
    tokenBox.hidden = false;
    return "Token made.";
  };
  const rows = list.map((p) => [p.probe_id, p.location || "–", p.enabled ? "enabled" : "disabled",
    button(`New token for ${p.probe_id}`, act(ctx, confirmed(`Replace the token of ${p.probe_id}? The old one stops working at once.`,
      () => post(`/v1/admin/probes/${path(p.probe_id)}/rotate-token`)), showToken)),
    p.enabled
      ? button(`Disable ${p.probe_id}`, act(ctx, () => post(`/v1/admin/probes/${path(p.probe_id)}/disable`), "Probe disabled."))
      : button(`Enable ${p.probe_id}`, act(ctx, () => post(`/v1/admin/probes/${path(p.probe_id)}/enable`), "Probe enabled."))]);
  const name = h("input", {required: true, pattern: "[a-z0-9][a-z0-9\\-]{0,62}", autocomplete: "off"});
  const location = h("input", {required: true, autocomplete: "off"});
  const form = h("form", {"aria-label": "Register a probe"},
    h("h3", {}, "Register a probe"),
    field("Probe name", name, "Lower-case letters, digits and '-'."),
    field("Location", location, "A catalogue location name (see Lookup)."),
    h("button", {type: "submit"}, "Register probe"));
  form.addEventListener("submit", act(ctx, () => post("/v1/admin/probes", {name: name.value, location: location.value}), showToken));
  body.append(rows.length ? table("Probes", ["probe", "location", "state", "", ""], rows) : h("p", {}, "No probes yet."), form);
}

async function pause(body, ctx) {
  const {paused} = await get("/v1/status");
  body.append(
    h("p", {"data-testid": "pause-state"}, paused ? "Scheduling is paused: no jobs are issued or handed out." : "Scheduling is running."),
    paused
      ? button("Resume scheduling", act(ctx, () => post("/v1/admin/resume"), "Resumed."))
      : button("Pause scheduling", act(ctx, () => post("/v1/admin/pause"), "Paused.")),
  );
}

export async function render(root, params, {can}) {
  root.append(heading("Admin"));
  const parts = [];
  if (can("operator")) parts.push(section("admin-groups", "Groups", groups));
  if (can("admin")) {
    parts.push(section("admin-users", "Users", users));
    // The token box lives outside the part that is rebuilt after each action.
    const tokenBox = h("div", {class: "token", hidden: true, role: "alert"});
    parts.push(section("admin-probes", "Probes", (body, ctx) => probes(body, ctx, tokenBox), tokenBox));
    parts.push(section("admin-pause", "Pause and resume", pause));
  }
  if (!parts.length) {
    root.append(h("p", {}, "Nothing to administer with your role."));
    return;
  }
  for (const part of parts) root.append(part.el);
  await Promise.all(parts.map((p) => p.refresh()));
}
