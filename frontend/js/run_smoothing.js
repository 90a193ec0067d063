// Smoothing on the run page, as on the compare page: the catalogue's noisy metrics (the loss) drawn raw and faint
// behind their debiased exponential moving average, with the same 0–0.99 slider.

import { h, setText } from "./dom.js";
import { ema } from "./compare_data.js";

export const DEFAULT_SMOOTHING = 0.6;

/** The slider: 0 is the raw curve, 0.99 very smooth; `onChange(weight)` on each move. */
export function smoothingControl(weight, onChange) {
  const value = h("output", { for: "run-smoothing", class: "mono" }, weight.toFixed(2));
  const slider = h("input", { type: "range", id: "run-smoothing", min: "0", max: "0.99", step: "0.01",
    value: String(weight), "data-testid": "run-smoothing" });
  slider.addEventListener("input", () => {
    setText(value, Number(slider.value).toFixed(2));
    onChange(Number(slider.value));
  });
  return h("label", { class: "chart-tool smoothing-tool", for: "run-smoothing" }, "Smoothing ", slider, " ", value);
}

/** compare_data.ema one point at a time, for points that stream in: `next(y)` is the smoothed value at y. */
export class Smoother {
  constructor(weight) {
    this.weight = weight;
    this.last = 0;
    this.steps = 0;
  }

  next(y) {
    if (!(this.weight > 0)) return y;
    if (y === null || !Number.isFinite(y)) return null;
    this.last = this.last * this.weight + (1 - this.weight) * y;
    this.steps += 1;
    return this.last / (1 - this.weight ** this.steps);
  }

  /** A smoother that has seen `ys`, and their smoothed values. */
  static over(ys, weight) {
    const smoother = new Smoother(weight);
    const smoothed = ys.map((y) => smoother.next(y));
    return { smoother, smoothed };
  }
}

export { ema };
