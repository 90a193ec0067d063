// The catalogue (GET /api/schema/catalog, contrastlab/core/catalog.py): every metric's label, unit,
// direction and format, the method and dataset labels, the run statuses. app.js loads it before the
// first view mounts, so views read it synchronously and keep no list of their own: a metric added to
// the catalogue shows in the tables and charts without touching the page.

import { api } from "./api.js";
import {
  formatDuration,
  formatInteger,
  formatMeanSpread,
  formatNumber,
  formatPercent,
  formatScientific,
} from "./format.js";

/** The run statuses by name, the one place the page spells them: `run.status === STATUS.running`.
 * loadCatalog checks them against the served catalogue's, so a status renamed on the server fails loudly. */
export const STATUS = Object.freeze({
  queued: "queued",
  running: "running",
  succeeded: "succeeded",
  failed: "failed",
  canceled: "canceled",
  pruned: "pruned",
});

let doc = null;
let loading = null;

/** Throw when the served statuses are not STATUS's: the page would otherwise miscount runs without a word. */
function checkStatuses(data) {
  const served = [...(data.statuses || [])].sort().join(", ");
  const known = Object.values(STATUS).sort().join(", ");
  if (served !== known) throw new Error(`the catalogue's run statuses (${served}) are not the page's (${known})`);
}

/** Fetch the catalogue once; resolves with the document (a failed fetch is retried on the next call). */
export function loadCatalog() {
  if (!loading) {
    loading = api.catalog().then((data) => {
      checkStatuses(data);
      doc = data;
      return data;
    }, (err) => {
      loading = null;
      throw err;
    });
  }
  return loading;
}

/** The loaded document; a view that runs before app.js loaded it is a bug, said plainly. */
export function catalog() {
  if (!doc) throw new Error("the catalogue is not loaded yet: app.js loads it before mounting a view");
  return doc;
}

// ---- metrics ----

/** `{label, unit, direction, dense, format, final, description, summary}`, or null for a metric the catalogue lacks. */
export const metricInfo = (name) => catalog().metrics[name] || null;

/** Every catalogued metric, in the catalogue's order (the order of charts and columns). */
export const metricNames = () => Object.keys(catalog().metrics);

/** "Linear probe" for linear_acc; an uncatalogued name reads as its words. */
export const metricLabel = (name) => metricInfo(name)?.label ?? name.replace(/_/g, " ");

/** "higher", "lower", or null when neither is better (the learning rate, an unknown metric). */
export const metricDirection = (name) => metricInfo(name)?.direction ?? null;

/** Reported every step (dense) rather than per evaluation. */
export const isDense = (name) => Boolean(metricInfo(name)?.dense);

/** The unit as a word worth printing after a label ("nats", "s"), or "" for fractions, ratios and counts. */
export function unitText(name) {
  const unit = metricInfo(name)?.unit;
  return { nats: "nats", seconds: "s", percent: "%", mebibytes: "MiB", watts: "W" }[unit] || "";
}

/** The label with its unit, for axis titles: "Loss (nats)". */
export function metricTitle(name) {
  const unit = unitText(name);
  return unit ? `${metricLabel(name)} (${unit})` : metricLabel(name);
}

/** The catalogue's display formats as functions of a value; "—" for a missing one. */
const FORMATTERS = {
  percent: (v) => formatPercent(v),
  number: (v) => formatNumber(v),
  scientific: formatScientific,
  duration: formatDuration,
  integer: formatInteger,
};

/** The formatter of a metric, from its `format` ("97.3 %", "0.4213", "1e-3", "3 m 07 s", "12,345"). */
export const metricFormatter = (name) => FORMATTERS[metricInfo(name)?.format] || FORMATTERS.number;

/** A value of a metric as the page shows it. */
export const formatMetric = (name, value) => metricFormatter(name)(value);

/** Mean ± spread (a std or a half interval) of a metric, as the CLI writes it: "97.3 ± 0.4 %", "0.284 ± 0.004";
 * the mean alone, in the metric's format, without a spread. */
export function formatMetricSpread(name, mean, spread) {
  if (typeof spread !== "number" || !Number.isFinite(spread)) return formatMetric(name, mean);
  return formatMeanSpread(metricInfo(name)?.format || "number", mean, spread);
}

