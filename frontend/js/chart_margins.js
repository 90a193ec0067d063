// Margins a Plotly chart will need, worked out from its tick labels before it is drawn. Plotly's automargin makes
// room for the labels only once it has drawn them, and then draws the whole chart again, once per change (up to
// three times for a heatmap whose labels turn): on the study page that was a third of the charts' drawing time.
// Seeded with margins that already hold the labels, the first draw is the only one. automargin stays on, so a
// label this misjudges still gets its room (at the old cost of a redraw); the estimates err a few pixels wide.
//
// The constants are Plotly's geometry for the page's chart layout (charts.js chartLayout: 12 px tick labels, 14 px
// axis titles, no tick marks), read off drawn charts; canvas text widths equal the SVG ones Plotly measures.

const FONT_PX = 12;
const PAD = 2; // px on the wide side of every estimate
const LEFT_EXTRA = { linear: 30, category: 34 }; // left of the widest y label: its standoff, the title and gaps
const BELOW = { linear: 18, log: 24, heatmap: 23 }; // flat x labels under the plot (log axes add digits)
const TITLE_BELOW = 26; // the x title under the labels
const RIGHT_EXTRA = 12; // past a label that overhangs the plot on the right
const TURNED = Math.PI / 6; // Plotly turns overlapping x labels by 30°
const TURNED_DEPTH = 22; // under the plot, besides the turned labels' own drop

let context = null;

/** Width in px of `text` as a tick label. */
export function textWidth(text) {
  if (!context) {
    context = document.createElement("canvas").getContext("2d");
    const family = getComputedStyle(document.documentElement).getPropertyValue("--font-sans").trim();
    context.font = `${FONT_PX}px ${family || "sans-serif"}`;
  }
  return context.measureText(String(text)).width;
}

const widest = (labels) => Math.max(0, ...labels.map(textWidth));

/** The left margin for a y axis whose tick labels are `labels` (at least `min`). */
export function leftMargin(labels, { min = 0, category = false } = {}) {
  return Math.max(min, Math.ceil(widest(labels) + LEFT_EXTRA[category ? "category" : "linear"] + PAD));
}

/**
 * Bottom and right margins for an x axis of categories `labels` (one per slot) on a chart `width` px wide with left
 * margin `l`; `reserved`: room on the right that something else (a colour bar) takes. Flat labels when neighbours
 * do not overlap (Plotly's test, with its 2 px gap), else turned by 30° and hanging to the right. A heatmap's flat
 * labels sit 5 px lower than a scatter chart's.
 */
export function categoryMargins(labels, width, options = {}) {
  const { l = 0, reserved = 0, minBottom = 0, minRight = 0, heatmap = false } = options;
  if (!labels.length) return { b: minBottom, r: minRight };
  const widths = labels.map(textWidth);
  const last = widths[widths.length - 1];
  let margins = { b: minBottom, r: minRight };
  for (let i = 0; i < 2; i += 1) { // the right margin narrows the plot, which spaces the labels: settle it
    const spacing = (width - l - Math.max(margins.r, reserved)) / labels.length;
    const overlaps = widths.some((w, j) => j > 0 && (w + widths[j - 1]) / 2 + 2 > spacing);
    const [below, overhang] = overlaps
      ? [Math.max(...widths) * Math.sin(TURNED) + TURNED_DEPTH, last * Math.cos(TURNED) + 2 - spacing / 2]
      : [BELOW[heatmap ? "heatmap" : "linear"], last / 2 - spacing / 2];
    margins = {
      b: Math.max(minBottom, Math.ceil(below + TITLE_BELOW + PAD)),
      r: Math.max(minRight, overhang > 0 ? Math.ceil(overhang + RIGHT_EXTRA + PAD) : 0),
    };
  }
  return margins;
}

/** The bottom margin for a numeric x axis with a title (`log`: its digits between the decades). */
export const numericBottom = (log, min = 0) => Math.max(min, BELOW[log ? "log" : "linear"] + TITLE_BELOW + PAD);

/** Plotly's tick step for a linear axis of `span` over `lengthPx` (axes.js autoTicks: 1, 2 or 5 × 10^n). */
function tickStep(span, lengthPx, minPx) {
  const rough = span / (Math.min(9, Math.max(4, lengthPx / minPx)) + 1);
  const base = 10 ** Math.floor(Math.log10(rough));
  return base * [2, 5, 10].find((m) => m >= rough / base - 1e-9);
}

/** Plotly's label for a tick `value` at step `step` under the axis settings of catalog.js's plotlyAxis. */
function tickText(value, step, axis) {
  if (axis.tickformat === "~e") return value === 0 ? "0" : value.toExponential().replace("-", "\u2212");
  if (axis.tickformat === ".0%") { // with PERCENT_TICKS' stops: a decimal for each tenfold finer step
    const decimals = Math.max(0, Math.min(3, Math.ceil(-Math.log10(step * 100) - 1e-9)));
    return `${(value * 100).toFixed(decimals)}%`;
  }
  const decimals = Math.max(0, Math.ceil(-Math.log10(step) - 1e-9));
  const text = Math.abs(value) >= 1e4 ? `${+(value / 1e3).toFixed(decimals)}k` : value.toFixed(decimals);
  return value < 0 ? text.replace("-", "\u2212") : text;
}

/**
 * The tick labels Plotly will write on a linear y axis `lengthPx` long that autoranges over values from `lo` to
 * `hi` (lines: 5 % of the span added each side), formatted as `axis` (plotlyAxis) says.
 */
export function linearTickLabels(lo, hi, lengthPx, axis = {}) {
  if (!Number.isFinite(lo) || !Number.isFinite(hi) || lengthPx <= 0) return [];
  const pad = (hi - lo) * 0.05 || Math.abs(hi) * 0.05 || 1;
  const [from, to] = [lo - pad, hi + pad];
  const step = tickStep(to - from, lengthPx, 40);
  const labels = [];
  for (let k = Math.ceil(from / step); k * step <= to && labels.length < 50; k += 1) {
    labels.push(tickText(k === 0 ? 0 : Number((k * step).toPrecision(12)), step, axis));
  }
  return labels;
}
