// The compare view's curves: one chart per metric, one colour per run, raw faint behind the smoothed
// line, seed groups as mean ± std bands.
//
// SVG lines, not WebGL: the series arrive downsampled to about two points per pixel column, so a
// chart holds at most 20 runs × 2 traces × 8 000 points, and for that SVG is the faster renderer.
// In Chromium one chart of 40 traces × 1 274 points drew in about 0.1 s as SVG and 1.1 s as
// scattergl; 40 × 7 600 points in 0.3–0.5 s against 5.5 s. WebGL stays on the live run page,
// whose curves grow point by point with no bound.

import { h } from "./dom.js";
import { chartLayout, drawChart, disposeChart, plotlyReady, CHART_CONFIG } from "./charts.js";
import { ema, meanStd } from "./compare_data.js";
import { metricLabel, metricNames, metricTitle, plotlyAxis, plotlyFormat } from "./catalog.js";

const X_TITLES = { step: "step", epoch: "epoch", time: "seconds since start" };

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

function runTraces(entity, s, smoothing, type, metric) {
  const run = entity.runs[0];
  const markers = s.x.length <= 40 ? "lines+markers" : "lines";
  const hover = `${entity.label}<br>%{x}: %{y:${plotlyFormat(metric)}}<extra></extra>`;
  const raw = { type, mode: markers, x: s.x, y: s.y, name: entity.label, meta: run.id,
    line: { color: entity.color, width: smoothing > 0 ? 1 : 1.6 }, marker: { color: entity.color, size: 5 },
    opacity: smoothing > 0 ? 0.25 : 1, hovertemplate: smoothing > 0 ? null : hover, hoverinfo: smoothing > 0 ? "skip" : undefined };
  if (!(smoothing > 0)) return [raw];
  return [raw, { type, mode: markers, x: s.x, y: ema(s.y, smoothing), name: entity.label, meta: run.id,
    line: { color: entity.color, width: 1.8 }, marker: { color: entity.color, size: 5 }, hovertemplate: hover }];
}

function groupTraces(entity, seriesByRun, metric, smoothing, type) {
  const members = entity.runs.map((run) => (seriesByRun.get(run.id) || {})[metric]).filter(Boolean)
    .map((s) => ({ x: s.x, y: ema(s.y, smoothing) }));
  const band = meanStd(members);
  const fmt = plotlyFormat(metric);
  return [
    { type: "scatter", mode: "lines", x: band.x, y: band.upper, line: { width: 0, color: entity.color }, hoverinfo: "skip", showlegend: false },
    { type: "scatter", mode: "lines", x: band.x, y: band.lower, line: { width: 0, color: entity.color }, fill: "tonexty",
      fillcolor: withAlpha(entity.color, 0.2), hoverinfo: "skip", showlegend: false },
    { type, mode: "lines", x: band.x, y: band.mean, name: entity.label, line: { color: entity.color, width: 2 },
      customdata: band.upper.map((u, i) => (u - band.mean[i])),
      hovertemplate: `${entity.label}<br>%{x}: %{y:${fmt}} ± %{customdata:${fmt}}<extra></extra>` },
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

  chartDiv(metric) {
    if (!this.divs.has(metric)) {
      const div = h("div", { class: "chart", "data-testid": `${this.testidPrefix}-${metric}`, "data-metric": metric });
      this.container.append(h("section", { class: "panel" }, h("h2", {}, metricLabel(metric)), div));
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
  async render({ metrics, entities, seriesByRun, smoothing, xAxis, hidden }) {
    for (const [metric, div] of this.divs) {
      if (!metrics.includes(metric)) {
        disposeChart(div);
        div.closest(".panel").remove();
        this.divs.delete(metric);
      }
    }
    const type = "scatter";
    const draws = metrics.map((metric) => {
      const div = this.chartDiv(metric);
      const traces = [];
      for (const entity of entities) {
        if (hidden.has(entity.key)) continue;
        if (entity.group) traces.push(...groupTraces(entity, seriesByRun, metric, smoothing, type));
        else {
          const s = (seriesByRun.get(entity.runs[0].id) || {})[metric];
          if (s) traces.push(...runTraces(entity, s, smoothing, type, metric));
        }
      }
      const layout = chartLayout({
        xTitle: X_TITLES[xAxis], yTitle: metricTitle(metric), showlegend: false, hovermode: "closest",
        uirevision: xAxis, yaxis: plotlyAxis(metric),
        margin: { l: 60, r: 12, t: 12, b: 44 },
      });
      if (div.data && plotlyReady()) return window.Plotly.react(div, traces, layout, CHART_CONFIG);
      return drawChart(div, traces, layout);
    });
    await Promise.all(draws);
  }

}
