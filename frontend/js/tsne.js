// t-SNE maps, shared by the run page and the compare page: one colour per class everywhere, one HTML class legend
// instead of one per map, maps of several runs aligned by orthogonal Procrustes, and a dialog that enlarges a map.

import { h } from "./dom.js";
import { COLORWAY, chartLayout, disposeChart, drawChart, fastScatterType } from "./charts.js";

/** Fewer shared test images than this and a map is drawn as it is: an alignment on so few would mean nothing. */
export const MIN_SHARED = 3;

/** A class's colour, the same in every map and legend: the chart palette, evenly spread hues past 10 classes. */
export function classColor(label, classCount) {
  if (classCount <= COLORWAY.length) return COLORWAY[label % COLORWAY.length];
  return `hsl(${Math.round((label * 360) / classCount)} 60% 55%)`;
}

/**
 * The similarity transform (rotation or reflection, uniform scale, shift) that lays `points` over `reference`,
 * fitted on the points of both with the same test `index` (t-SNE is only defined up to such a transform).
 * The rotation or reflection is orthogonal Procrustes' Q = U Vᵀ of the SVD of A = Σ r mᵀ (centred pairs), in its
 * 2×2 closed form: the best rotation scores σ1 + σ2 = |(a00 + a11, a10 − a01)| when det A ≥ 0, the best
 * reflection |(a00 − a11, a01 + a10)| otherwise; the larger of the two wins. The scale gives both the same RMS
 * extent, so a map that barely matches (a random encoder's) is not shrunk to a dot.
 * @returns {{apply: (p: {x: number, y: number}) => {x: number, y: number}, shared: number, reflected: boolean}|null}
 *   null when fewer than MIN_SHARED indices are shared
 */
export function procrustes(reference, points) {
  const byIndex = new Map(reference.map((p) => [p.index, p]));
  const pairs = points.filter((p) => byIndex.has(p.index)).map((p) => [p, byIndex.get(p.index)]);
  if (pairs.length < MIN_SHARED) return null;
  const mean = (pick) => pairs.reduce((sum, pair) => sum + pick(pair), 0) / pairs.length;
  const [mx, my, rx, ry] = [mean(([m]) => m.x), mean(([m]) => m.y), mean(([, r]) => r.x), mean(([, r]) => r.y)];
  let [a00, a01, a10, a11, movingSpread, referenceSpread] = [0, 0, 0, 0, 0, 0];
  for (const [m, r] of pairs) {
    const [px, py, qx, qy] = [m.x - mx, m.y - my, r.x - rx, r.y - ry];
    a00 += qx * px;
    a01 += qx * py;
    a10 += qy * px;
    a11 += qy * py;
    movingSpread += px * px + py * py;
    referenceSpread += qx * qx + qy * qy;
  }
  const rotation = Math.hypot(a00 + a11, a10 - a01);
  const reflection = Math.hypot(a00 - a11, a01 + a10);
  const reflected = reflection > rotation;
  const angle = reflected ? Math.atan2(a01 + a10, a00 - a11) : Math.atan2(a10 - a01, a00 + a11);
  const [c, s] = [Math.cos(angle), Math.sin(angle)];
  // Rotation [[c, −s], [s, c]]; reflection [[c, s], [s, −c]].
  const q = reflected ? [c, s, s, -c] : [c, -s, s, c];
  const scale = movingSpread > 0 ? Math.sqrt(referenceSpread / movingSpread) : 1;
  const apply = (p) => {
    const [px, py] = [p.x - mx, p.y - my];
    return { ...p, x: rx + scale * (q[0] * px + q[1] * py), y: ry + scale * (q[2] * px + q[3] * py) };
  };
  return { apply, shared: pairs.length, reflected };
}

/** Root-mean-square distance between the points of two maps with the same test index (NaN when none). */
export function rmsDistance(reference, points) {
  const byIndex = new Map(reference.map((p) => [p.index, p]));
  const pairs = points.filter((p) => byIndex.has(p.index));
  const sum = pairs.reduce(
    (total, p) => total + (p.x - byIndex.get(p.index).x) ** 2 + (p.y - byIndex.get(p.index).y) ** 2,
    0,
  );
  return Math.sqrt(sum / pairs.length);
}

