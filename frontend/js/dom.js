// A tiny element builder, so views read as a tree instead of createElement chains.

/**
 * Create an element.
 * `attrs`: `class`, `text`, `hidden`, `on<Event>` handlers, boolean/DOM properties
 * (`checked`, `value`, `disabled`), everything else as an attribute (`data-testid`, `aria-*`).
 * Children may be nodes, strings, numbers, arrays of those, or null/false (skipped).
 * @returns {HTMLElement}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key.startsWith("on") && typeof value === "function")
      el.addEventListener(key.slice(2).toLowerCase(), value);
    else if (key in PROPERTIES) el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

const PROPERTIES = { checked: 1, value: 1, disabled: 1, hidden: 1, open: 1, selected: 1, noValidate: 1 };

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

/** Replace all children of `el`. */
export function replaceChildren(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** Set text only when it changed (keeps selection and avoids layout work on polling). */
export function setText(el, text) {
  const value = String(text);
  if (el.textContent !== value) el.textContent = value;
}

/** A status badge: `<span class="badge badge-running">running</span>`. */
export function statusBadge(status, attrs = {}) {
  return h("span", { class: `badge badge-${status}`, ...attrs }, status);
}

/** Update a badge made by statusBadge in place. */
export function updateStatusBadge(el, status) {
  el.className = `badge badge-${status}`;
  setText(el, status);
}

/** A progress bar for a fraction in [0, 1]. */
export function progressBar(fraction, attrs = {}) {
  const fill = h("span", { class: "progress-fill" });
  const bar = h(
    "span",
    {
      class: "progress",
      role: "progressbar",
      "aria-label": "Progress",
      "aria-valuemin": 0,
      "aria-valuemax": 100,
      ...attrs,
    },
    fill,
  );
  updateProgressBar(bar, fraction);
  return bar;
}

/** Update a bar made by progressBar in place. */
export function updateProgressBar(bar, fraction) {
  const pct = Math.round(Math.min(1, Math.max(0, Number(fraction) || 0)) * 100);
  bar.setAttribute("aria-valuenow", String(pct));
  bar.title = `${pct} %`;
  bar.firstElementChild.style.width = `${pct}%`;
}
