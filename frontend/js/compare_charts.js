// The compare view's curves: one chart per metric, one colour per run, seed groups as mean ± std bands.
// Only a metric the catalogue calls noisy (the loss) is smoothed, raw faint behind the smoothed line; sparse
// evaluations (k-NN, probes) are drawn raw with a marker per evaluation, so they read as the tables do.
//
// SVG lines, not WebGL: the series arrive downsampled to about two points per pixel column, so a
// chart holds at most 20 runs × 2 traces × 8 000 points, and for that SVG is the faster renderer.
// In Chromium one chart of 40 traces × 1 274 points drew in about 0.1 s as SVG and 1.1 s as
// scattergl; 40 × 7 600 points in 0.3–0.5 s against 5.5 s. WebGL stays on the live run page,
// whose curves grow point by point with no bound.

import { h } from "./dom.js";
import { chartLayout, disposeChart } from "./charts.js";
import { addCurveTools, isRelative, plotCurves, relativeToFirst } from "./chart_tools.js";
import { ema, meanStd } from "./compare_data.js";
import {
  isDense,
  isSmoothed,
  metricInfo,
  metricLabel,
  metricNames,
  metricTitle,
  plotlyAxis,
  plotlyFormat,
} from "./catalog.js";

const X_TITLES = { step: "step", epoch: "epoch", time: "seconds since start" };
const X_HOVER = { step: ",.0f", epoch: ".2f", time: ",.0f" }; // the x in the hover's title line

/** Metric names worth a chart (some run has two points or more): catalogued ones in the catalogue's order,
 * then any other by name. */
