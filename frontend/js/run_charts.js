// The run page's live charts: loss per step and accuracy per epoch. Points stream in with
// Plotly.extendTraces (batched every FLUSH_MS), never by redrawing the whole figure.
//
// The loss chart starts as SVG and turns to WebGL (scattergl) once a trace passes SVG_POINTS:
// creating the WebGL chart froze the page for 0.3–0.45 s when the first points came
// (bench.stream_latency, Chromium), while SVG draws a few thousand points in milliseconds.

import { axisTheme, chartLayout, drawChart, disposeChart, fastScatterType, plotlyReady, COLORWAY } from "./charts.js";

const FLUSH_MS = 200;
const SVG_POINTS = 20000; // per trace of the loss chart; past this, WebGL (where the browser has it)

/** Metric name -> [chart key, trace index, x field]. */
const ROUTES = {
  loss: ["loss", 0, "step"],
  lr: ["loss", 1, "step"],
  knn_acc: ["acc", 0, "epoch"],
  train_acc: ["acc", 1, "epoch"],
  linear_acc: ["acc", 2, "epoch"],
  linear_acc_head: ["acc", 3, "epoch"],
};

const WAITING = [{ text: "Waiting for the first points…", showarrow: false, xref: "paper", yref: "paper", x: 0.5, y: 0.5, font: { size: 13 } }];

function lossTraces(type) {
  return [
    { name: "loss", type, mode: "lines", x: [], y: [], line: { color: COLORWAY[0], width: 1.6 },
      hovertemplate: "step %{x}<br>loss %{y:.4f}<extra></extra>" },
    { name: "learning rate", type, mode: "lines", x: [], y: [], yaxis: "y2", line: { color: COLORWAY[1], width: 1.2, dash: "dot" },
      hovertemplate: "step %{x}<br>lr %{y:.3g}<extra></extra>" },
  ];
}

function accTraces() {
  const percent = (label) => `${label} %{y:.1%}<br>epoch %{x}<extra></extra>`;
  return [
    { name: "k-NN acc", type: "scatter", mode: "lines+markers", x: [], y: [], line: { color: COLORWAY[0] },
      marker: { size: 5 }, hovertemplate: percent("k-NN") },
    { name: "train acc", type: "scatter", mode: "lines+markers", x: [], y: [], line: { color: COLORWAY[1], dash: "dash" },
      marker: { size: 5 }, hovertemplate: percent("train") },
    { name: "linear probe", type: "scatter", mode: "markers", x: [], y: [], marker: { color: COLORWAY[3], size: 13, symbol: "diamond" },
      hovertemplate: percent("linear probe") },
    { name: "linear probe (head)", type: "scatter", mode: "markers", x: [], y: [], marker: { color: COLORWAY[6], size: 11, symbol: "square" },
      hovertemplate: percent("linear probe with head") },
  ];
}

/** Both metric charts of one run. */
export class MetricCharts {
  /** @param {number} [epochs] planned epochs: fixes the accuracy chart's x range, so progress reads at a glance */
  constructor(lossDiv, accDiv, epochs) {
    this.epochs = Number(epochs) || 0;
    this.divs = { loss: lossDiv, acc: accDiv };
    this.ready = false;
    this.pending = { loss: new Map(), acc: new Map() }; // chart -> trace index -> {x: [], y: []}
    this.empty = { loss: true, acc: true };
    this.timer = null;
    this.lossPoints = 0; // the longest loss-chart trace so far
    this.lossType = "scatter";
  }

  /** Draw both charts with the history points; later points go through `add`. */
  async init(points) {
    const traces = { loss: lossTraces("scatter"), acc: accTraces() };
    for (const point of points) {
      const route = ROUTES[point.name];
      if (!route) continue;
      const trace = traces[route[0]][route[1]];
      trace.x.push(point[route[2]]);
      trace.y.push(point.value);
    }
    this.lossPoints = Math.max(...traces.loss.map((t) => t.x.length));
    if (this.lossPoints > SVG_POINTS) {
      this.lossType = fastScatterType();
      for (const trace of traces.loss) trace.type = this.lossType;
    }
    this.empty.loss = traces.loss.every((t) => t.x.length === 0);
    this.empty.acc = traces.acc.every((t) => t.x.length === 0);
    await Promise.all([
      drawChart(this.divs.loss, traces.loss, chartLayout({
        xTitle: "step", yTitle: "loss",
        yaxis2: { ...axisTheme(), title: { text: "learning rate" }, overlaying: "y", side: "right", showgrid: false, exponentformat: "e", automargin: true },
        annotations: this.empty.loss ? WAITING : [],
      })),
      drawChart(this.divs.acc, traces.acc, chartLayout({
        xTitle: "epoch", yTitle: "accuracy",
        xaxis: this.epochs ? { range: [0, this.epochs * 1.04], dtick: Math.max(1, Math.ceil(this.epochs / 10)) } : {},
        yaxis: { tickformat: ".0%", range: [0, 1.04] },
        annotations: this.empty.acc ? WAITING : [],
      })),
    ]);
    this.ready = plotlyReady();
    this.flush();
  }

  /** Queue one metric point; drawn at the next flush. */
  add(point) {
    const route = ROUTES[point.name];
    if (!route) return;
    const [chart, index, xKey] = route;
    const queue = this.pending[chart];
    if (!queue.has(index)) queue.set(index, { x: [], y: [] });
    queue.get(index).x.push(point[xKey]);
    queue.get(index).y.push(point.value);
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
      queue.clear();
      if (chart === "loss" && this.lossType === "scatter" && this.lossPoints > SVG_POINTS && fastScatterType() !== "scatter") {
        this.lossType = fastScatterType();
        window.Plotly.restyle(div, { type: this.lossType }, [0, 1]); // once, for the rest of the run
      }
      if (this.empty[chart]) {
        this.empty[chart] = false;
        window.Plotly.relayout(div, { annotations: [] });
      }
    }
  }

  dispose() {
    clearTimeout(this.timer);
    this.ready = false;
    disposeChart(this.divs.loss);
    disposeChart(this.divs.acc);
  }
}
