// The study page's charts of a metric over the axes: the metric against each axis with 95 % CI bars,
// a heatmap of two axes, and parallel coordinates over every axis and the metric. One point per cell
// (its mean over seeds), never a single seed. The curves over training are study_curves.js.
//
// plotly's parcoords is WebGL only: in a browser without a GPU (headless Chromium, software GL) its first
// draw takes seconds and holds the main thread, so it is drawn when its panel comes into view.

import { h } from "./dom.js";
import { axisTheme, chartLayout, CHART_CONFIG, disposeChart, drawChart, plotlyReady } from "./charts.js";
import { formatMetric, metricDirection, metricTitle, plotlyAxis } from "./catalog.js";
import { axisValueText, formatMeanCi } from "./study_table.js";
import { categoryMargins, leftMargin, numericBottom, textWidth } from "./chart_margins.js";

/** Axes read on a log scale: they are tried over orders of magnitude. */
const LOG_AXES = new Set(["lr", "weight_decay", "temperature"]);

const darkQuery = window.matchMedia("(prefers-color-scheme: dark)");

const isNumeric = (values) => values.length > 0 && values.every((v) => typeof v === "number");
const useLog = (field, values) => LOG_AXES.has(field) && isNumeric(values) && values.every((v) => v > 0);

/** The distinct values an axis takes over the cells, in the study's order (n/a for cells it does not apply to). */
function axisValues(field, axisOrder, cells) {
  const seen = Array.isArray(axisOrder) ? [...axisOrder] : []; // a search's range axis lists no values
  for (const cell of cells) if (!seen.some((v) => v === cell.values[field])) seen.push(cell.values[field]);
  return seen.filter((v) => cells.some((cell) => cell.values[field] === v));
}

/** The metric's axis settings, one decimal finer for percentages: a study's cells often lie within a few points. */
function metricAxis(metric) {
  const axis = plotlyAxis(metric);
  return axis.tickformat === ".0%" ? { ...axis, tickformat: ".1%" } : axis;
}

/** The y range that holds every cell's interval (Plotly's autorange takes in zero when traces are grouped). */
function valueRange(cells) {
  const ends = cells.flatMap((cell) => (cell.ci95 ? cell.ci95 : [cell.mean])).filter((v) => typeof v === "number");
  if (!ends.length) return undefined;
  const [lo, hi] = [Math.min(...ends), Math.max(...ends)];
  const pad = (hi - lo) * 0.08 || Math.abs(hi) * 0.05 || 1;
  return [lo - pad, hi + pad];
}

/** Colour scale of a metric: the better end is always the bright one. */
const colorscale = (metric) => ({ colorscale: "Viridis", reversescale: metricDirection(metric) === "lower" });

/** The metric against one axis: a line (or dots for a categorical axis) per combination of the other axes. */
function axisTraces(field, axes, cells, metric) {
  const others = axes.filter((a) => a !== field);
  const groups = new Map();
  for (const cell of cells) {
    if (typeof cell.mean !== "number") continue;
    const label = others.map((a) => `${a}=${axisValueText(a, cell.values[a])}`).join(", ") || "mean over seeds";
    if (!groups.has(label)) groups.set(label, []);
    groups.get(label).push(cell);
  }
  const numeric = isNumeric(cells.map((cell) => cell.values[field]).filter((v) => v !== undefined));
  return [...groups].map(([label, members]) => {
    const sorted = numeric ? [...members].sort((a, b) => a.values[field] - b.values[field]) : members;
    return {
      type: "scatter", mode: numeric ? "lines+markers" : "markers", name: label,
      x: sorted.map((cell) => (numeric ? cell.values[field] : axisValueText(field, cell.values[field]))),
      y: sorted.map((cell) => cell.mean),
      error_y: { type: "data", symmetric: false, thickness: 1.2, width: 4,
        array: sorted.map((cell) => (cell.ci95 ? cell.ci95[1] - cell.mean : 0)),
        arrayminus: sorted.map((cell) => (cell.ci95 ? cell.mean - cell.ci95[0] : 0)) },
      customdata: sorted.map((cell) => [formatMeanCi(metric, cell.mean, cell.ci95), cell.n]),
      hovertemplate: `${label}<br>${field} %{x}: %{customdata[0]} (n=%{customdata[1]})<extra></extra>`,
      marker: { size: 8 },
    };
  });
}

