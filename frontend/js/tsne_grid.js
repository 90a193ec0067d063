// The compare page's t-SNE maps: one card per run, wide enough to read, one class legend for all of them, every
// map aligned to the first run's (Procrustes on the test images they share), and the random-init maps on demand.

import { STATUS } from "./catalog.js";
import { h } from "./dom.js";
import { disposeChart } from "./charts.js";
import { MIN_SHARED, classLegend, drawTsneMap, mapElement, openMapDialog, procrustes, squareRange } from "./tsne.js";

/** A card's title on one line: the run's colour, name and id (a link) and the silhouette; the whole text is its
 * tooltip, since a long name ends in an ellipsis so the cards line up. */
function cardTitle(run, color, prefix, silhouette) {
  const name = `${run.name || "Run"} #${run.id}`;
  const score = typeof silhouette === "number" ? ` · silhouette ${silhouette.toFixed(3)}` : "";
  return h("h3", { class: "tsne-title", title: `${prefix}${name}${score}` },
    h("span", { class: "swatch", style: `background:${color}`, "aria-hidden": "true" }), " ",
    prefix, h("a", { href: `#/runs/${run.id}` }, name), h("span", { class: "muted" }, score));
}

/** Runs whose maps can be laid over each other: the same test set (dataset and data path) and classes. */
const sameTestSet = (a, b) => a.run.spec.dataset === b.run.spec.dataset
  && (a.run.spec.data_path || null) === (b.run.spec.data_path || null)
  && JSON.stringify(a.embedding.classes) === JSON.stringify(b.embedding.classes);

export class TsneGrid {
  /** `showRandom`: draw the random-init maps from the start; `onToggle`: called when the user switches them. */
  constructor({ showRandom = false, onToggle = () => {} } = {}) {
    this.showRandom = showRandom;
    this.divs = [];
    this.loaded = [];
    this.renderId = 0;
    this.cache = new Map(); // run id -> its embeddings.json, which does not change once the run succeeded
    this.randomToggle = h("input", {
      type: "checkbox",
      id: "tsne-random",
      "data-testid": "tsne-random-toggle",
      disabled: true,
      checked: showRandom,
      onChange: (event) => {
        this.showRandom = event.target.checked;
        onToggle(this.showRandom);
        this.draw();
      },
    });
    this.legendBox = h("div", { class: "tsne-legends" });
    this.note = h("p", { class: "muted tsne-align-note", "data-testid": "tsne-align-note", hidden: true });
    this.grid = h("div", { class: "tsne-grid-wide", "data-testid": "tsne-grid" });
    this.element = h(
      "section",
      { class: "tsne-section", "aria-labelledby": "tsne-heading" },
      h(
        "div",
        { class: "panel-head tsne-head" },
        h("h2", { class: "section-title", id: "tsne-heading" }, "t-SNE of test embeddings"),
        h(
          "span",
          { class: "checkbox-line" },
          this.randomToggle,
          h("label", { for: "tsne-random" }, "Show random-init maps"),
        ),
      ),
      this.legendBox,
      this.note,
      this.grid,
    );
  }

  /** Load every succeeded run's map (once: a re-render for new colours or statuses reuses it), then draw them
   * all (the alignment needs the first run's map first). */
  async render(runs, colorOf, loadEmbedding) {
    const renderId = ++this.renderId;
    this.colorOf = colorOf;
    this.clear();
    this.legendBox.replaceChildren();
    this.note.hidden = true;
    this.grid.replaceChildren(
      ...runs.map((run) =>
        h(
          "section",
          { class: "panel tsne-card", "data-run-id": run.id },
          cardTitle(run, colorOf(run.id), "", null),
          h(
            "p",
            { class: "muted chart-note" },
            run.status === STATUS.succeeded ? "Loading…" : `No t-SNE map: the run is ${run.status}.`,
          ),
        ),
      ),
    );
    const load = (id) => {
      if (!this.cache.has(id)) this.cache.set(id, loadEmbedding(id).catch((error) => {
        this.cache.delete(id);
        throw error;
      }));
      return this.cache.get(id);
    };
    const results = await Promise.all(runs.map((run) => (run.status !== STATUS.succeeded ? null
      : load(run.id).then((embedding) => ({ run, embedding }), (error) => ({ run, error })))));
    if (renderId !== this.renderId) return;
    this.runs = runs;
    this.loaded = results;
    const withRandom = results.some((result) => result && result.embedding && result.embedding.random_init);
    this.randomToggle.disabled = !withRandom;
    this.randomToggle.parentElement.title = withRandom ? ""
      : "None of these runs recorded a random-init map (random_baseline off, or a run from before such maps)";
    await this.draw();
  }

