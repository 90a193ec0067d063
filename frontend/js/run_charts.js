// The run page's live charts: loss per step and accuracy per epoch. Points stream in with
// Plotly.extendTraces (batched every FLUSH_MS), never by redrawing the whole figure.
//
// The loss chart starts as SVG and turns to WebGL (scattergl) once a trace passes SVG_POINTS:
// creating the WebGL chart froze the page for 0.3–0.45 s when the first points came
// (bench.stream_latency, Chromium), while SVG draws a few thousand points in milliseconds.

import { axisTheme, chartLayout, disposeChart, fastScatterType, plotlyReady, COLORWAY } from "./charts.js";
import { addCurveTools, plotCurves, showAxes, WAITING_TEXT } from "./chart_tools.js";
import { DEFAULT_SMOOTHING, Smoother, smoothingControl } from "./run_smoothing.js";
import {
  STATUS,
  isBaseline,
  isDense,
  isSmoothed,
  metricInfo,
  metricLabel,
  metricNames,
  metricTitle,
  plotlyAxis,
  plotlyFormat,
} from "./catalog.js";

const FLUSH_MS = 200;
const SVG_POINTS = 20000; // per trace of the loss chart; past this, WebGL (where the browser has it)

const SYMBOLS = ["circle", "diamond", "square", "triangle-up", "x", "star", "cross", "pentagon"];

/** What each chart draws, from the catalogue: the loss chart every dense (per-step) metric, the first one's
 * unit on the left axis and any other unit on the right; the accuracy chart every per-evaluation metric shown
 * as a percentage, except the random-init baselines (the summary shows those). */
function chartPlan() {
  const training = metricNames().filter((name) => metricInfo(name).panel !== "system"); // System: its own panel
  const dense = training.filter(isDense);
  const leftUnit = dense.length ? metricInfo(dense[0]).unit : null;
  const accuracies = training.filter(
    (name) => !isDense(name) && metricInfo(name).format === "percent" && !isBaseline(name),
  );
  return {
    loss: dense.map((name) => ({ name, right: metricInfo(name).unit !== leftUnit })),
    acc: accuracies.map((name) => ({ name, right: false })),
  };
}

/** The loss chart's traces: one per dense metric, then a smoothed one per metric the catalogue smooths (the raw
 * one faint behind it), in `plan`'s order. */
function lossTraces(plan, type) {
  const raw = plan.map(({ name, right }, i) => ({
    name: metricLabel(name), type, mode: "lines", x: [], y: [], yaxis: right ? "y2" : undefined,
    opacity: isSmoothed(name) ? 0.3 : 1,
    line: { color: COLORWAY[i % COLORWAY.length], width: right ? 1.2 : 1.6, dash: right ? "dot" : undefined },
    hovertemplate: `step %{x}<br>${metricLabel(name)} %{y:${plotlyFormat(name)}}<extra></extra>`,
  }));
  const smoothed = plan.filter(({ name }) => isSmoothed(name)).map(({ name, right }) => ({
    name: `${metricLabel(name)} (smoothed)`, type, mode: "lines", x: [], y: [], yaxis: right ? "y2" : undefined,
    line: { color: COLORWAY[plan.findIndex((m) => m.name === name) % COLORWAY.length], width: 2 },
    hovertemplate: `step %{x}<br>${metricLabel(name)}, smoothed %{y:${plotlyFormat(name)}}<extra></extra>`,
  }));
  return [...raw, ...smoothed];
}

function accTraces(plan) {
  return plan.map(({ name }, i) => ({
    name: metricLabel(name), type: "scatter", mode: "lines+markers", x: [], y: [],
    line: { color: COLORWAY[i % COLORWAY.length] },
    marker: { size: 8, symbol: SYMBOLS[i % SYMBOLS.length] },
    hovertemplate: `${metricLabel(name)} %{y:${plotlyFormat(name)}}<br>epoch %{x}<extra></extra>`,
  }));
}

/** The accuracy axis fitted to the points (five curves near 95 % told apart, not squashed into 0–100 %): their
 * span padded by a tenth, at least 2 points of percent each side, within 0–104 %. */