/** Plotly's d3 format for hover labels of a metric ("97.34%", "9.9e-4"). */
export function plotlyFormat(name) {
  return { percent: ".2%", scientific: ".2~e", integer: ",d", duration: ".1f" }[metricInfo(name)?.format] || ".4g";
}

/** Percent tick labels with as many decimals as the tick step needs, so a zoomed axis never reads "77 %, 77 %":
 * Plotly picks the stop whose range holds the step it chose (steps are 1, 2 or 5 × 10^n, so the bounds sit between). */
const PERCENT_TICKS = [
  { dtickrange: [0.008, null], value: ".0%" },
  { dtickrange: [0.0008, 0.008], value: ".1%" },
  { dtickrange: [0.00008, 0.0008], value: ".2%" },
  { dtickrange: [null, 0.00008], value: ".3%" },
];

/** Plotly axis settings for a metric's values: percentages at the tick step's precision, rates as 1e-3 and 9.9e-4. */
export function plotlyAxis(name) {
  const format = metricInfo(name)?.format;
  if (format === "percent") return { tickformat: ".0%", tickformatstops: PERCENT_TICKS };
  // d3's "~e" drops trailing zeros: 1e−3, 9.9e−4, 5e−4 (Plotly's own exponents start only past 1e-3, reading
  // 0.001, 0.00099); it writes zero "0e+0", which the alias turns back into 0.
  if (format === "scientific") return { tickformat: "~e", hoverformat: ".2~e", labelalias: { "0e+0": "0" } };
  return {};
}

/** The same for a log axis: Plotly's log tick steps are not the linear ones the percent stops name, so
 * percentages there take up to three decimals with trailing zeros dropped. */
export function plotlyLogAxis(name) {
  return metricInfo(name)?.format === "percent" ? { tickformat: ".3~%", tickformatstops: [] } : {};
}

/** Whether charts smooth a metric: its catalogue entry says so (the loss; never the learning rate, nor a sparse
 * metric). */
export const isSmoothed = (name) => Boolean(metricInfo(name)?.smooth && metricInfo(name)?.dense);

/** Final metrics (evaluated once at the end), in the catalogue's order. */
export const finalMetrics = () => catalog().final_metrics;

/** Every number a run's summary may hold, in the catalogue's order. */
export const summaryMetrics = () => catalog().summary_metrics;

/** Trained metric -> its random-init baseline, e.g. {linear_acc: "random_linear_acc"}. */
export const baselines = () => catalog().baselines;

/** Whether a metric is some trained metric's random-init baseline (context, never "best"). */
export const isBaseline = (name) => Object.values(baselines()).includes(name);

// ---- statuses, methods, datasets ----

/** Run statuses in lifecycle order. */
export const statuses = () => catalog().statuses;

/** Whether nothing changes any more about a run in this status. */
export const isFinalStatus = (status) => catalog().final_statuses.includes(status);

/** The final statuses (succeeded, failed, canceled, pruned), in lifecycle order. */
export const finalStatuses = () => statuses().filter(isFinalStatus);

/** {queued: 0, running: 0, ...}: a zero count for every status, in lifecycle order. */
export const zeroStatusCounts = () => Object.fromEntries(statuses().map((status) => [status, 0]));

/** The label of a spec choice the catalogue describes: choiceLabel("method", "simclr") -> "SimCLR (NT-Xent)".
 * The catalogue's sections are the plurals of the spec fields they describe (methods, datasets). */
export function choiceLabel(field, value) {
  const section = catalog()[`${field}s`];
  const entry = section && typeof section === "object" && !Array.isArray(section) ? section[value] : null;
  return entry && entry.label ? entry.label : String(value ?? "");
}

/** The group a choice belongs to in its menu (a method's family, as the catalogue labels it), or null. */
export function choiceGroup(field, value) {
  const entry = catalog()[`${field}s`]?.[value];
  return entry && entry.family ? (catalog().families?.[entry.family] ?? entry.family) : null;
}

export const methodLabel = (name) => choiceLabel("method", name);
export const datasetLabel = (name) => choiceLabel("dataset", name);
