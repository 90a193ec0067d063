// What every curve chart offers besides its curves: a log-scale toggle and a y-range reset above the plot (plain
// buttons, so they are reached by keyboard, unlike Plotly's hover-only mode bar), optionally a "relative to the
// first value" toggle, and a "waiting for the first point" message instead of empty axes.
//
// The toggles' state lives on the chart div (data-log-y, data-relative), so a chart redrawn from scratch
// (Plotly.react with a fresh layout on the compare page's polls) keeps what the user chose.

import { h } from "./dom.js";
import { CHART_CONFIG, drawChart, plotlyReady } from "./charts.js";
import { plotlyAxis, plotlyLogAxis } from "./catalog.js";

export const WAITING_TEXT = "Waiting for the first point…";

/** The y axes a layout or a drawn chart has (the run page's loss chart has the learning rate on a second one). */
const yAxesOf = (layout) => ["yaxis", "yaxis2"].filter((name) => name === "yaxis" || (layout && layout[name]));

/** The layout part of a chart with no point yet: a sentence in the middle and no axes (Plotly's empty axes read
 * −1 to 4), for a chart laid out as `layout`. */
export function emptyLayout(layout, text = WAITING_TEXT) {
  const hidden = Object.fromEntries(["xaxis", ...yAxesOf(layout)].map((axis) => [axis, { visible: false }]));
  return {
    ...hidden,
    annotations: [{ text, showarrow: false, xref: "paper", yref: "paper", x: 0.5, y: 0.5, font: { size: 13 } }],
  };
}

/** The relayout that brings a drawn chart's axes back once it has a point (undoes `emptyLayout`). */
export function showAxes(div) {
  const visible = Object.fromEntries(["xaxis", ...yAxesOf(div.layout)].map((axis) => [`${axis}.visible`, true]));
  return window.Plotly.relayout(div, { ...visible, annotations: [] });
}

/** Whether no trace has a point. */
export const noPoints = (traces) => traces.every((t) => !t.x || t.x.length === 0);

/** Whether the user chose a log y axis for this chart. */
export const isLogY = (div) => div.dataset.logY === "true";

/** Whether the user chose to see this chart's curves relative to their first value. */
export const isRelative = (div) => div.dataset.relative === "true";

/** The y axis type the user chose, to merge into a layout drawn from scratch. `data-y-metric` names the metric
 * whose format the y axis takes (percent ticks are set differently on a log axis). */
export function yScale(div) {
  return isLogY(div)
    ? { type: "log", autorange: true, ...plotlyLogAxis(div.dataset.yMetric || "") }
    : { type: "linear" };
}

/** The relayout that turns a drawn chart's y axis to log or back. */
function scaleUpdate(div, log) {
  const metric = div.dataset.yMetric || "";
  const axis = log ? plotlyLogAxis(metric) : div.dataset.relative === "true" ? {} : plotlyAxis(metric);
  // A fixed range in data units means nothing on the other scale: let Plotly fit the data.
  const update = { "yaxis.type": log ? "log" : "linear", "yaxis.autorange": true };
  for (const [key, value] of Object.entries(axis)) update[`yaxis.${key}`] = value;
  return update;
}

const withTools = new WeakSet(); // chart divs that have their tools already

function toggle(label, testid, pressed, onPress) {
  const button = h(
    "button",
    { type: "button", class: "button small chart-tool", "aria-pressed": String(pressed), "data-testid": testid },
    label,
  );
  button.addEventListener("click", () => {
    const next = button.getAttribute("aria-pressed") !== "true";
    button.setAttribute("aria-pressed", String(next));
    onPress(next);
  });
  return button;
}

/**
 * Put the tools above a chart div (once). `initialRange` is where "Reset y" returns on a linear axis (else autorange);
 * `onRelative`, when given, adds the "relative to first value" toggle and is called to redraw with it.
 */
export function addCurveTools(div, { initialRange = null, onRelative = null } = {}) {
  if (withTools.has(div)) return;
  withTools.add(div);
  // A range, or a function giving it now (the run page's accuracy axis follows its points).
  const home = () => (typeof initialRange === "function" ? initialRange() : initialRange);
  const metric = div.dataset.metric || div.dataset.testid || "chart";
  const log = toggle("Log y", "log-y", isLogY(div), (on) => {
    div.dataset.logY = String(on);
    if (plotlyReady() && div.data) window.Plotly.relayout(div, scaleUpdate(div, on));
  });
  const reset = h("button", { type: "button", class: "button small chart-tool", "data-testid": "reset-y",
    onClick: () => {
      if (!plotlyReady() || !div.data) return;
      const update = Object.fromEntries(yAxesOf(div.layout).map((axis) => [`${axis}.autorange`, true]));
      // A copy each time: Plotly converts a layout's range array in place when the axis type changes.
      if (home() && !isLogY(div)) Object.assign(update, { "yaxis.autorange": false, "yaxis.range": [...home()] });
      window.Plotly.relayout(div, update);
    } }, "Reset y");
  const tools = h(
    "div",
    { class: "chart-tools", role: "group", "aria-label": `Options of the ${metric} chart` },
    log,
    reset,
  );
  if (onRelative) {
    tools.append(toggle("Relative to first value", "relative", isRelative(div), (on) => {
      div.dataset.relative = String(on);
      onRelative(on);
    }));
  }
  // On the panel title's line when the chart follows its title, so the tools cost no height.
  const title = div.previousElementSibling;
  if (title && title.tagName === "H2") {
    const head = h("div", { class: "panel-head chart-head" });
    title.replaceWith(head);
    head.append(title, tools);
  } else {
    div.before(tools);
  }
}

/** A series divided by its first finite non-zero value (losses of different methods start at different heights). */
export function relativeToFirst(ys) {
  const first = ys.find((y) => y !== null && Number.isFinite(y) && y !== 0);
  return first === undefined ? ys.slice() : ys.map((y) => (y === null ? null : y / first));
}

/** `layout` with `extra`'s axes merged one level deep (an axis keeps its other settings). */
function withAxes(layout, extra) {
  const out = { ...layout, ...extra };
  for (const axis of ["xaxis", "yaxis", "yaxis2"])
    if (extra[axis]) out[axis] = { ...(layout[axis] || {}), ...extra[axis] };
  return out;
}

/** Draw a curve chart or update it in place, with the user's y scale, and a sentence instead of empty axes. */
export async function plotCurves(div, traces, layout, { emptyText = WAITING_TEXT } = {}) {
  let full = withAxes(layout, { yaxis: yScale(div) });
  if (noPoints(traces)) full = withAxes(full, emptyLayout(full, emptyText));
  if (div.data && plotlyReady()) return window.Plotly.react(div, traces, full, CHART_CONFIG);
  return drawChart(div, traces, full);
}
