// The study page's results table: one row per cell, the axes as columns, its runs' progress, the chosen
// metric's mean ± 95 % CI, n, and the verdict against the baseline cell (Holm-corrected p, P(better)).

import { h } from "./dom.js";
import { DASH, formatValue } from "./format.js";
import {
  STATUS,
  choiceLabel,
  formatMetric,
  formatMetricSpread,
  metricLabel,
  statuses,
  zeroStatusCounts,
} from "./catalog.js";

/** A spec value of an axis as the page shows it: method and dataset by their catalogue label. */
export function axisValueText(field, value) {
  if (value === undefined) return "n/a";
  if (typeof value === "string") return choiceLabel(field, value);
  return formatValue(value);
}

/** "97.3 ± 0.4 %": the mean and the half-width of its interval, the unit said once, to the precision the
 * interval carries (the CLI's rule); the mean alone without an interval. */
export function formatMeanCi(metric, mean, ci) {
  const usable = Array.isArray(ci) && ci.length === 2 && ci.every((b) => typeof b === "number" && Number.isFinite(b));
  return formatMetricSpread(metric, mean, usable ? (ci[1] - ci[0]) / 2 : null);
}

/** A p-value: "< 0.001", "0.042", "1". */
export function formatP(p) {
  if (typeof p !== "number" || !Number.isFinite(p)) return DASH;
  if (p < 0.001) return "< 0.001";
  return p >= 0.9995 ? "1" : p.toFixed(3);
}

/** Runs of a cell by status, from the study's runs. */
export function cellProgress(runIds, runsById) {
  const counts = zeroStatusCounts();
  for (const id of runIds) {
    const status = runsById.get(id)?.status || STATUS.queued;
    counts[status] = (counts[status] || 0) + 1;
  }
  return counts;
}

function progressCell(counts, total) {
  const done = counts.succeeded + counts.failed + counts.canceled + (counts.pruned || 0);
  const parts = statuses()
    .filter((status) => counts[status] > 0)
    .map((status) => [status, status === STATUS.succeeded ? "done" : status])
    .map(([status, word]) =>
      h("span", { class: `cell-count status-${status}`, "data-status": status }, `${counts[status]} ${word}`),
    );
  const fill = h("span", { class: "progress-fill", style: `width:${total ? Math.round((100 * done) / total) : 0}%` });
  return h("td", { class: "cell-progress", "data-testid": "cell-progress", "data-done": done, "data-total": total },
    h("span", { class: "progress", role: "progressbar", "aria-label": `${done} of ${total} runs finished`,
      "aria-valuemin": 0, "aria-valuemax": total, "aria-valuenow": done }, fill),
    h("span", { class: "cell-counts" }, parts));
}

/** The verdict's reason, then how many seeds: power at the observed effect and the seeds per cell for 80 %. */
function verdictNote(c) {
  const power = typeof c.power === "number"
    ? `power ${Math.round(c.power * 100)} % at this effect` +
      (c.seeds_for_80 ? `; ${c.seeds_for_80} seeds per cell for 80 %` : "; no effect to power")
    : "";
  return [c.reason, power].filter(Boolean).join(" · ");
}

/** "IQM 91.9 % (95 % bootstrap 91.0 % … 93.0 %)": the robust aggregate beside the mean, as a tooltip. */
function iqmNote(metric, s) {
  if (typeof s.iqm !== "number") return "mean ± half-width of the Student-t 95 % interval";
  const ci = Array.isArray(s.iqm_ci95) ? ` (95 % bootstrap ${formatMetric(metric, s.iqm_ci95[0])} … ` +
    `${formatMetric(metric, s.iqm_ci95[1])})` : "";
  return `mean ± half-width of the Student-t 95 % interval · IQM ${formatMetric(metric, s.iqm)}${ci}`;
}

function verdictCells(comparison, metric, isBaseline) {
  if (isBaseline) {
    return [h("td", { class: "verdict verdict-baseline", "data-col": "verdict" }, "baseline"),
      h("td", { class: "num", "data-col": "diff" }, DASH), h("td", { class: "num", "data-col": "p_holm" }, DASH),
      h("td", { class: "num", "data-col": "prob_better" }, DASH)];
  }
  if (!comparison)
    return ["verdict", "diff", "p_holm", "prob_better"].map((col) => h("td", { class: "num", "data-col": col }, DASH));
  const verdictClass = { better: "better", worse: "worse", "too few seeds": "few" }[comparison.verdict] || "none";
  // A difference of two percentages is in percentage points: "+0.4 pt", not "+0.4 %".
  const size =
    typeof comparison.diff === "number" ? formatMetric(metric, Math.abs(comparison.diff)).replace(/ %$/, " pt") : "";
  const diff =
    typeof comparison.diff === "number" ? `${comparison.diff > 0 ? "+" : comparison.diff < 0 ? "−" : ""}${size}` : DASH;
  return [
    h(
      "td",
      { class: `verdict verdict-${verdictClass}`, "data-col": "verdict", title: verdictNote(comparison) || null },
      comparison.verdict,
    ),
    h("td", { class: "num", "data-col": "diff", "data-value": comparison.diff ?? "" }, diff),
    h("td", { class: "num", "data-col": "p_holm", "data-value": comparison.p_holm ?? "" }, formatP(comparison.p_holm)),
    h(
      "td",
      { class: "num", "data-col": "prob_better", "data-value": comparison.prob_better ?? "" },
      typeof comparison.prob_better === "number" ? `${Math.round(comparison.prob_better * 100)} %` : DASH,
    ),
  ];
}

