// The run page's panels besides the live charts: summary, spec, artifacts, status log (the t-SNE map: tsne_panel.js).

import { h, setText } from "./dom.js";
import { formatBytes, formatTime, formatValue } from "./format.js";
import { baselines, formatMetric, isBaseline, metricInfo, metricLabel, summaryMetrics } from "./catalog.js";
import { appliesToSpec } from "./schema_form.js";

/** The summary box: one card per summary metric of the catalogue, labelled and formatted as it says, "—" until
 * known; a trained metric's card shows its random-init baseline beneath, and the baselines get no card of their own.
 * Metrics with a baseline come first, in the baselines' order (the first is the headline card), then the rest in
 * the catalogue's order. */
export class SummaryPanel {
  constructor() {
    this.values = {};
    this.cards = new Map();
    this.baselines = new Map();
    const pairs = baselines();
    const own = summaryMetrics().filter((key) => !isBaseline(key));
    this.keys = [...Object.keys(pairs).filter((key) => own.includes(key)), ...own.filter((key) => !(key in pairs))];
    const headline = this.keys.find((key) => key in pairs);
    this.element = h("section", { class: "summary", "aria-label": "Summary", "data-testid": "summary" },
      this.keys.map((key) => {
        const testid = `final-${key.replace(/_/g, "-")}`;
        const value = h("span", { class: "card-value", "data-testid": testid }, "—");
        this.cards.set(key, value);
        const baseline =
          key in pairs
            ? h("span", { class: "card-baseline muted", "data-testid": `${testid}-random`, hidden: true })
            : null;
        if (baseline) this.baselines.set(key, baseline);
        return h("div", { class: `card card-${key}${key === headline ? " card-headline" : ""}`, "data-metric": key,
          title: (metricInfo(key) || {}).description || null },
        h("span", { class: "card-label" }, metricLabel(key)), value, baseline);
      }));
  }

  /** Merge figures (from the run's summary or from final metric points) and redraw the cards. */
  update(figures) {
    for (const [key, value] of Object.entries(figures || {})) {
      if (typeof value === "number" && Number.isFinite(value)) this.values[key] = value;
    }
    for (const key of this.keys) {
      const el = this.cards.get(key);
      const value = this.values[key];
      setText(el, formatMetric(key, value));
      if (value === undefined) el.removeAttribute("data-value");
      else el.dataset.value = String(value);
      el.closest(".card").classList.toggle("known", value !== undefined);
    }
    const pairs = baselines();
    for (const [key, el] of this.baselines) {
      const random = this.values[pairs[key]];
      el.hidden = random === undefined;
      setText(el, random === undefined ? "" : `random init: ${formatMetric(pairs[key], random)}`);
    }
  }
}

/** The spec as a compact two-column table; values that differ from the defaults are marked, and fields that
 * do not apply to this run's method, dataset or optimiser are left out once the schema is known. */
export function specTable(spec, schema) {
  const props = (schema && schema.properties) || {};
  const applies = ([key]) => appliesToSpec(props[key], spec);
  const rows = Object.entries(spec || {}).filter(applies).map(([key, value]) => {
    const changed =
      key in props && "default" in props[key] && JSON.stringify(props[key].default) !== JSON.stringify(value);
    return h(
      "tr",
      { class: changed ? "changed" : null, title: changed ? `default: ${formatValue(props[key].default)}` : null },
      h("th", { scope: "row" }, key),
      h("td", {}, formatValue(value)),
    );
  });
  return h("table", { class: "table spec-table", "data-testid": "spec-table" }, h("tbody", {}, rows));
}

/** Artifact rows with download links; the encoder checkpoint also gets the big button. */
export function artifactList(items) {
  if (!items.length) return h("p", { class: "muted" }, "No files yet: checkpoints appear when the run has finished.");
  return h("ul", { class: "artifacts", "data-testid": "artifacts" }, items.map((item) =>
    h("li", {},
      h("a", { href: item.url, download: item.filename, "data-testid": `artifact-${item.name}` }, item.name),
      h("span", { class: "muted size" }, formatBytes(item.size)))));
}

/** The prominent "Download checkpoint" button for encoder.safetensors, or null. */
export function checkpointButton(items) {
  const encoder = items.find((item) => item.name === "encoder.safetensors");
  if (!encoder) return null;
  return h(
    "a",
    {
      class: "button primary download",
      href: encoder.url,
      download: encoder.filename,
      "data-testid": "download-checkpoint",
    },
    h("span", { "aria-hidden": "true" }, "⬇ "),
    "Download checkpoint",
    h("span", { class: "button-note" }, ` ${formatBytes(encoder.size)}`),
  );
}

const LOG_LIMIT = 500;

/** A running list of status changes and phase messages, newest at the bottom. */
export class StatusLog {
  constructor() {
    this.list = h("ol", { class: "status-log", "data-testid": "status-log", "aria-live": "polite" });
    this.element = this.list;
    this.seen = new Set();
  }

  /** Add an entry; `kind` is "status", "log" or "error". An entry with a server `id` is added once. */
  add(kind, text, timeIso, id = null) {
    if (id !== null) {
      if (this.seen.has(id)) return;
      this.seen.add(id);
    }
    const atBottom = this.list.scrollTop + this.list.clientHeight >= this.list.scrollHeight - 4;
    this.list.append(h("li", { class: `log-${kind}` },
      h("time", { datetime: timeIso || "" }, timeIso ? formatTime(timeIso) : ""),
      h("span", {}, text)));
    while (this.list.childElementCount > LOG_LIMIT) this.list.firstElementChild.remove();
    if (atBottom) this.list.scrollTop = this.list.scrollHeight;
  }
}