/** Heatmap of the two axes' cells, each square labelled with its mean ± CI. */
function heatmapTrace(axes, axisOrders, cells, metric) {
  const [fx, fy] = axes;
  const xs = axisValues(fx, axisOrders[fx], cells);
  const ys = axisValues(fy, axisOrders[fy], cells);
  const at = (x, y) => cells.find((cell) => cell.values[fx] === x && cell.values[fy] === y);
  const z = ys.map((y) => xs.map((x) => at(x, y)?.mean ?? null));
  const text = ys.map((y) => xs.map((x) => {
    const cell = at(x, y);
    return cell && typeof cell.mean === "number" ? formatMeanCi(metric, cell.mean, cell.ci95) : "";
  }));
  return {
    type: "heatmap", x: xs.map((v) => axisValueText(fx, v)), y: ys.map((v) => axisValueText(fy, v)), z, text,
    texttemplate: "%{text}", hovertemplate: `${fx} %{x}<br>${fy} %{y}<br>%{text}<extra></extra>`, xgap: 2, ygap: 2,
    ...colorscale(metric), colorbar: { tickformat: metricAxis(metric).tickformat, thickness: 12, outlinewidth: 0 },
  };
}

/** A parcoords dimension for an axis: numbers on their scale (log10 for lr and kin), choices as ticks. */
function axisDimension(field, axisOrder, cells) {
  const values = cells.map((cell) => cell.values[field]);
  const distinct = axisValues(field, axisOrder, cells);
  if (isNumeric(values)) {
    if (useLog(field, values)) {
      return { label: `${field} (log)`, values: values.map(Math.log10), tickvals: distinct.map(Math.log10),
        ticktext: distinct.map((v) => axisValueText(field, v)) };
    }
    return { label: field, values, tickvals: distinct, ticktext: distinct.map((v) => axisValueText(field, v)) };
  }
  const index = (v) => distinct.findIndex((d) => d === v);
  return {
    label: field,
    values: values.map(index),
    tickvals: distinct.map((_, i) => i),
    ticktext: distinct.map((v) => axisValueText(field, v)),
    range: [-0.3, Math.max(0.3, distinct.length - 0.7)],
  };
}

/** The metric's ticks at the cells' means, one per distinct shown text (no "79.3 %, 79.3 %"). */
function distinctTicks(metric, means) {
  const ticks = new Map();
  for (const mean of [...means].sort((a, b) => a - b)) {
    const text = formatMetric(metric, mean);
    if (!ticks.has(text)) ticks.set(text, mean);
  }
  return { tickvals: [...ticks.values()], ticktext: [...ticks.keys()] };
}

/** Each line in its cell's colour (the table's swatch, the curves' line): a stepwise colour scale, one step a
 * cell. */
function cellColours(scored, colorOf) {
  const n = Math.max(1, scored.length);
  const colorscale = scored.flatMap((cell, i) => [[i / n, colorOf(cell.key)], [(i + 1) / n, colorOf(cell.key)]]);
  return { color: scored.map((_, i) => (i + 0.5) / n), colorscale, cmin: 0, cmax: 1, showscale: false };
}

function parcoordsTrace(axes, axisOrders, cells, metric, colorOf) {
  const scored = cells.filter((cell) => typeof cell.mean === "number");
  const theme = axisTheme();
  const color = getComputedStyle(document.documentElement).getPropertyValue("--text").trim();
  const dims = axes.map((field) => axisDimension(field, axisOrders[field], scored));
  dims.push({
    label: metricTitle(metric),
    values: scored.map((cell) => cell.mean),
    ...distinctTicks(metric, scored.map((cell) => cell.mean)),
  });
  return {
    type: "parcoords", dimensions: dims,
    line: colorOf ? cellColours(scored, colorOf) : { color: scored.map((cell) => cell.mean), ...colorscale(metric),
      showscale: false },
    // parcoords outlines its labels in a contrasting colour by default ("auto" shadow): a halo on a dark page.
    labelfont: { color, size: 12, shadow: "none" }, tickfont: { color: theme.color, size: 11, shadow: "none" },
    rangefont: { color: "rgba(0,0,0,0)", shadow: "none" },
  };
}

