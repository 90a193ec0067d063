// The run page's System panel: how busy the machine was, from the catalogue's `system.*` metrics (the worker
// samples CPU, memory and, on CUDA, the GPUs every few seconds; the engine reports each epoch's data wait).
// Against time since the run started, not steps: evaluation takes time without steps. Two charts: use in %
// (CPU of one core, GPU utilisation, data wait) with GPU power on a right axis, and memory in MiB. Samples are
// few (one per metric every few seconds), so a flush redraws the charts rather than extending their traces.

import { h } from "./dom.js";
import { chartLayout, disposeChart, plotlyReady, COLORWAY } from "./charts.js";
import { plotCurves } from "./chart_tools.js";
import { metricInfo, metricLabel, metricNames, metricTitle } from "./catalog.js";

const FLUSH_MS = 1000;

export const isSystemMetric = (name) => metricInfo(name)?.panel === "system";

/** Which chart and axis a system metric goes on: memory in MiB on its own chart, power (W) on the use chart's
 * right axis, the rest (percentages) on its left. */
function place(name) {
  const unit = metricInfo(name)?.unit;
  if (unit === "mebibytes") return { chart: "memory", right: false };
  return { chart: "use", right: unit === "watts" };
}

/** A share (data wait, 0–1) reads in % beside CPU and GPU percentages. */
const scale = (name) => (metricInfo(name)?.unit === "fraction" ? 100 : 1);

export class SystemCharts {
  constructor() {
    this.useDiv = h("div", { class: "chart chart-short", "data-testid": "system-use-chart" });
    this.memoryDiv = h("div", { class: "chart chart-short", "data-testid": "system-memory-chart" });
    this.note = h("p", { class: "muted chart-note", "data-testid": "system-note" },
      "No system metrics yet: the worker samples CPU, memory and GPU use every few seconds while the run runs.");
    this.element = h("section", { class: "panel", "data-testid": "system-panel" }, h("h2", {}, "System"), this.note,
      h("div", { class: "grid-2" }, this.useDiv, this.memoryDiv));
    this.series = new Map(); // metric name -> {x: [], y: []}
    this.start = null; // ms since the epoch: the run's start, x = 0
    this.timer = null;
    this.drawn = false;
    this.emptyText = "No sample yet";
  }

  /** A run that ended with no sample (too short, or sampling off) says so instead of waiting. */
  finished() {
    this.emptyText = "No sample: the run ended before the first one";
    clearTimeout(this.timer);
    this.timer = null;
    return this.draw();
  }

  /** Draw the history's system points; `startedAt`: the run's start (ISO), else its first sample. */
  init(points, startedAt) {
    this.start = startedAt ? Date.parse(startedAt) : null;
    for (const point of points) this.collect(point);
    return this.draw();
  }

  add(point) {
    if (!this.collect(point)) return;
    if (!this.timer) this.timer = setTimeout(() => this.flush(), FLUSH_MS);
  }

  flush() {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.drawn) this.draw();
  }

  collect(point) {
    if (!isSystemMetric(point.name) || !point.time) return false;
    const at = Date.parse(point.time);
    if (this.start === null || Number.isNaN(this.start)) this.start = at;
    if (!this.series.has(point.name)) this.series.set(point.name, { x: [], y: [] });
    const s = this.series.get(point.name);
    s.x.push(Math.max(0, (at - this.start) / 1000));
    s.y.push(point.value * scale(point.name));
    return true;
  }

  traces(chart) {
    const names = metricNames().filter((n) => isSystemMetric(n) && place(n).chart === chart && this.series.has(n));
    return names.map((name) => {
      const { right } = place(name);
      const unit = right ? "W" : chart === "memory" ? "MiB" : "%";
      const sparse = !metricInfo(name).dense;
      const { x, y } = this.series.get(name);
      return {
        // New arrays each draw: Plotly.react redraws a trace only when its data is a new object.
        x: [...x], y: [...y], name: metricLabel(name), type: "scatter",
        mode: sparse || x.length <= 40 ? "lines+markers" : "lines",
        yaxis: right ? "y2" : undefined, line: { color: COLORWAY[metricNames().indexOf(name) % COLORWAY.length],
          dash: right ? "dot" : undefined },
        hovertemplate: `${metricLabel(name)} %{y:,.1f} ${unit}<br>%{x:,.0f} s<extra></extra>`,
      };
    });
  }

  async draw() {
    if (!plotlyReady()) return;
    const use = this.traces("use");
    const memory = this.traces("memory");
    this.note.hidden = use.length + memory.length > 0;
    const power = use.find((t) => t.yaxis === "y2");
    const layout = (yTitle, extra = {}) => chartLayout({ xTitle: "seconds since the run started", yTitle, ...extra });
    await Promise.all([
      plotCurves(this.useDiv, use, layout("use (%)", power ? {
        yaxis2: { title: { text: metricTitle("system.gpu_power_w") }, overlaying: "y", side: "right",
          showgrid: false, automargin: true, rangemode: "tozero" },
      } : {}), { emptyText: this.emptyText }),
      plotCurves(this.memoryDiv, memory, layout("memory (MiB)", { yaxis: { rangemode: "tozero" } }),
        { emptyText: this.emptyText }),
    ]);
    this.drawn = true;
  }

  dispose() {
    clearTimeout(this.timer);
    disposeChart(this.useDiv);
    disposeChart(this.memoryDiv);
  }
}
