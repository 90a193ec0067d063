/**
 * The study's curves: one chart per metric, each cell's mean ± std over its runs (computed by the server) as a
 * band and a line.
 */

import { chartLayout, disposeChart } from "./charts.js";
import { metricNames, metricTitle, plotlyAxis, plotlyFormat } from "./catalog.js";
import { MetricPanels, withAlpha } from "./compare_charts.js";
import { isLogY, plotCurves } from "./chart_tools.js";
import { leftMargin, linearTickLabels } from "./chart_margins.js";
import { drawStamped } from "./study_charts.js";

const X_TITLES = { step: "step", epoch: "epoch", time: "seconds since start" };
const X_HOVER = { step: ",.0f", epoch: ".2f", time: ",.0f" }; // the x in the hover's title line

/** A cell's band (mean ± std, none where one run counts) as one closed shape, and its mean line: two traces a cell,
 * since Plotly's cost grows with the traces more than with their points. */
function bandTraces(cell, curve, metric) {
  const half = curve.std.map((s) => s ?? 0);
  const fmt = plotlyFormat(metric);
  const back = curve.x.map((_, i) => curve.x.length - 1 - i);
  return [
    {
      type: "scatter",
      mode: "lines",
      x: [...curve.x, ...back.map((i) => curve.x[i])],
      y: [...curve.mean.map((m, i) => m + half[i]), ...back.map((i) => curve.mean[i] - half[i])],
      fill: "toself",
      fillcolor: withAlpha(cell.color, 0.2),
      line: { width: 0, color: cell.color },
      hoverinfo: "skip",
      showlegend: false,
    },
    {
      type: "scatter",
      mode: curve.x.length <= 40 ? "lines+markers" : "lines",
      x: curve.x,
      y: curve.mean,
      name: cell.label,
      line: { color: cell.color, width: 2 },
      marker: { color: cell.color, size: 5 },
      customdata: curve.x.map((_, i) => [half[i], curve.n[i]]),
      hovertemplate: `${cell.label}: %{y:${fmt}} ± %{customdata[0]:${fmt}} (%{customdata[1]} runs)<extra></extra>`,
    },
  ];
}

/** Metrics with a curve, the catalogue's first in its order, then any other by name. */
function curveMetrics(curves) {
  const order = metricNames();
  const rank = (name) => (order.includes(name) ? order.indexOf(name) : order.length);
  return Object.keys(curves).filter((name) => curves[name].some((c) => c.x.length > 1))
    .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

/** The study's curves: one chart per metric, each cell's mean ± std over its runs as the server computed it. */
export class StudyCurves extends MetricPanels {
  constructor(container) {
    super(container, "study-curve");
  }

  /**
   * Draw every metric; resolves once all charts are painted. Returns the metrics drawn.
   * @param {{body: {x_axis: string,
   *   curves: Object<string, {key: string, x: number[], mean: number[], std: (number|null)[], n: number[]}[]>},
   *   cells: {key: string, label: string, color: string}[]}} p
   */
  async render({ body, cells }) {
    const metrics = curveMetrics(body.curves);
    for (const [metric, div] of this.divs) {
      if (metrics.includes(metric)) continue;
      disposeChart(div);
      div.closest(".panel").remove();
      this.divs.delete(metric);
    }
    const byKey = new Map(cells.map((cell) => [cell.key, cell]));
    for (const metric of metrics) { // one at a time, each painted before the next is worked out
      const div = this.chartDiv(metric);
      const traces = body.curves[metric].filter((curve) => byKey.has(curve.key) && curve.x.length)
        .flatMap((curve) => bandTraces(byKey.get(curve.key), curve, metric));
      const margin = { l: 60, r: 12, t: 12, b: 44 };
      if (!isLogY(div)) { // the y labels' room (chart_margins.js), so that Plotly draws the chart once
        const ys = traces.flatMap((trace) => trace.y).filter((y) => typeof y === "number" && Number.isFinite(y));
        const labels = ys.length ? linearTickLabels(Math.min(...ys), Math.max(...ys),
          div.clientHeight - margin.t - margin.b, plotlyAxis(metric)) : [];
        margin.l = leftMargin(labels, { min: margin.l });
      }
      const layout = chartLayout({ xTitle: X_TITLES[body.x_axis], yTitle: metricTitle(metric), showlegend: false,
        uirevision: body.x_axis, yaxis: plotlyAxis(metric), margin,
        // Every cell at the x nearest the pointer, however sparse the points (a short run has a few per epoch).
        hovermode: "x unified", hoverdistance: -1, xaxis: { hoverformat: X_HOVER[body.x_axis] } });
      await drawStamped(div, traces, layout, plotCurves);
    }
    return metrics;
  }
}