/** chartLayout's margins, widened where the x labels will need it (chart_margins.js: no redraw for them). */
function axisChartMargins(div, traces, categorical, log) {
  if (log) return { b: numericBottom(true, 44) };
  if (!categorical) return {};
  const labels = [...new Set(traces.flatMap((trace) => trace.x))]; // Plotly's order: as they first appear
  return categoryMargins(labels, div.clientWidth, { l: 56, minBottom: 44, minRight: 16 });
}

/** The heatmap's margins: its y labels on the left, its x labels below (and to the right when turned); the colour
 * bar's room, which Plotly adds without a redraw, narrows the plot. */
function heatmapMargins(div, trace, metric) {
  const l = leftMargin(trace.y, { min: 56, category: true });
  const z = trace.z.flat().filter((v) => typeof v === "number");
  const colorbar = z.length ? 48 + Math.max(...[Math.min(...z), Math.max(...z)].map((v) =>
    textWidth(formatMetric(metric, v)))) : 0;
  const below = categoryMargins(trace.x, div.clientWidth,
    { l, reserved: colorbar, minBottom: 44, minRight: 16, heatmap: true });
  return { t: 12, l, ...below };
}

/** Draw a chart, or update it in place. */
async function plotChart(div, traces, layout) {
  if (div.data && plotlyReady()) return window.Plotly.react(div, traces, layout, CHART_CONFIG);
  return drawChart(div, traces, layout);
}

/** Draw or update a chart with `plot`; `div.dataset.drawnAt` says when it was first painted (ms since navigation),
 * for the bench. */
export async function drawStamped(div, traces, layout, plot = plotChart) {
  const first = !div.data;
  await plot(div, traces, layout);
  if (!first) return;
  await new Promise(requestAnimationFrame);
  div.dataset.drawnAt = String(Math.round(performance.now()));
}

/** The study's metric charts, redrawn in place when the metric, the baseline or the numbers change. */
export class StudyCharts {
  constructor(container) {
    this.container = container;
    this.divs = new Map(); // chart id -> div
    this.last = null; // the last render's arguments
    this.deferred = new Map(); // chart div -> the draw waiting for it to come into view
    this.observer = null;
    this.turn = Promise.resolve(); // the chart being drawn (draw())
    // parcoords takes its font colours in the trace, which charts.js's theme relayout does not reach: redraw.
    this.onTheme = () => this.last && this.render(this.last);
    darkQuery.addEventListener("change", this.onTheme);
  }

  chartDiv(id, title, { wide = false, tall = false } = {}) {
    if (!this.divs.has(id)) {
      const div = h("div", { class: `chart${tall ? " chart-tall" : ""}`, "data-testid": `study-chart-${id}` });
      this.container.append(
        h("section", { class: `panel${wide ? " span-2" : ""}`, "data-chart": id }, h("h2", {}, title), div),
      );
      this.divs.set(id, div);
    } else {
      this.divs.get(id).closest(".panel").querySelector("h2").textContent = title;
    }
    return this.divs.get(id);
  }

  /** Keep only the charts in `ids`. */
  prune(ids) {
    for (const [id, div] of this.divs) {
      if (ids.includes(id)) continue;
      this.deferred.delete(div);
      this.observer?.unobserve(div);
      disposeChart(div);
      div.closest(".panel").remove();
      this.divs.delete(id);
    }
  }