  /** The cards from the loaded maps: each aligned to the reference run's, on one shared square range. */
  async draw() {
    this.clear();
    const maps = this.loaded.filter((result) => result && result.embedding);
    const layouts = new Map(maps.map((result) => [result, this.aligned(result, maps[0])]));
    const shown = [...layouts.values()].flatMap((layout) => [
      layout.points,
      ...(this.showRandom && layout.random ? [layout.random] : []),
    ]);
    const range = squareRange(shown);
    this.renderLegends(maps);
    this.renderNote(maps[0], [...layouts.values()]);
    const draws = [];
    const cards = this.runs.flatMap((run, i) => {
      const result = this.loaded[i];
      const color = this.colorOf(run.id);
      if (!result || !result.embedding) {
        const why = !result ? `No t-SNE map: the run is ${run.status}.` : result.error.status === 404
          ? "No t-SNE map was recorded for this run." : `Could not load the t-SNE map: ${result.error.message}`;
        return [h("section", { class: "panel tsne-card", "data-run-id": run.id },
          cardTitle(run, color, "", null), h("p", { class: "muted chart-note" }, why))];
      }
      const { points, random, why } = layouts.get(result);
      const { classes, silhouette, random_init: randomInit } = result.embedding;
      const own = this.card(
        { run, color, prefix: "", silhouette, points, classes, range, why, testid: "compare-tsne" },
        draws,
      );
      if (!this.showRandom) return [own];
      return [
        own,
        randomInit
          ? this.card(
              {
                run,
                color,
                prefix: "Random init · ",
                silhouette: randomInit.silhouette,
                points: random,
                classes,
                range,
                why,
                testid: "compare-tsne-random",
              },
              draws,
            )
          : h(
              "section",
              { class: "panel tsne-card tsne-card-random", "data-run-id": run.id },
              cardTitle(run, color, "Random init · ", null),
              h(
                "p",
                { class: "muted chart-note" },
                "No random-init map was recorded for this run (random_baseline was off).",
              ),
            ),
      ];
    });
    this.grid.replaceChildren(...cards);
    await Promise.all(draws.map((draw) => draw()));
  }

  /** A result's points and random-init points laid over the reference's map, or as they are and why not. */
  aligned(result, reference) {
    const { embedding } = result;
    const target = reference.embedding.points || [];
    const comparable = sameTestSet(result, reference);
    const fitTo = (points) => (comparable && points ? procrustes(target, points) : null);
    const points = embedding.points || [];
    const random = embedding.random_init ? embedding.random_init.points || [] : null;
    const [fit, randomFit] = [fitTo(points), fitTo(random)];
    const why = fit ? null : comparable
      ? `Not aligned: shares fewer than ${MIN_SHARED} test images with run #${reference.run.id}'s map.`
      : `Not aligned: another test set than run #${reference.run.id}'s.`;
    return {
      points: fit ? points.map(fit.apply) : points,
      random: randomFit ? random.map(randomFit.apply) : random,
      why,
    };
  }

  /** A map's card; its drawing is queued on `draws`, to run once the cards are in the page (Plotly sizes to them). */
  card({ run, color, prefix, silhouette, points, classes, range, why, testid }, draws) {
    const title = cardTitle(run, color, prefix, silhouette);
    const label = title.getAttribute("title");
    const open = () => openMapDialog({ title: label, points, classes, range });
    const div = mapElement({ label, testid, open });
    div.dataset.runId = String(run.id);
    this.divs.push(div);
    draws.push(async () => {
      div.hidden = false;
      await drawTsneMap(div, points, classes, { range });
    });
    return h("section", { class: `panel tsne-card${prefix ? " tsne-card-random" : ""}`, "data-run-id": run.id },
      title, why ? h("p", { class: "muted chart-note", "data-testid": "tsne-not-aligned" }, why) : null, div);
  }

  /** One class legend for all maps; one per test set when the runs embed different ones. */
  renderLegends(maps) {
    const byClasses = new Map();
    for (const { run, embedding } of maps) {
      const key = JSON.stringify(embedding.classes || []);
      if (!byClasses.has(key)) byClasses.set(key, { classes: embedding.classes || [], datasets: new Set() });
      byClasses.get(key).datasets.add(run.spec.dataset);
    }
    const several = byClasses.size > 1;
    this.legendBox.replaceChildren(
      ...[...byClasses.values()].map(({ classes, datasets }) =>
        h(
          "div",
          { class: "tsne-legend-line" },
          h("span", { class: "muted" }, several ? `Classes (${[...datasets].join(", ")}):` : "Classes:"),
          classLegend(classes, { caption: several ? `Classes of ${[...datasets].join(", ")}` : "Classes" }),
        ),
      ),
    );
  }

  renderNote(reference, maps) {
    const aligned = maps.filter((map) => !map.why).length;
    this.note.hidden = !reference || maps.length < 2;
    if (!reference) return;
    this.note.textContent =
      aligned > 1
        ? `Maps aligned to run #${reference.run.id}'s ` +
          "(rotated or mirrored and scaled on the test images they share), " +
          "so a class sits in the same place in each. Click a map to enlarge it."
        : `Maps not aligned: no other run shares at least ${MIN_SHARED} test images with run #${reference.run.id}.`;
  }

  clear() {
    for (const div of this.divs) disposeChart(div);
    this.divs = [];
  }

  dispose() {
    this.renderId += 1;
    this.clear();
  }
}
