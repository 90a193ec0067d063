// A search's trials on the study page (GET /api/studies/{id}/search): the optimisation history (each trial's final
// value, the pruned ones at their last k-NN value, the best so far), parallel coordinates of what was sampled,
// a table of the trials (which were pruned and at which epoch), and the confirmation, apart: the verdict below it
// counts the confirmation runs only.

import { request } from "./api.js";
import { h, setText, statusBadge } from "./dom.js";
import { axisTheme, chartLayout, disposeChart, drawChart, plotlyReady, CHART_CONFIG } from "./charts.js";
import { STATUS, formatMetric, metricTitle, plotlyAxis } from "./catalog.js";
import { axisValueText } from "./study_table.js";
import { emptyLayout, noPoints } from "./chart_tools.js";

const LOG_FIELDS = new Set(["lr", "weight_decay", "temperature"]);
const SEARCH_STOPPED = "stopped";
const SETTLED = new Set(["done", SEARCH_STOPPED]); // GET /api/studies/{id}/search `state`: nothing more will start

const HISTORY_WAITING = "No trial has ended yet.";
const PARCOORDS_WAITING = "No trial has a k-NN value yet.";

/** True when no search is loaded, or its search starts no more runs; between one trial's end and the next
 * trial's start (or the confirmation's), every run of a working search can be final. */
export const searchSettled = (view) => !view || SETTLED.has(view.state);

/** The trial's last k-NN monitor value (where the pruner stopped it). */
const lastMonitor = (trial) => {
  const epochs = Object.keys(trial.intermediate).map(Number).sort((a, b) => a - b);
  return epochs.length ? trial.intermediate[String(epochs.at(-1))] : null;
};

const shownValues = (values) =>
  Object.entries(values)
    .map(([field, v]) => `${field}=${axisValueText(field, typeof v === "number" ? +v.toPrecision(3) : v)}`)
    .join(", ");

/** Optimisation history: completed trials by their final value, pruned ones by their last monitor value. */
function historyTraces(view, metric) {
  const done = view.trials.filter((t) => t.value !== null);
  const pruned = view.trials.filter((t) => t.status === STATUS.pruned && lastMonitor(t) !== null);
  const sign = view.config.direction === "min" ? -1 : 1;
  let best = null;
  const bestX = [];
  const bestY = [];
  for (const trial of view.trials) {
    if (trial.value !== null && (best === null || sign * trial.value > sign * best)) best = trial.value;
    if (best !== null) { bestX.push(trial.number); bestY.push(best); }
  }
  const text = (t) => `trial ${t.number}: ${shownValues(t.values)}`;
  return [
    { type: "scatter", mode: "markers", name: `${metricTitle(metric)} (final)`, x: done.map((t) => t.number),
      y: done.map((t) => t.value), text: done.map(text), marker: { size: 9 } },
    { type: "scatter", mode: "markers", name: "pruned (last k-NN value)", x: pruned.map((t) => t.number),
      y: pruned.map(lastMonitor), text: pruned.map((t) => `${text(t)} · pruned at epoch ${t.pruned_epoch}`),
      marker: { size: 9, symbol: "x",
        color: getComputedStyle(document.documentElement).getPropertyValue("--status-pruned").trim() } },
    { type: "scatter", mode: "lines", name: "best so far", x: bestX, y: bestY, line: { shape: "hv", dash: "dot" } },
  ];
}

const plotted = (view) => view.trials.filter((t) => t.value !== null || lastMonitor(t) !== null);

/** Ticks of a log10 axis labelled with the field's values: 1, 2 and 5 of each decade within the range, or the
 * range's ends when it is narrower than that. */
export function logTicks(field, logs) {
  const low = Math.min(...logs);
  const high = Math.max(...logs);
  const tickvals = [];
  for (let decade = Math.floor(low); decade <= Math.ceil(high); decade++)
    for (const m of [1, 2, 5]) {
      const v = decade + Math.log10(m);
      if (v >= low - 1e-9 && v <= high + 1e-9) tickvals.push(v);
    }
  const shown = tickvals.length >= 2 ? tickvals : [...new Set([low, high])];
  return { tickvals: shown, ticktext: shown.map((v) => axisValueText(field, +(10 ** v).toPrecision(3))) };
}

/** A parcoords dimension per sampled field (log10 for lr and kin, labelled with values), and the trial's value. */
function parcoordsTrace(view, metric) {
  const trials = plotted(view);
  const fields = Object.keys(view.trials[0]?.params || {});
  const dims = fields.map((field) => {
    const values = trials.map((t) => t.params[field]);
    if (values.every((v) => typeof v === "number")) {
      const log = LOG_FIELDS.has(field) && values.every((v) => v > 0);
      if (!log) return { label: field, values };
      const logs = values.map(Math.log10);
      return { label: `${field} (log scale)`, values: logs, ...logTicks(field, logs) };
    }
    const distinct = [...new Set(values.map(String))];
    return { label: field, values: values.map((v) => distinct.indexOf(String(v))), tickvals: distinct.map((_, i) => i),
      ticktext: distinct };
  });
  const score = trials.map((t) => (t.value !== null ? t.value : lastMonitor(t)));
  dims.push({ label: metricTitle(metric), values: score });
  const theme = axisTheme();
  return { type: "parcoords", dimensions: dims,
    line: { color: trials.map((t) => (t.status === STATUS.pruned ? 0 : 1)), cmin: 0, cmax: 1, showscale: false,
      colorscale: [[0, "#8a8f98"], [1, "#2b7de9"]] },
    labelfont: { color: theme.color, size: 12, shadow: "none" },
    tickfont: { color: theme.color, size: 11, shadow: "none" },
    rangefont: { color: "rgba(0,0,0,0)", shadow: "none" } };
}