  /**
   * Draw every chart for the metric; resolves once all are painted.
   * @param {{axes: string[], axisOrders: Object<string, unknown[]>, cells: object[], metric: string}} p
   *   cells: the stats' cells (values, mean, ci95, n)
   */
  async render({ axes, axisOrders, cells, metric, colorOf }) {
    this.last = { axes, axisOrders, cells, metric, colorOf };
    const draws = [];
    const ids = [];
    const yaxis = { ...metricAxis(metric), title: { text: metricTitle(metric) }, range: valueRange(cells) };
    for (const field of axes) {
      const id = `axis-${field}`;
      ids.push(id);
      const values = cells.map((cell) => cell.values[field]).filter((v) => v !== undefined);
      const categorical = !isNumeric(values);
      const log = useLog(field, values);
      const div = this.chartDiv(id, `${metricTitle(metric)} against ${field}`);
      const traces = axisTraces(field, axes, cells, metric);
      const layout = chartLayout({
        xTitle: field,
        yTitle: metricTitle(metric),
        showlegend: axes.length > 1,
        uirevision: `${field}:${metric}`,
        xaxis: log ? { type: "log" } : categorical ? { type: "category" } : {},
        yaxis,
        scattermode: categorical ? "group" : "overlay",
        scattergap: 0.6,
        margin: axisChartMargins(div, traces, categorical, log),
      }); // side by side, so the CI bars do not hide each other
      draws.push(this.draw(div, traces, layout));
    }
    if (axes.length === 2) {
      ids.push("heatmap");
      const div = this.chartDiv("heatmap", `${metricTitle(metric)}: ${axes[0]} × ${axes[1]}`);
      const trace = heatmapTrace(axes, axisOrders, cells, metric);
      const layout = chartLayout({ xTitle: axes[0], yTitle: axes[1], showlegend: false, uirevision: metric,
        xaxis: { type: "category" }, yaxis: { type: "category" }, margin: heatmapMargins(div, trace, metric) });
      draws.push(this.draw(div, [trace], layout));
    }
    if (axes.length >= 1 && cells.some((cell) => typeof cell.mean === "number")) {
      ids.push("parcoords");
      // The first axis's tick labels sit left of it: leave them room. Wide when it would otherwise sit alone in its
      // row.
      const first = axes.length
        ? Math.max(...cells.map((cell) => axisValueText(axes[0], cell.values[axes[0]]).length))
        : 0;
      const layout = chartLayout({
        showlegend: false,
        margin: { l: Math.min(240, 24 + 7 * first), r: 60, t: 48, b: 24 },
      });
      this.drawWhenVisible(
        this.chartDiv("parcoords", "Every axis and the metric (one line per cell)", { wide: ids.length % 2 === 1 }),
        [parcoordsTrace(axes, axisOrders, cells, metric, colorOf)],
        layout,
      );
    }
    this.prune(ids);
    await Promise.all(draws);
  }

  /** One chart at a time with a frame between: the first is painted while the others wait their turn, instead of
   * every chart's work running before any of them shows. */
  draw(div, traces, layout) {
    const turn = this.turn.then(() => drawStamped(div, traces, layout));
    this.turn = turn.catch(() => {});
    return turn;
  }

  /** Draw now if the chart is drawn already, else once it comes within 200 px of the viewport; render() does not
   * wait. */
  drawWhenVisible(div, traces, layout) {
    this.deferred.set(div, { traces, layout });
    if (div.data) {
      this.drawDeferred(div);
      return;
    }
    this.observer ??= new IntersectionObserver((entries) => {
      for (const entry of entries) if (entry.isIntersecting) this.drawDeferred(entry.target);
    }, { rootMargin: "200px" });
    this.observer.observe(div);
  }

  async drawDeferred(div) {
    const job = this.deferred.get(div);
    if (!job) return;
    this.deferred.delete(div);
    this.observer?.unobserve(div);
    await this.draw(div, job.traces, job.layout);
  }

  dispose() {
    this.observer?.disconnect();
    this.deferred.clear();
    darkQuery.removeEventListener("change", this.onTheme);
    for (const div of this.divs.values()) disposeChart(div);
    this.divs.clear();
  }
}