export function fittedRange(traces) {
  const ys = traces.flatMap((t) => [...(t.y || [])]).filter((y) => Number.isFinite(y));
  if (!ys.length) return [0, 1.04];
  const low = Math.min(...ys);
  const high = Math.max(...ys);
  const pad = Math.max(0.02, (high - low) * 0.1);
  return [Math.max(0, low - pad), Math.min(1.04, high + pad)];
}

/** What a chart without a point says: waiting while the run may still report, else why none will come. */
export function emptyChartText(status) {
  if (status === STATUS.canceled) return "The run was canceled before this chart's first point.";
  if (status === STATUS.failed) return "The run failed before this chart's first point.";
  if (status === STATUS.succeeded) return "The run recorded no point for this chart.";
  return WAITING_TEXT;
}

/** Both metric charts of one run. */
export class MetricCharts {
  /** @param {number} [epochs] planned epochs: fixes the accuracy chart's x range, so progress reads at a glance
   * @param {string} [status] the run's status: an empty chart of a finished run says why it is empty */
  constructor(lossDiv, accDiv, epochs, status = "") {
    this.status = status;
    this.epochs = Number(epochs) || 0;
    this.divs = { loss: lossDiv, acc: accDiv };
    this.ready = false;
    this.pending = { loss: new Map(), acc: new Map() }; // chart -> trace index -> {x: [], y: []}
    this.empty = { loss: true, acc: true };
    this.timer = null;
    this.lossPoints = 0; // the longest loss-chart trace so far
    this.lossType = "scatter";
    this.plan = chartPlan();
    this.routes = new Map(); // metric name -> [chart key, trace index, x field]
    this.plan.loss.forEach(({ name }, i) => this.routes.set(name, ["loss", i, "step"]));
    this.smoothing = DEFAULT_SMOOTHING;
    // raw loss-chart trace index -> {index: its smoothed trace, smoother}
    this.smoothed = new Map(this.plan.loss.map(({ name }, i) => [name, i]).filter(([name]) => isSmoothed(name))
      .map(([, raw], k) => [raw, { index: this.plan.loss.length + k, smoother: new Smoother(this.smoothing) }]));
    this.plan.acc.forEach(({ name }, i) => this.routes.set(name, ["acc", i, "epoch"]));
  }

  /** Draw both charts with the history points; later points go through `add`. */
  async init(points) {
    const traces = { loss: lossTraces(this.plan.loss, "scatter"), acc: accTraces(this.plan.acc) };
    for (const point of points) {
      const route = this.routes.get(point.name);
      if (!route) continue;
      const trace = traces[route[0]][route[1]];
      trace.x.push(point[route[2]]);
      trace.y.push(point.value);
    }
    for (const [raw, entry] of this.smoothed) this.resmooth(traces.loss, raw, entry);
    this.lossPoints = Math.max(0, ...traces.loss.map((t) => t.x.length));
    if (this.lossPoints > SVG_POINTS) {
      this.lossType = fastScatterType();
      for (const trace of traces.loss) trace.type = this.lossType;
    }
    this.empty.loss = traces.loss.every((t) => t.x.length === 0);
    this.empty.acc = traces.acc.every((t) => t.x.length === 0);
    const left = this.plan.loss.find((m) => !m.right);
    const right = this.plan.loss.find((m) => m.right);
    this.divs.loss.dataset.yMetric = left ? left.name : "";
    this.divs.acc.dataset.yMetric = this.plan.acc.length ? this.plan.acc[0].name : ""; // all percentages
    addCurveTools(this.divs.loss);
    if (this.smoothed.size) this.addSmoothingControl();
    addCurveTools(this.divs.acc, { initialRange: () => fittedRange(this.divs.acc.data || traces.acc) });
    await Promise.all([
      plotCurves(this.divs.loss, traces.loss, chartLayout({
        xTitle: "step", yTitle: left ? metricTitle(left.name) : "",
        yaxis: left ? plotlyAxis(left.name) : {},
        // Its own round ticks ("auto"): ticks synced to the loss axis's grid fall on values like 6.017168e−4.
        yaxis2: { ...axisTheme(), title: { text: right ? metricTitle(right.name) : "" }, overlaying: "y", side: "right",
          showgrid: false, automargin: true, tickmode: "auto", ...(right ? plotlyAxis(right.name) : {}) },
      }), { emptyText: emptyChartText(this.status) }),
      plotCurves(this.divs.acc, traces.acc, chartLayout({
        xTitle: "epoch", yTitle: "accuracy",
        xaxis: this.epochs ? { range: [0, this.epochs * 1.04], dtick: Math.max(1, Math.ceil(this.epochs / 10)) } : {},
        yaxis: { ...plotlyAxis(this.divs.acc.dataset.yMetric), range: fittedRange(traces.acc) },
      }), { emptyText: emptyChartText(this.status) }),
    ]);
    this.ready = plotlyReady();
    this.flush();
  }

