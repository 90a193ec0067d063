// Plotly helpers: one look for every chart, following the page's light or dark theme.

const darkQuery = window.matchMedia("(prefers-color-scheme: dark)");
const liveCharts = new Set();

/** Colours that read on both a white and a near-black background (Tableau 10, slightly lifted). */
export const COLORWAY = [
  "#4e79a7", "#f28e2b", "#e15759", "#59a14f", "#76b7b2",
  "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#8c8c8c",
];

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

/** The theme part of a Plotly layout, read from the CSS custom properties. */
function themeLayout() {
  const text = cssVar("--text");
  const grid = cssVar("--chart-grid");
  const axis = { gridcolor: grid, zerolinecolor: grid, linecolor: grid, tickcolor: grid, color: cssVar("--muted") };
  return {
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)",
    font: { family: cssVar("--font-sans"), color: text, size: 12 },
    "xaxis.gridcolor": axis.gridcolor,
    "xaxis.zerolinecolor": axis.zerolinecolor,
    "xaxis.linecolor": axis.linecolor,
    "xaxis.color": axis.color,
    "yaxis.gridcolor": axis.gridcolor,
    "yaxis.zerolinecolor": axis.zerolinecolor,
    "yaxis.linecolor": axis.linecolor,
    "yaxis.color": axis.color,
    "legend.font.color": text,
    "hoverlabel.bgcolor": cssVar("--surface"),
    "hoverlabel.bordercolor": grid,
    "hoverlabel.font.color": text,
    "modebar.bgcolor": "rgba(0,0,0,0)",
    "modebar.color": cssVar("--muted"),
    "modebar.activecolor": text,
  };
}

/** Colours for an extra axis (e.g. `yaxis2`), which the theme layout does not cover. */
export function axisTheme() {
  const grid = cssVar("--chart-grid");
  return { gridcolor: grid, zerolinecolor: grid, linecolor: grid, tickcolor: grid, color: cssVar("--muted") };
}

/** Expand Plotly's dotted keys ("xaxis.gridcolor") into nested objects for newPlot. */
function nest(flat) {
  const out = {};
  for (const [key, value] of Object.entries(flat)) {
    const parts = key.split(".");
    let node = out;
    for (const part of parts.slice(0, -1)) node = node[part] ??= {};
    node[parts.at(-1)] = value;
  }
  return out;
}

function merge(base, extra) {
  const out = { ...base };
  for (const [key, value] of Object.entries(extra)) {
    const isObject = value && typeof value === "object" && !Array.isArray(value);
    out[key] = isObject && base[key] && typeof base[key] === "object" ? merge(base[key], value) : value;
  }
  return out;
}

/** A full layout for a chart: theme + sensible margins + the given axis titles and overrides. */
export function chartLayout({ xTitle, yTitle, ...overrides } = {}) {
  const base = merge(nest(themeLayout()), {
    margin: { l: 56, r: 16, t: 36, b: 44 }, // the top margin holds the legend and, on hover, the mode bar
    colorway: COLORWAY,
    showlegend: true,
    legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom", bgcolor: "rgba(0,0,0,0)" },
    xaxis: { title: { text: xTitle || "" }, automargin: true },
    yaxis: { title: { text: yTitle || "" }, automargin: true },
    hovermode: "closest",
    uirevision: "keep", // keep the user's zoom while points stream in
  });
  return merge(base, overrides);
}

export const CHART_CONFIG = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["select2d", "lasso2d"] };

/** True when Plotly is loaded (a failed load must not break the page). */
export const plotlyReady = () => typeof window.Plotly !== "undefined";

const PLOTLY_SRC = "/static/vendor/plotly.min.js";
let plotlyLoading = null;

/** Run plotly.js (4.6 MB; about 3 s of parsing on a slow CPU) on first use, not at page load: a view paints its
 * tables before the main thread is given to it, and a view without charts never pays for it. index.html
 * preloads the file, so only the parsing is left when a chart asks. Settles once it loaded or failed to. */
export function loadPlotly() {
  if (!plotlyLoading) {
    plotlyLoading = new Promise((resolve) => {
      if (plotlyReady()) return resolve();
      const script = Object.assign(document.createElement("script"), { src: PLOTLY_SRC, async: true, id: "plotly-js" });
      script.addEventListener("load", resolve, { once: true });
      script.addEventListener("error", resolve, { once: true });
      document.head.append(script);
    });
  }
  return plotlyLoading;
}

/** Draw a chart and keep it themed when the colour scheme changes. */
export async function drawChart(div, traces, layout) {
  await loadPlotly();
  if (!plotlyReady()) {
    div.textContent = "Charts unavailable: plotly.js did not load.";
    return;
  }
  await window.Plotly.newPlot(div, traces, layout, CHART_CONFIG);
  liveCharts.add(div);
}

/** Forget a chart and free Plotly's resources (call when a view unmounts). */
export function disposeChart(div) {
  liveCharts.delete(div);
  if (plotlyReady() && div && div.data) window.Plotly.purge(div);
}

let webgl = null;
/** `scattergl` when WebGL works, else `scatter` (headless or locked-down browsers). Plotly's WebGL
 * traces compile code with `new Function`, so a Content-Security-Policy without 'unsafe-eval'
 * rules them out too (they would draw "WebGL is not supported" instead of the curve). */
export function fastScatterType() {
  if (webgl === null) {
    try {
      webgl = new Function("return true")() && !!document.createElement("canvas").getContext("webgl");
    } catch {
      webgl = false;
    }
  }
  return webgl ? "scattergl" : "scatter";
}

darkQuery.addEventListener("change", () => {
  if (!plotlyReady()) return;
  const update = themeLayout();
  const second = Object.fromEntries(Object.entries(axisTheme()).map(([key, value]) => [`yaxis2.${key}`, value]));
  for (const div of liveCharts) {
    // A second y axis (the run page's learning rate) is themed too, or its lines stay the other theme's colour.
    if (div.isConnected)
      window.Plotly.relayout(div, div.layout && div.layout.yaxis2 ? { ...update, ...second } : update);
    else liveCharts.delete(div);
  }
});
