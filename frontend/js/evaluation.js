// The linear probe's confusion matrix (artifact evaluation.json), drawn as a heatmap: counts, or recall per true class.

import { chartLayout, drawChart, plotlyReady } from "./charts.js";
import { AA, contrastRatio, mix, parseColor, readableOn, toCss } from "./contrast.js";
import { h } from "./dom.js";

const VIEWS = { counts: "Counts", recall: "Recall %" };
const MAX_LABELLED = 15; // classes up to which every cell is written; larger matrices say it on hover only
const drawn = new Map(); // chart div -> { evaluation, view }, redrawn when the colour scheme changes

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

/**
 * The colour scale, from --heat-low (no image of the true class) to --heat-high (all of them). Colour follows the
 * square root of the share, so one or two confusions in a hundred are already visibly tinted.
 */
function colorScale() {
  const low = parseColor(cssVar("--heat-low"));
  const high = parseColor(cssVar("--heat-high"));
  return Array.from({ length: 11 }, (_, i) => [(i / 10) ** 2, mix(low, high, i / 10)]);
}

/** The fill Plotly gives `value` on `scale` (linear between stops, as Plotly does). */
function fillOf(scale, value) {
  const upper = scale.findIndex(([stop]) => stop >= value);
  if (upper <= 0) return scale[Math.max(upper, 0)][1];
  const [[v0, c0], [v1, c1]] = [scale[upper - 1], scale[upper]];
  return mix(c0, c1, (value - v0) / (v1 - v0));
}

/** Each row as whole percentages that add up to 100 (largest remainder), so a row reads as the class's recall split. */
export function rowPercentages(row) {
  const total = row.reduce((a, b) => a + b, 0);
  if (!total) return row.map(() => 0);
  const exact = row.map((count) => (100 * count) / total);
  const whole = exact.map(Math.floor);
  const order = exact.map((value, i) => [value - whole[i], i]).sort((a, b) => b[0] - a[0]);
  const missing = 100 - whole.reduce((a, b) => a + b, 0);
  for (let k = 0; k < missing; k += 1) whole[order[k][1]] += 1;
  return whole;
}

/** Buttons that switch the cells between counts and recall, on the panel title's line. */
function viewToggle(div) {
  const buttons = Object.entries(VIEWS).map(([view, label]) => h("button", {
    type: "button", class: "button small chart-tool", "data-view": view, "data-testid": `confusion-${view}`,
    "aria-pressed": "false", onClick: () => redraw(div, view) }, label));
  const tools = h("div", { class: "chart-tools", role: "group", "aria-label": "Confusion matrix cells show" },
    h("span", { class: "muted chart-tools-label" }, "Cells:"), ...buttons);
  const title = div.closest(".panel")?.querySelector(":scope > h2");
  if (title) {
    const head = h("div", { class: "panel-head chart-head" });
    title.replaceWith(head);
    head.append(title, tools);
  } else {
    div.before(tools);
  }
  return tools;
}

async function redraw(div, view) {
  const state = drawn.get(div);
  if (!state) return;
  state.view = view;
  state.tools
    .querySelectorAll("[data-view]")
    .forEach((button) => button.setAttribute("aria-pressed", String(button.dataset.view === view)));
  div.dataset.view = view;
  await plot(div, state.evaluation, view);
}

async function plot(div, evaluation, view) {
  const matrix = evaluation.confusion_matrix || [];
  const classes = (evaluation.classes || matrix.map((_, i) => i)).map(String);
  const shares = matrix.map((row) => {
    const total = row.reduce((a, b) => a + b, 0) || 1;
    return row.map((count) => count / total);
  });
  const scale = colorScale();
  const textColors = [cssVar("--text"), cssVar("--surface")].map(parseColor);
  const muted = parseColor(cssVar("--muted"));
  // Zeros in the muted colour (when it still reaches AA there), so the confusions that happened stand out.
  const textOn = (fill, count) =>
    count === 0 && contrastRatio(muted, fill) >= AA ? muted : readableOn(fill, textColors);
  const written = view === "recall" ? matrix.map(rowPercentages) : matrix;
  const annotations = classes.length > MAX_LABELLED ? [] : matrix.flatMap((row, i) => row.map((_, j) => {
    const fill = fillOf(scale, shares[i][j]);
    return { x: j, y: i, text: String(written[i][j]), showarrow: false,
      font: { size: 11, color: toCss(textOn(fill, matrix[i][j])) } };
  }));
  const trace = {
    type: "heatmap", x: classes, y: classes, z: shares, text: matrix, zmin: 0, zmax: 1,
    colorscale: scale.map(([stop, color]) => [stop, toCss(color)]), showscale: false, xgap: 1, ygap: 1,
    hovertemplate: "true %{y} → predicted %{x}<br>%{text} images · %{z:.1%} of true %{y}<extra></extra>",
  };
  const rotated = classes.some((name) => name.length > 2);
  const widest = Math.max(...annotations.map((note) => note.text.length));
  if (widest > 3) annotations.forEach((note) => { note.font.size = 9; }); // "1000" fits a cell of 10 classes at 1366 px
  await drawChart(
    div,
    [trace],
    chartLayout({
      showlegend: false,
      annotations,
      // automargin on both axes, and the titles' standoff measured from the tick labels: the "predicted" title sits
      // below the (possibly rotated) class names instead of across them.
      // constrain "domain": square cells shrink the plot area (centred), not stretch an axis past the classes.
      xaxis: {
        type: "category",
        side: "bottom",
        showgrid: false,
        tickangle: rotated ? -45 : 0,
        automargin: true,
        constrain: "domain",
        title: { text: "predicted", standoff: 8 },
      },
      yaxis: {
        type: "category",
        autorange: "reversed",
        showgrid: false,
        scaleanchor: "x",
        automargin: true,
        constrain: "domain",
        title: { text: "true class", standoff: 8 },
      },
      margin: { l: 16, r: 12, t: 12, b: 16 },
    }),
  );
}

/**
 * Draw `{classes, confusion_matrix}` (rows: true class, columns: predicted) into `div`, with a counts / recall toggle.
 * Colour is the share of each true class (rare classes read as well as common ones); the hover gives both numbers.
 * @returns {Promise<number>} the accuracy the matrix implies
 */
export async function drawConfusion(div, evaluation, view = "counts") {
  for (const old of drawn.keys()) if (!old.isConnected) drawn.delete(old); // views left since: let them go
  const state = drawn.get(div);
  drawn.set(div, { evaluation, view, tools: state ? state.tools : viewToggle(div) });
  await redraw(div, view);
  const matrix = evaluation.confusion_matrix || [];
  const correct = matrix.reduce((sum, row, i) => sum + (row[i] || 0), 0);
  const all = matrix.reduce((sum, row) => sum + row.reduce((a, b) => a + b, 0), 0);
  return all ? correct / all : NaN;
}

// The cell colours and their text colours come from the theme: draw again in the other one.
window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
  for (const [div, state] of drawn) {
    if (!div.isConnected) drawn.delete(div);
    else if (plotlyReady()) plot(div, state.evaluation, state.view);
  }
});
