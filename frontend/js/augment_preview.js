// The new-run form's augmentation preview: POST /api/preview/augmentations with the form's spec, shown beside the
// augmentation fields and drawn again (debounced) as the fields it depends on change. The preview consumer beside
// the workers draws it, while they train, with the engine's own augment code, so it shows what training would feed
// the encoder.

import { api } from "./api.js";
import { h } from "./dom.js";

const DEBOUNCE_MS = 400;
const IMAGES = 8;
const VIEWS = 2;
/** Besides the augmentation group: the fields that change which images or which draws the preview shows. */
const ALSO_WATCHED = ["dataset", "data_path", "image_size", "seed"];

export class AugmentPreview {
  /**
   * @param {() => object} readSpec the form's current spec
   * @param {string[]} watched names of the fields whose change redraws the preview
   */
  constructor(readSpec, watched) {
    this.readSpec = readSpec;
    this.watched = new Set([...watched, ...ALSO_WATCHED]);
    this.timer = null;
    this.controller = null;
    this.url = null;
    this.drawn = ""; // the spec (as JSON) of the image on show, so an unchanged form is not drawn twice
    this.image = h("img", { class: "augment-preview-image", "data-testid": "augment-preview-image", hidden: true,
      alt: "" });
    this.status = h("p", { class: "muted augment-preview-status", role: "status", "aria-live": "polite",
      "data-testid": "augment-preview-status" }, "Open this section to see the views.");
    this.element = h("figure", { class: "augment-preview", "data-testid": "augment-preview" },
      this.image,
      h("figcaption", {}, h("strong", {}, "Preview"),
        ` · ${IMAGES} training images (left) and ${VIEWS} views of each, `,
        "drawn by a worker as training draws them (the spec's seed)."),
      this.status);
  }

  /** Redraw soon when `name` (a field) changed; calls within DEBOUNCE_MS make one request. */
  changed(name) {
    if (name === undefined || this.watched.has(name)) this.schedule();
  }

  schedule() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.draw(), DEBOUNCE_MS);
  }

  async draw() {
    const spec = this.readSpec();
    const key = JSON.stringify(spec);
    if (key === this.drawn) return;
    if (this.controller) this.controller.abort(); // only the latest form state counts
    const controller = new AbortController();
    this.controller = controller;
    this.element.setAttribute("aria-busy", "true");
    this.element.classList.add("loading");
    this.status.classList.remove("field-error");
    this.status.textContent = "Drawing the views…";
    try {
      const blob = await api.previewAugmentations({ spec, images: IMAGES, views: VIEWS }, controller.signal);
      if (controller.signal.aborted) return;
      if (this.url) URL.revokeObjectURL(this.url);
      this.url = URL.createObjectURL(blob);
      this.image.src = this.url;
      this.image.alt = describe(spec);
      this.image.hidden = false;
      this.drawn = key;
      this.status.textContent = "";
    } catch (err) {
      if (err && err.name === "AbortError") return;
      this.drawn = "";
      this.status.classList.add("field-error");
      this.status.textContent = `No preview: ${err.message || err}`;
    } finally {
      if (this.controller === controller) {
        this.controller = null;
        this.element.removeAttribute("aria-busy");
        this.element.classList.remove("loading");
      }
    }
  }

  /** Stop a pending draw and free the image (the form is gone). */
  close() {
    clearTimeout(this.timer);
    if (this.controller) this.controller.abort();
    if (this.url) URL.revokeObjectURL(this.url);
  }
}

/** The image's alt text: what the grid shows, with the augmentation it was drawn with. */
export function describe(spec) {
  const what = `${IMAGES} ${spec.dataset} training images, each followed by ${VIEWS} augmented views`;
  if (spec.augment === false) return `${what}; augmentation is off, so the views are the images`;
  const parts = [`crop ${spec.crop_scale_min}–${spec.crop_scale_max} of the area`, `flip ${spec.flip_prob}`,
    `jitter ${spec.jitter_strength} (p ${spec.jitter_prob})`, `grey p ${spec.grayscale_prob}`,
    `blur p ${spec.blur_prob}`];
  return `${what} (${parts.join(", ")}, seed ${spec.seed})`;
}