async function plot(div, traces, layout) {
  if (div.data && plotlyReady()) return window.Plotly.react(div, traces, layout, CHART_CONFIG);
  return drawChart(div, traces, layout);
}

export class SearchPanel {
  /** valuesOf: a confirmation cell's key -> its axis values (the study's cells), null when not known yet. */
  constructor(valuesOf = () => null) {
    this.valuesOf = valuesOf;
    this.summary = h("p", { class: "muted", "data-testid": "search-summary" });
    this.history = h("div", { class: "chart", "data-testid": "search-history" });
    this.parcoords = h("div", { class: "chart", "data-testid": "search-parcoords" });
    this.table = h("div", { "data-testid": "search-trials" });
    this.confirmText = h("p", {}, "Not started: it starts once every trial has ended.");
    this.trialsBox = h("section", { class: "panel stacked", "data-testid": "search-panel" },
      h("div", { class: "panel-head" }, h("h2", {}, "Search: trials"), this.summary),
      h("div", { class: "grid-2" },
        h("div", {}, h("h3", {}, "Optimisation history"), this.history),
        h("div", {}, h("h3", {}, "Parallel coordinates (grey: pruned)"), this.parcoords)),
      this.table);
    this.confirmBox = h("section", { class: "panel stacked", "data-testid": "search-confirmation" },
      h("div", { class: "panel-head" }, h("h2", {}, "Confirmation"),
        h("span", { class: "muted" },
          "the best trial and the baseline rerun on fresh seeds; the results below count these runs only")),
      this.confirmText);
    this.view = null;
  }

  async load(id, signal) {
    this.view = await request("GET", `/api/studies/${id}/search`, undefined, signal);
    await this.render();
  }

  async render() {
    const view = this.view;
    const metric = view.config.metric || "knn_acc";
    const pruned = view.trials.filter((t) => t.status === STATUS.pruned).length;
    setText(this.summary, `${view.trials.length} of ${view.config.trials} trials · ${pruned} pruned · ` +
      `${view.config.sampler} sampler, ${view.config.pruner === "asha" ? "ASHA pruning" : "no pruning"}` +
        ` · ${view.state}`);
    this.table.replaceChildren(h("div", { class: "table-scroll" }, h("table", { class: "table study-table" },
      h("thead", {}, h("tr", {}, ...["trial", "values", "status", metricTitle(metric), "pruned at epoch", "steps"]
        .map((text) => h("th", {}, text)))),
      h("tbody", {}, ...view.trials.map((t) => h("tr", { "data-trial": String(t.number) },
        h("td", {}, `${t.number}${t.number === view.best ? " ★" : ""}`), h("td", {}, shownValues(t.values)),
        h("td", {}, statusBadge(t.status)), h("td", {}, t.value === null ? "—" : formatMetric(metric, t.value)),
        h("td", {}, t.pruned_epoch === null ? "—" : String(t.pruned_epoch)), h("td", {}, String(t.steps))))))));
    const confirm = view.confirmation;
    if (confirm) {
      const label = (key) => { const values = this.valuesOf(key); return values ? shownValues(values) : key; };
      this.confirmText.replaceChildren(`Best trial: ${label(confirm.best)} · baseline: ${label(confirm.baseline)}`,
        " · fresh seeds ",
        h("strong", {}, confirm.seeds.join(", ")), ` · ${confirm.runs.length} runs (no trial ran on these seeds).`);
    } else if (view.state === SEARCH_STOPPED) {
      setText(this.confirmText, `Stopped: ${view.config.why || "the study was canceled"}; nothing to confirm.`);
    }
    const history = historyTraces(view, metric);
    const layout = chartLayout({ xTitle: "trial", yTitle: metricTitle(metric),
      // Trials are whole numbers: a tick every trial (or every tenth of them), never "trial 0.5".
      xaxis: { tick0: 0, dtick: Math.max(1, Math.ceil(view.trials.length / 10)) },
      yaxis: plotlyAxis(metric), legend: { orientation: "h" } });
    const plain = chartLayout({});
    await Promise.all([
      // Until a trial has a value: a sentence, not Plotly's empty axes (−100 % to 400 %).
      plot(this.history, history, noPoints(history) ? { ...layout, ...emptyLayout(layout, HISTORY_WAITING) } : layout),
      plotted(view).length
        ? plot(this.parcoords, [parcoordsTrace(view, metric)], { ...plain, margin: { l: 60, r: 40, t: 40, b: 20 } })
        : plot(this.parcoords, [], { ...plain, ...emptyLayout(plain, PARCOORDS_WAITING) }),
    ]);
  }

  dispose() {
    disposeChart(this.history);
    disposeChart(this.parcoords);
  }
}
