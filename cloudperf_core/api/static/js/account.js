// One's own account: who is signed in, and a password change (every session of the user ends,
// this one is replaced by a new cookie).
import {post} from "./api.js";
import {field, h, heading} from "./dom.js";

export function passwordForm(onDone) {
  const old = h("input", {type: "password", autocomplete: "current-password", required: true});
  const fresh = h("input", {type: "password", autocomplete: "new-password", required: true, minlength: 10});
  const note = h("p", {role: "status"});
  const form = h("form", {class: "panel", "aria-labelledby": "pw-title"},
    h("h2", {id: "pw-title"}, "Change your password"),
    field("Current password", old), field("New password", fresh, "At least 10 characters."),
    h("button", {type: "submit"}, "Change password"), note);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await post("/v1/password", {old_password: old.value, new_password: fresh.value});
      old.value = fresh.value = "";
      note.textContent = "Password changed; your other sessions have ended.";
      if (onDone) onDone();
    } catch (err) {
      note.textContent = `Not changed: ${err.detail || err.message}`;
    }
  });
  return form;
}

export async function render(root, params, {session}) {
  root.append(heading("Account"),
    h("p", {}, `Signed in as ${session.user}, role ${session.role}.`),
    passwordForm());
}
