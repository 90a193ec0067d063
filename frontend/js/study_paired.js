// The study page's paired view: each cell's metric against a second metric of the same runs (linear probe
// without the head against with it, trained against its random-init encoder), from GET /stats?paired=.

import { h } from "./dom.js";
import { DASH } from "./format.js";
import { formatMetric, metricLabel } from "./catalog.js";
import { formatP } from "./study_table.js";

/** The second metrics a metric pairs with: the head's probe and the random-init encoder's, as the server checks. */
const PAIRS = {
  linear_acc: ["linear_acc_head", "random_linear_acc"],
  linear_acc_head: ["linear_acc"],
  knn_acc: ["random_knn_acc"],
};

export const pairedChoices = (metric) => PAIRS[metric] || [];

/** "+6.3 pt": a difference of two percentages is in percentage points. */
function signed(metric, value) {
  if (typeof value !== "number") return DASH;
  const size = formatMetric(metric, Math.abs(value)).replace(/ %$/, " pt");
  return `${value > 0 ? "+" : value < 0 ? "−" : ""}${size}`;
}

const interval = (metric, ci) => (Array.isArray(ci) ? `${signed(metric, ci[0])} … ${signed(metric, ci[1])}` : DASH);

const VERDICT_CLASS = { better: "better", worse: "worse", "too few seeds": "few" };

/** The paired table: per cell n, mean difference, its t and bootstrap 95 % intervals, p (Holm), Wilcoxon p,
 * power and seeds for 80 %, and the verdict with its reason as a tooltip. */
export function pairedTable(paired, cellLabel) {
  const { metric } = paired;
  const head = h("tr", {},
    h("th", { scope: "col" }, "cell"),
    h("th", { scope: "col", class: "num", title: "runs that recorded both metrics" }, "n"),
    h("th", { scope: "col", class: "num", title: `mean over the runs of ${metric} − ${paired.paired}` }, "mean diff"),
    h("th", { scope: "col", class: "num", title: "Student-t 95 % interval of the mean difference" }, "95 % CI (t)"),
    h("th", { scope: "col", class: "num", title: "95 % percentile bootstrap interval (pairs resampled)" },
      "95 % CI (bootstrap)"),
    h("th", { scope: "col", class: "num", title: "paired t-test, Holm-corrected over the cells" }, "p (Holm)"),
    h("th", { scope: "col", class: "num", title: "Wilcoxon signed-rank, from 6 pairs on" }, "Wilcoxon p"),
    h("th", { scope: "col", class: "num", title: "power of the paired t-test at the observed effect, α = 0.05" },
      "power"),
    h("th", { scope: "col", class: "num", title: "pairs (seeds) that would give 80 % power at this effect" },
      "seeds for 80 %"),
    h("th", { scope: "col" }, "verdict"));
  const rows = paired.comparisons.map((c) => h("tr", { "data-cell-key": c.key },
    h("td", {}, cellLabel(c.key)),
    h("td", { class: "num", "data-col": "n" }, String(c.n)),
    h("td", { class: "num", "data-col": "mean_diff", "data-value": c.mean_diff ?? "" }, signed(metric, c.mean_diff)),
    h("td", { class: "num", "data-col": "ci95" }, interval(metric, c.ci95)),
    h("td", { class: "num", "data-col": "bootstrap_ci95" }, interval(metric, c.bootstrap_ci95)),
    h("td", { class: "num", "data-col": "p_holm", "data-value": c.p_holm ?? "" }, formatP(c.p_holm)),
    h("td", { class: "num", "data-col": "wilcoxon_p" }, formatP(c.wilcoxon_p)),
    h("td", { class: "num", "data-col": "power" },
      typeof c.power === "number" ? `${Math.round(c.power * 100)} %` : DASH),
    h("td", { class: "num", "data-col": "seeds_for_80" }, c.seeds_for_80 == null ? DASH : String(c.seeds_for_80)),
    h("td", { class: `verdict verdict-${VERDICT_CLASS[c.verdict] || "none"}`, "data-col": "verdict",
      title: c.reason || null }, c.verdict)));
  return h("div", { class: "table-scroll" },
    h("table", { class: "table study-table", "data-testid": "paired-table" },
      h("caption", { class: "visually-hidden" }, `${metricLabel(metric)} − ${metricLabel(paired.paired)}`),
      h("thead", {}, head), h("tbody", {}, rows)));
}
