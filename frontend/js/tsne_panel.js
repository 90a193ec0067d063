// The run page's t-SNE panel: the trained encoder's map and, beside it, the random-init encoder's map of the same
// test images (aligned to it), with one class legend; either map enlarges on a click or Enter.

import { h, setText } from "./dom.js";
import { disposeChart } from "./charts.js";
import { classLegend, drawTsneMap, mapElement, openMapDialog, procrustes, squareRange } from "./tsne.js";

const silhouetteText = (value) => (typeof value === "number" ? ` · silhouette ${value.toFixed(3)}` : "");

export class TsnePanel {
  constructor() {
    this.note = h(
      "p",
      { class: "muted chart-note", "data-testid": "tsne-note" },
      "The t-SNE map appears when the run has finished.",
    );
    this.legendBox = h("div", { class: "tsne-legends" });
    this.maps = h("div", { class: "tsne-pair", hidden: true });
    this.divs = [];
    this.element = h("section", { class: "panel", "data-testid": "tsne-panel" },
      h("h2", {}, "t-SNE of test embeddings"), this.note, this.legendBox, this.maps);
  }

  /** Say why there is no map (the run failed, was canceled, or the map could not be loaded). */
  explain(text) {
    setText(this.note, text);
    this.note.hidden = false;
  }

  /** Draw the run's embeddings.json: the trained map, and the random-init one when the run recorded it. */
  async show(embedding) {
    const classes = embedding.classes || [];
    const points = embedding.points || [];
    const random = embedding.random_init;
    const fit = random && procrustes(points, random.points || []);
    const randomPoints = random ? (fit ? random.points.map(fit.apply) : random.points || []) : null;
    const range = squareRange(randomPoints ? [points, randomPoints] : [points]);
    this.legendBox.replaceChildren(classLegend(classes));
    const trained = this.figure("Trained encoder", embedding.silhouette, points, classes, range, "tsne-chart");
    const figures = [trained];
    if (randomPoints) {
      figures.push(this.figure("Random init", random.silhouette, randomPoints, classes, range, "tsne-random-chart"));
    }
    this.maps.replaceChildren(...figures.map((figure) => figure.element));
    this.note.hidden = Boolean(randomPoints);
    if (!randomPoints)
      setText(
        this.note,
        "No random-init map: the run was recorded without random_baseline (or before random-init maps existed).",
      );
    this.maps.hidden = false;
    for (const [i, figure] of figures.entries()) {
      if (i) await new Promise(requestAnimationFrame); // a frame between the maps: two short tasks, not one long one
      await figure.draw();
    }
  }

  /** A titled map; its title names the encoder and its silhouette, on one line. */
  figure(name, silhouette, points, classes, range, testid) {
    const label = `${name}${silhouetteText(silhouette)}`;
    const div = mapElement({ label, testid, open: () => openMapDialog({ title: label, points, classes, range }) });
    div.hidden = false;
    this.divs.push(div);
    const element = h(
      "figure",
      { class: "tsne-figure" },
      h("figcaption", { class: "tsne-title", title: label }, label),
      div,
    );
    return { element, draw: () => drawTsneMap(div, points, classes, { range }) };
  }

  dispose() {
    for (const div of this.divs) disposeChart(div);
  }
}