/**
 * The results table.
 * @param {object} p
 * @param {string[]} p.axes axis fields, in the study's order
 * @param {object[]} p.cells the study's cells `{key, values, runs}` (all runs of each)
 * @param {object} p.stats the stats endpoint's answer (cells with mean/ci95/n, comparisons, baseline)
 * @param {Map<number, object>} p.runsById the study's runs (for their statuses)
 * @param {(key: string) => string} p.colorOf a cell's colour in the charts
 * @param {(cell: object) => string} p.linkOf where a click on the cell goes (its runs compared)
 */
export function resultsTable({ axes, cells, stats, runsById, colorOf, linkOf }) {
  const metric = stats.metric;
  const statsByKey = new Map(stats.cells.map((cell) => [cell.key, cell]));
  const comparisons = new Map((stats.comparisons || []).map((c) => [c.key, c]));
  // "best" only where the verdicts back it (the server's pick): never beside "no detectable difference".
  const best = cells.length > 1 ? stats.best ?? null : null;
  const rows = cells.map((cell) => {
    const s = statsByKey.get(cell.key) || { n: 0, mean: null, ci95: null };
    const isBest = cell.key === best;
    const link = linkOf(cell);
    const row = h(
      "tr",
      { "data-cell-key": cell.key, class: `cell-row${isBest ? " best" : ""}` },
      h(
        "td",
        { class: "cell-link" },
        h(
          "a",
          { href: link, "data-testid": "cell-link", title: "Compare this cell's runs" },
          h("span", { class: "swatch", style: `background:${colorOf(cell.key)}`, "aria-hidden": "true" }),
          h("span", { class: "visually-hidden" }, `Compare the runs of ${cell.key}`),
        ),
      ),
      axes.map((field) => h("td", { "data-col": `axis-${field}` }, axisValueText(field, cell.values[field]))),
      progressCell(cellProgress(cell.runs, runsById), cell.runs.length),
      h(
        "td",
        {
          class: "num mean",
          "data-col": "mean",
          "data-value": s.mean ?? "",
          "data-ci-low": s.ci95 ? s.ci95[0] : "",
          "data-ci-high": s.ci95 ? s.ci95[1] : "",
          "data-iqm": s.iqm ?? "",
          title: iqmNote(metric, s),
        },
        h("span", { class: "mean-text" }, formatMeanCi(metric, s.mean, s.ci95)),
        isBest ? h("span", { class: "best-tag", title: "best mean, and the verdicts say so" }, "best") : null,
      ),
      h("td", { class: "num", "data-col": "n" }, String(s.n ?? 0)),
      verdictCells(comparisons.get(cell.key), metric, cell.key === stats.baseline),
    );
    row.addEventListener("click", (event) => {
      if (!event.target.closest("a, button")) location.hash = link;
    });
    return row;
  });
  const head = h(
    "tr",
    {},
    h("th", { scope: "col", class: "cell-link" }, h("span", { class: "visually-hidden" }, "compare")),
    axes.map((field) => h("th", { scope: "col" }, field)),
    h("th", { scope: "col" }, "runs"),
    h(
      "th",
      {
        scope: "col",
        class: "num",
        title: "mean over the succeeded seeds ± half-width of the Student-t 95 % interval",
      },
      `${metricLabel(metric)} (mean ± 95 % CI)`,
    ),
    h("th", { scope: "col", class: "num", title: "succeeded runs" }, "n"),
    h(
      "th",
      { scope: "col", title: "Welch's t-test against the baseline cell, Holm-corrected over the study" },
      "verdict",
    ),
    h("th", { scope: "col", class: "num", title: "cell mean minus baseline mean" }, "difference"),
    h("th", { scope: "col", class: "num", title: "Welch p-value, Holm–Bonferroni corrected" }, "p (Holm)"),
    h(
      "th",
      { scope: "col", class: "num", title: "probability that a random seed of the cell beats one of the baseline" },
      "P(better)",
    ),
  );
  return h("div", { class: "table-scroll" }, h("table", { class: "table study-table", "data-testid": "study-table" },
    h("thead", {}, head), h("tbody", {}, rows)));
}
