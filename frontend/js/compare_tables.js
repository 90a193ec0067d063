// The compare view's tables and t-SNE grid: the spec fields that differ, final metrics with the best marked.

import { h } from "./dom.js";
import { formatDuration, formatNumber, formatPercent, formatValue, DASH } from "./format.js";
import { bestIndex, differingKeys, summarize } from "./compare_data.js";
import { runSeconds } from "./runs_table.js";
import { drawTsne } from "./run_panels.js";

/** [key, label, format, lowerIsBetter, read(run, lastLoss)]: the final-metrics columns. */
const FINAL_COLUMNS = [
  ["linear_acc", "Linear probe", formatPercent, false],
  ["linear_acc_head", "Linear (head)", formatPercent, false],
  ["knn_acc", "k-NN", formatPercent, false],
  ["random_linear_acc", "Linear, random init", formatPercent, false],
  ["random_knn_acc", "k-NN, random init", formatPercent, false],
  ["silhouette", "Silhouette", (v) => formatNumber(v, 3), false],
  ["final_loss", "Last loss", (v) => formatNumber(v, 4), true],
  ["duration", "Duration", formatDuration, true],
];

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

function finalValue(run, key, lastLoss) {
  if (key === "duration") return runSeconds(run);
  if (key === "final_loss") return lastLoss.get(run.id) ?? null;
  const value = (run.summary || {})[key];
  return typeof value === "number" ? value : null;
}

/**
 * Runs as rows (seed groups add a mean ± std row), final figures as columns; the best of each column
 * is highlighted. Columns no run has are left out.
 */
export function finalMetricsTable(runs, colorOf, lastLoss) {
  const columns = FINAL_COLUMNS.filter(([key]) => runs.some((run) => finalValue(run, key, lastLoss) !== null));
  const values = columns.map(([key]) => runs.map((run) => finalValue(run, key, lastLoss)));
  // Baselines are context, not results: no "best" among them.
  const best = columns.map(([key, , , lower], c) => (key.startsWith("random_") ? -1 : bestIndex(values[c], lower)));
  const rows = runs.map((run, r) => h("tr", { "data-run-id": run.id },
    h("th", { scope: "row" }, runLabel(run, colorOf(run.id)), run.group_id ? h("span", { class: "muted" }, ` · seed ${run.spec.seed}`) : ""),
    columns.map(([key, , format], c) => {
      const isBest = best[c] === r && runs.length > 1;
      return h("td", { class: `num${isBest ? " best" : ""}`, "data-col": key, title: isBest ? "best" : null }, format(values[c][r]));
    })));
  const groups = new Map();
  for (const run of runs) if (run.group_id) groups.set(run.group_id, [...(groups.get(run.group_id) || []), run]);
  for (const [groupId, members] of groups) {
    if (members.length < 2) continue;
    rows.push(h("tr", { class: "group-row", "data-group-id": groupId },
      h("th", { scope: "row" }, `${members[0].name || "group"}: mean ± std of ${members.length} seeds`),
      columns.map(([key, , format]) => {
        const stats = summarize(members.map((run) => finalValue(run, key, lastLoss)));
        return h("td", { class: "num" }, stats ? `${format(stats.mean)} ± ${format(stats.std).replace(" %", "")}` : DASH);
      })));
  }
  return h("div", { class: "table-scroll" }, h("table", { class: "table compare-table", "data-testid": "final-metrics" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "run"), columns.map(([key, label]) => h("th", { scope: "col", class: "num", "data-col": key }, label)))),
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