export function chartMetrics(seriesByRun) {
  const names = new Set();
  for (const series of seriesByRun.values()) {
    for (const [name, s] of Object.entries(series)) if (s.x.length > 1) names.add(name);
  }
  const order = metricNames();
  const rank = (name) => (order.includes(name) ? order.indexOf(name) : order.length);
  return [...names].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

/** `#4e79a7` with an alpha, for a band's fill. */
export function withAlpha(hex, alpha) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${alpha})`;
}

/** Up to this many points a sparse metric marks each one; past it the markers would hide the line (and cost SVG
 * paths). */
const SPARSE_MARKERS = 300;

/** Losses of different methods start at different heights: their charts can show each curve over its first value. */
const canBeRelative = (metric) => metricInfo(metric)?.unit === "nats";

/** How a chart draws its metric: the smoothing weight (0 unless the catalogue smooths it), relative or not, its
 * format. */
function drawing(metric, smoothing, relative) {
  return { metric, weight: isSmoothed(metric) ? smoothing : 0, relative, sparse: !isDense(metric),
    fmt: relative ? ".3f" : plotlyFormat(metric) };
}

/** A run's curve: raw alone, or raw faint behind the smoothed line whose hover gives both (TensorBoard's tooltip).
 * A sparse metric (k-NN, probes) is drawn raw with a marker at every evaluation. */
function runTraces(entity, s, { weight, relative, sparse, fmt }) {
  const color = entity.color;
  const y = relative ? relativeToFirst(s.y) : s.y;
  const base = {
    type: "scatter",
    mode: s.x.length <= (sparse ? SPARSE_MARKERS : 40) ? "lines+markers" : "lines",
    x: s.x,
    name: entity.label,
    meta: entity.runs[0].id,
    marker: { color, size: sparse ? 7 : 5 },
  };
  if (!(weight > 0)) {
    return [{ ...base, y, line: { color, width: 1.6 }, hovertemplate: `${entity.label}: %{y:${fmt}}<extra></extra>` }];
  }
  return [
    { ...base, y, line: { color, width: 1 }, opacity: 0.25, hoverinfo: "skip" },
    { ...base, y: ema(y, weight), customdata: y, line: { color, width: 1.8 },
      hovertemplate: `${entity.label}: %{y:${fmt}} (raw %{customdata:${fmt}})<extra></extra>` },
  ];
}

/** A seed group's mean ± std band (of the smoothed curves when smoothed; the hover adds the raw mean). */
function groupTraces(entity, seriesByRun, { metric, weight, relative, sparse, fmt }) {
  const members = entity.runs.map((run) => (seriesByRun.get(run.id) || {})[metric]).filter(Boolean)
    .map((s) => ({ x: s.x, y: relative ? relativeToFirst(s.y) : s.y }));
  const band = meanStd(members.map((s) => ({ x: s.x, y: ema(s.y, weight) })));
  const rawMean = weight > 0 ? meanStd(members).mean : null; // the same grid: ema keeps every gap where it was
  const raw = rawMean ? ` (raw %{customdata[1]:${fmt}})` : "";
  return [
    {
      type: "scatter",
      mode: "lines",
      x: band.x,
      y: band.upper,
      line: { width: 0, color: entity.color },
      hoverinfo: "skip",
      showlegend: false,
    },
    {
      type: "scatter",
      mode: "lines",
      x: band.x,
      y: band.lower,
      line: { width: 0, color: entity.color },
      fill: "tonexty",
      fillcolor: withAlpha(entity.color, 0.2),
      hoverinfo: "skip",
      showlegend: false,
    },
    {
      type: "scatter",
      mode: sparse && members.every((s) => s.x.length <= SPARSE_MARKERS) ? "lines+markers" : "lines",
      x: band.x,
      y: band.mean,
      name: entity.label,
      line: { color: entity.color, width: 2 },
      marker: { color: entity.color, size: 6 },
      customdata: band.upper.map((u, i) => [u - band.mean[i], rawMean ? rawMean[i] : null]),
      hovertemplate: `${entity.label}: %{y:${fmt}} ± %{customdata[0]:${fmt}}${raw}<extra></extra>`,
    },
  ];
}

/** One titled panel per metric in a container, each with a chart, created on first use and kept across redraws. */
export class MetricPanels {
  constructor(container, testidPrefix) {
    this.container = container;
    this.testidPrefix = testidPrefix;
    this.divs = new Map(); // metric -> chart div
  }

  /** A chart's width in pixels: what the server downsamples the series to. */
  width() {
    const first = this.container.querySelector(".chart");
    return (first && first.clientWidth) || Math.max(300, Math.floor(this.container.clientWidth / 2));
  }

  /** The chart of a metric, with its log-scale and reset tools (and `onRelative`'s toggle when given). */
  chartDiv(metric, onRelative = null) {
    if (!this.divs.has(metric)) {
      const div = h("div", { class: "chart", "data-testid": `${this.testidPrefix}-${metric}`, "data-metric": metric,
        "data-y-metric": metric });
      this.container.append(h("section", { class: "panel" }, h("h2", {}, metricLabel(metric)), div));
      addCurveTools(div, { onRelative });
      this.divs.set(metric, div);
    }
    return this.divs.get(metric);
  }

  dispose() {
    for (const div of this.divs.values()) disposeChart(div);
    this.divs.clear();
  }
}

/** The metric charts of the compare view, kept across redraws (smoothing, x axis, legend toggles). */
export class CompareCharts extends MetricPanels {
  constructor(container) {
    super(container, "compare-chart");
  }

  /** Draw every metric; resolves once all charts are painted. */
  async render(args) {
    const { metrics, entities, seriesByRun, smoothing, xAxis, hidden } = args;
    this.last = args;
    for (const [metric, div] of this.divs) {
      if (!metrics.includes(metric)) {
        disposeChart(div);
        div.closest(".panel").remove();
        this.divs.delete(metric);
      }
    }
    const draws = metrics.map((metric) => {
      const div = this.chartDiv(metric, canBeRelative(metric) ? () => this.render(this.last) : null);
      const how = drawing(metric, smoothing, isRelative(div));
      const traces = [];
      for (const entity of entities) {
        if (hidden.has(entity.key)) continue;
        if (entity.group) traces.push(...groupTraces(entity, seriesByRun, how));
        else {
          const s = (seriesByRun.get(entity.runs[0].id) || {})[metric];
          if (s) traces.push(...runTraces(entity, s, how));
        }
      }
      const layout = chartLayout({
        xTitle: X_TITLES[xAxis],
        yTitle: how.relative ? `${metricLabel(metric)} ÷ its first value` : metricTitle(metric),
        showlegend: false,
        hovermode: "x unified", // every run at the hovered x, as TensorBoard's tooltip
        uirevision: `${xAxis}:${how.relative}`,
        xaxis: { hoverformat: X_HOVER[xAxis] },
        yaxis: how.relative ? {} : plotlyAxis(metric),
        margin: { l: 60, r: 12, t: 12, b: 44 },
      });
      return plotCurves(div, traces, layout, { emptyText: "Every run is hidden: press one in the legend above." });
    });
    await Promise.all(draws);
  }
}