/** One square range for several maps, so aligned maps put the same place at the same spot of each card. */
export function squareRange(pointSets) {
  const all = pointSets.flat();
  if (!all.length) return null;
  const xs = all.map((p) => p.x);
  const ys = all.map((p) => p.y);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const half = (Math.max(x1 - x0, y1 - y0) / 2) * 1.06 || 1;
  const [cx, cy] = [(x0 + x1) / 2, (y0 + y1) / 2];
  return { x: [cx - half, cx + half], y: [cy - half, cy + half] };
}

/** The class legend shown once for a set of maps: a swatch and a name per class. */
export function classLegend(classes, { caption = "Classes", testid = "tsne-legend" } = {}) {
  return h(
    "ul",
    { class: "tsne-legend", "data-testid": testid, "aria-label": caption },
    classes.map((name, label) =>
      h(
        "li",
        {},
        h("span", { class: "swatch", style: `background:${classColor(label, classes.length)}`, "aria-hidden": "true" }),
        name,
      ),
    ),
  );
}

/**
 * Draw a map: one trace per class, coloured by classColor. `range`: a shared squareRange (else the map's own);
 * `large`: the enlarged map of the dialog (WebGL when available, bigger markers, zoom by dragging); the small
 * maps are SVG (a page holds only ~16 WebGL contexts) and do not zoom, so a click opens the dialog.
 */
export async function drawTsneMap(div, points, classes, { range = null, large = false } = {}) {
  const byLabel = new Map();
  for (const point of points) {
    if (!byLabel.has(point.label)) byLabel.set(point.label, { x: [], y: [], index: [] });
    const group = byLabel.get(point.label);
    group.x.push(point.x);
    group.y.push(point.y);
    group.index.push(point.index);
  }
  const type = large ? fastScatterType() : "scatter";
  const traces = [...byLabel.keys()].sort((a, b) => a - b).map((label) => {
    const name = classes[label] ?? String(label);
    const group = byLabel.get(label);
    return {
      name, type, mode: "markers", x: group.x, y: group.y, customdata: group.index,
      marker: { size: large ? 7 : 5, opacity: 0.85, color: classColor(label, classes.length) },
      hovertemplate: `class ${name}<br>test image %{customdata}<extra></extra>`,
    };
  });
  const own = range || squareRange([points]) || {};
  const axis = {
    showticklabels: false,
    showgrid: false,
    zeroline: false,
    showline: false,
    ticks: "",
    title: { text: "" },
  };
  await drawChart(div, traces, chartLayout({
    showlegend: false,
    xaxis: { ...axis, range: own.x, automargin: false },
    yaxis: { ...axis, range: own.y, automargin: false, scaleanchor: "x" },
    margin: { l: 4, r: 4, t: 4, b: 4 },
    dragmode: large ? "zoom" : false,
    uirevision: null,
  }));
}

/**
 * A map's element: focusable, and a click or Enter opens it enlarged in a dialog (Esc closes). Draw into it with
 * drawTsneMap; `open()` is called when the user asks for the large view.
 */
export function mapElement({ label, testid, open }) {
  const div = h("div", { class: "tsne-map", "data-testid": testid, tabindex: "0", role: "button",
    "aria-label": `${label}: t-SNE map, press Enter to enlarge`, title: "Click to enlarge", hidden: true });
  div.addEventListener("click", open);
  div.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" && event.key !== " ") return;
    event.preventDefault();
    open();
  });
  return div;
}

/** The enlarged map in a modal <dialog> with the class legend; Esc or Close ends it and gives focus back. */
export function openMapDialog({ title, points, classes, range }) {
  const opener = document.activeElement;
  const map = h("div", { class: "tsne-dialog-map", "data-testid": "tsne-dialog-map" });
  const close = h("button", { type: "button", class: "button", "data-testid": "tsne-dialog-close" }, "Close");
  const dialog = h("dialog", { class: "tsne-dialog", "data-testid": "tsne-dialog", "aria-label": title },
    h("div", { class: "tsne-dialog-head" }, h("h2", { title }, title), close),
    classLegend(classes, { testid: "tsne-dialog-legend" }),
    map);
  close.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => {
    disposeChart(map);
    dialog.remove();
    if (opener && opener.isConnected) opener.focus();
  });
  document.body.append(dialog);
  dialog.showModal();
  close.focus();
  return drawTsneMap(map, points, classes, { range, large: true });
}
