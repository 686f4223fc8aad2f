// Building the page without HTML strings: every value from the API goes in as text
// (textContent / attribute values), never as markup, and handlers are attached with
// addEventListener (the Content-Security-Policy forbids inline ones anyway).

/** h("button", {type: "button", onclick: fn, class: "x"}, "text", child, ...) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      el.className = value;
    } else if (name === "text") {
      el.textContent = value;
    } else if (name === "value") {
      el.value = value;
    } else if (name === "style") {
      throw new Error("no inline styles (CSP): use a class");
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

let ids = 0;
/** A unique id for label/for and aria-describedby pairs. */
export function uid(prefix = "f") {
  ids += 1;
  return `${prefix}-${ids}`;
}

/** A labelled form control: {row, control}. */
export function field(label, control, hint) {
  control.id = control.id || uid();
  const parts = [h("label", {for: control.id}, label), control];
  if (hint) {
    const hintId = uid("hint");
    control.setAttribute("aria-describedby", hintId);
    parts.push(h("span", {class: "hint", id: hintId}, hint));
  }
  return h("div", {class: "field"}, ...parts);
}

export function select(options, current, attrs = {}) {
  const el = h("select", attrs);
  for (const [value, label] of options) {
    const opt = h("option", {value}, label);
    if (value === current) opt.selected = true;
    el.append(opt);
  }
  return el;
}

/** A table with a caption, header cells and rows of text (or nodes). */
export function table(caption, headers, rows, attrs = {}) {
  const head = h("tr", {}, headers.map((text) => h("th", {scope: "col"}, text)));
  const body = rows.map((cells) =>
    h("tr", {}, cells.map((cell, i) => (i === 0 ? h("th", {scope: "row"}, cell) : h("td", {}, cell)))));
  return h("div", {class: "table-wrap"},
    h("table", attrs, h("caption", {}, caption), h("thead", {}, head), h("tbody", {}, body)));
}

export function heading(text) {
  return h("h1", {tabindex: "-1"}, text);
}

// --- numbers as people read them ------------------------------------------------------------

export function ms(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  if (value >= 100) return `${value.toFixed(0)} ms`;
  if (value >= 10) return `${value.toFixed(1)} ms`;
  return `${value.toFixed(2)} ms`;
}

export function pct(ratio) {
  if (ratio === null || ratio === undefined || Number.isNaN(ratio)) return "–";
  const value = ratio * 100;
  if (value === 0 || value === 100) return `${value.toFixed(0)} %`;
  return `${value < 1 ? value.toFixed(2) : value.toFixed(1)} %`;
}

export function count(n) {
  return n === null || n === undefined ? "–" : Number(n).toLocaleString("en");
}

export function when(epochMs) {
  if (epochMs === null || epochMs === undefined) return "never";
  return new Date(epochMs).toLocaleString("en-GB", {dateStyle: "medium", timeStyle: "medium"});
}

export function ago(epochMs, nowMs = Date.now()) {
  if (epochMs === null || epochMs === undefined) return "never";
  const s = Math.max(0, Math.round((nowMs - epochMs) / 1000));
  if (s < 90) return `${s} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 129600) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}

/** loss = 1 - received / sent, or null without probes. */
export function lossOf(sent, received) {
  return sent > 0 ? 1 - received / sent : null;
}
