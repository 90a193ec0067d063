// The compare view's tables and t-SNE grid: the spec fields that differ, final metrics with the best marked.

import { h } from "./dom.js";
import { formatValue, DASH } from "./format.js";
import { bestIndex, differingKeys, summarize } from "./compare_data.js";
import { drawTsne } from "./run_panels.js";
import { isBaseline, metricDirection, metricFormatter, metricInfo, metricLabel, summaryMetrics, unitText } from "./catalog.js";

/** A colour dot and the run's name, linking to its page. */
export function runLabel(run, color) {
  return h("a", { href: `#/runs/${run.id}`, class: "run-label" },
    h("span", { class: "swatch", style: `background:${color}`, "aria-hidden": "true" }), `${run.name || "Run"} #${run.id}`);
}

/** Spec fields as rows, runs as columns; only the fields that differ unless `all`. */
export function specDiffTable(runs, colorOf, all) {
  const specs = runs.map((run) => run.spec || {});
  const keys = all ? [...new Set(specs.flatMap(Object.keys))] : differingKeys(specs).filter((key) => key !== "name");
  if (!keys.length) return h("p", { class: "muted", "data-testid": "spec-diff-empty" }, "The specs are identical (apart from the names).");
  const differing = new Set(differingKeys(specs));
  return h("div", { class: "table-scroll" }, h("table", { class: "table compare-table", "data-testid": "spec-diff" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "field"), runs.map((run) => h("th", { scope: "col" }, runLabel(run, colorOf(run.id)))))),
    h("tbody", {}, keys.map((key) => h("tr", { "data-field": key, class: differing.has(key) ? "differs" : null },
      h("th", { scope: "row", class: "mono" }, key),
      specs.map((spec) => h("td", {}, formatValue(spec[key]))))))));
}

/** A number of the run's summary, or null. */
function summaryValue(run, key) {
  const value = (run.summary || {})[key];
  return typeof value === "number" ? value : null;
}

/** What a column header's tooltip says: the catalogue's description, unit and which way is better. */
function columnHint(key) {
  const info = metricInfo(key) || {};
  const unit = unitText(key);
  const better = info.direction ? `${info.direction} is better` : "";
  return [info.description, unit && `in ${unit}`, better].filter(Boolean).join("; ");
}

/**
 * Runs as rows (seed groups add a mean ± std row), the catalogue's summary metrics as columns, labelled,
 * formatted and judged as the catalogue says; the best of each column is highlighted. Columns no run has
 * are left out.
 */
export function finalMetricsTable(runs, colorOf) {
  const columns = summaryMetrics().filter((key) => runs.some((run) => summaryValue(run, key) !== null));
  const values = columns.map((key) => runs.map((run) => summaryValue(run, key)));
  const formats = columns.map((key) => metricFormatter(key));
  // Baselines are context, not results, and a metric with no better direction has no best.
  const best = columns.map((key, c) => {
    const direction = metricDirection(key);
    return isBaseline(key) || !direction ? -1 : bestIndex(values[c], direction === "lower");
  });
  const rows = runs.map((run, r) => h("tr", { "data-run-id": run.id },
    h("th", { scope: "row" }, runLabel(run, colorOf(run.id)), run.group_id ? h("span", { class: "muted" }, ` · seed ${run.spec.seed}`) : ""),
    columns.map((key, c) => {
      const isBest = best[c] === r && runs.length > 1;
      return h("td", { class: `num${isBest ? " best" : ""}`, "data-col": key, title: isBest ? "best" : null }, formats[c](values[c][r]));
    })));
  const groups = new Map();
  for (const run of runs) if (run.group_id) groups.set(run.group_id, [...(groups.get(run.group_id) || []), run]);
  for (const [groupId, members] of groups) {
    if (members.length < 2) continue;
    rows.push(h("tr", { class: "group-row", "data-group-id": groupId },
      h("th", { scope: "row" }, `${members[0].name || "group"}: mean ± std of ${members.length} seeds`),
      columns.map((key, c) => {
        const stats = summarize(members.map((run) => summaryValue(run, key)));
        return h("td", { class: "num" }, stats ? `${formats[c](stats.mean)} ± ${formats[c](stats.std).replace(" %", "")}` : DASH);
      })));
  }
  return h("div", { class: "table-scroll" }, h("table", { class: "table compare-table", "data-testid": "final-metrics" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "run"),
      columns.map((key) => h("th", { scope: "col", class: "num", "data-col": key, title: columnHint(key) || null }, metricLabel(key))))),
    h("tbody", {}, rows)));
}

/** One t-SNE card per run: the map when the run has one, else why not. Returns the chart divs. */
export function tsneGrid(container, runs, colorOf, loadEmbedding) {
  const divs = [];
  container.replaceChildren(...runs.map((run) => {
    const div = h("div", { class: "chart chart-tsne", "data-testid": "compare-tsne", hidden: true });
    const note = h("p", { class: "muted chart-note" }, run.status === "succeeded" ? "Loading…" : `No t-SNE map: the run is ${run.status}.`);
    const title = h("span", { class: "muted" });
    if (run.status === "succeeded") {
      loadEmbedding(run.id).then(async (embedding) => {
        if (!div.isConnected) return;
        if (typeof embedding.silhouette === "number") title.textContent = ` · silhouette ${embedding.silhouette.toFixed(3)}`;
        note.hidden = true;
        div.hidden = false;
        await drawTsne(div, embedding, { compact: true });
      }, (err) => {
        note.textContent = err.status === 404 ? "No t-SNE map was recorded for this run." : `Could not load the t-SNE map: ${err.message}`;
      });
      divs.push(div);
    }
    return h("section", { class: "panel tsne-card", "data-run-id": run.id }, h("h3", {}, runLabel(run, colorOf(run.id)), title), note, div);
  }));
  return divs;
}