  /** Queue one metric point; drawn at the next flush. */
  add(point) {
    const route = this.routes.get(point.name);
    if (!route) return;
    const [chart, index, xKey] = route;
    const queue = this.pending[chart];
    if (!queue.has(index)) queue.set(index, { x: [], y: [] });
    queue.get(index).x.push(point[xKey]);
    queue.get(index).y.push(point.value);
    const smooth = chart === "loss" && this.smoothed.get(index);
    if (smooth) {
      if (!queue.has(smooth.index)) queue.set(smooth.index, { x: [], y: [] });
      queue.get(smooth.index).x.push(point[xKey]);
      queue.get(smooth.index).y.push(smooth.smoother.next(point.value));
    }
    if (!this.timer) this.timer = setTimeout(() => this.flush(), FLUSH_MS);
  }

  flush() {
    clearTimeout(this.timer);
    this.timer = null;
    if (!this.ready) return;
    for (const [chart, queue] of Object.entries(this.pending)) {
      if (queue.size === 0) continue;
      const indices = [...queue.keys()];
      const div = this.divs[chart];
      window.Plotly.extendTraces(div, {
        x: indices.map((i) => queue.get(i).x),
        y: indices.map((i) => queue.get(i).y),
      }, indices);
      if (chart === "loss") this.lossPoints += Math.max(...indices.map((i) => queue.get(i).x.length));
      else if (div.layout && div.layout.yaxis.type !== "log")
        window.Plotly.relayout(div, { "yaxis.range": fittedRange(div.data) }); // a new evaluation: refit
      queue.clear();
      if (
        chart === "loss" &&
        this.lossType === "scatter" &&
        this.lossPoints > SVG_POINTS &&
        fastScatterType() !== "scatter"
      ) {
        this.lossType = fastScatterType();
        window.Plotly.restyle(
          div,
          { type: this.lossType },
          div.data.map((_, i) => i),
        ); // once, for the rest of the run
      }
      if (this.empty[chart]) {
        this.empty[chart] = false;
        showAxes(div);
      }
    }
  }

  /** The smoothed trace of raw trace `raw` recomputed from `traces` at the current weight (in place). */
  resmooth(traces, raw, entry) {
    const { smoother, smoothed } = Smoother.over(traces[raw].y, this.smoothing);
    entry.smoother = smoother;
    traces[entry.index].x = [...traces[raw].x];
    traces[entry.index].y = smoothed;
  }

  /** The slider beside the loss chart's tools; moving it redraws the smoothed traces from the raw ones. */
  addSmoothingControl() {
    const tools = this.divs.loss.parentElement?.querySelector(".chart-tools");
    const control = smoothingControl(this.smoothing, (weight) => {
      this.smoothing = weight;
      const div = this.divs.loss;
      if (!this.ready || !div.data) return;
      this.flush();
      const traces = div.data.map((t) => ({ x: [...t.x], y: [...t.y] }));
      const entries = [...this.smoothed];
      for (const [raw, entry] of entries) this.resmooth(traces, raw, entry);
      window.Plotly.restyle(div, { x: entries.map(([, e]) => traces[e.index].x),
        y: entries.map(([, e]) => traces[e.index].y) }, entries.map(([, e]) => e.index));
    });
    if (tools) tools.prepend(control);
    else this.divs.loss.before(control);
  }

  /** The run ended: a chart still empty says why (canceled, failed) instead of waiting. */
  ended(status) {
    this.status = status;
    if (!this.ready) return;
    for (const [chart, div] of Object.entries(this.divs)) {
      if (this.empty[chart] && div.layout)
        window.Plotly.relayout(div, { "annotations[0].text": emptyChartText(status) });
    }
  }

  dispose() {
    clearTimeout(this.timer);
    this.ready = false;
    disposeChart(this.divs.loss);
    disposeChart(this.divs.acc);
  }
}
