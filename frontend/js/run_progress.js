// The run page's progress: the overall bar, and under it the line that says where the run is: its phase
// (pretraining, features, probe, t-SNE, … from the catalogue) with that phase's own progress, the epoch and step,
// the speed in views/s and the time left; a queued run's place in the queue; the last training loss, kept once
// training is over.

import { h, setText, progressBar, updateProgressBar } from "./dom.js";
import { STATUS, catalog, isFinalStatus } from "./catalog.js";
import { formatDuration, formatInteger, formatNumber } from "./format.js";

const UNIT_WORDS = { image: "images", iteration: "iterations" };

/** 1 -> "1st", 2 -> "2nd", 11 -> "11th", 23 -> "23rd". */
export function ordinal(n) {
  const tens = n % 100;
  const suffix = tens >= 11 && tens <= 13 ? "th" : ({ 1: "st", 2: "nd", 3: "rd" }[n % 10] || "th");
  return `${n.toLocaleString()}${suffix}`;
}

const plural = (n, word) => `${n.toLocaleString()} ${word}${n === 1 ? "" : "s"}`;

/** The phase's catalogue entry ({label, unit, until}); a name the catalogue lacks reads as itself. */
function phaseInfo(name) {
  const phases = catalog().phases || {};
  return phases[name] || { label: String(name).replace(/_/g, " "), unit: null };
}

// "Pretraining", but "t-SNE" and "k-NN" stay as they are written.
const capitalised = (text) => (/^[a-z]-/.test(text) ? text : text.charAt(0).toUpperCase() + text.slice(1));

/** "about 3 m 20 s left" from what is left of a phase and its speed; "" when it cannot be told. */
function timeLeft(phase) {
  if (!phase.rate || phase.total == null) return "";
  const seconds = Math.max(0, phase.total - phase.done) / phase.rate;
  return seconds < 10 ? "a few seconds left" : `about ${formatDuration(seconds)} left`;
}

/** Where in the phase: "epoch 3 of 10 · step 1,200 of 4,000", "900 of 1,797 images", "34 of 500 iterations". */
function phaseDetail(phase, info, epochs) {
  if (phase.total == null || !info.unit) return "";
  const { done, total } = phase;
  if (info.unit === "step") {
    const perEpoch = epochs > 0 ? total / epochs : 0;
    const epoch = perEpoch ? Math.min(epochs, Math.floor(done / perEpoch) + 1) : null;
    const steps = `step ${formatInteger(done)} of ${formatInteger(total)}`;
    return epoch ? `epoch ${epoch} of ${epochs} · ${steps}` : steps;
  }
  if (info.unit === "epoch") return `epoch ${formatInteger(done)} of ${formatInteger(total)}`;
  return `${formatInteger(done)} of ${formatInteger(total)} ${UNIT_WORDS[info.unit] || info.unit}`;
}

export class RunProgress {
  constructor(run) {
    this.bar = progressBar(run.progress, { "data-testid": "run-progress", "aria-label": "Run progress" });
    this.percent = h("span", { class: "progress-text muted", "data-testid": "run-progress-text" });
    this.phaseName = h("strong", { class: "phase-name", "data-testid": "run-phase" });
    this.phaseBar = progressBar(0, {
      class: "progress phase-progress",
      "data-testid": "phase-progress",
      "aria-label": "Phase progress",
    });
    this.phaseDetail = h("span", { "data-testid": "phase-detail" });
    this.speed = h("span", { "data-testid": "run-speed" });
    this.eta = h("span", { "data-testid": "run-eta" });
    this.queue = h("span", { "data-testid": "queue-place" });
    this.loss = h("span", { "data-testid": "last-loss" });
    this.line = h("p", { class: "phase-line", "data-testid": "phase-line" },
      this.phaseName, this.phaseBar, this.phaseDetail, this.speed, this.eta, this.queue, this.loss);
    // Why a queued run has not started (GET /api/runs/{id}): no worker, none with enough devices, runs ahead.
    this.waiting = h("p", { class: "waiting-reason", "data-testid": "waiting-reason", hidden: true });
    this.element = h("div", { class: "run-progress", "data-testid": "run-progress-panel" },
      h("div", { class: "progress-line" }, this.bar, this.percent), this.line, this.waiting);
    this.run = run;
    this.queuePlace = null; // kept across the stream's status events, which do not carry it
    this.waitingReason = null; // likewise
    this.lastLoss = null; // the latest loss point: shown during evaluation and after the run
  }

  /** The run as the API or a status event has it. */
  update(run) {
    this.run = run;
    if (run.status !== STATUS.queued) this.queuePlace = this.waitingReason = null;
    else if (run.queue_position != null) {
      this.queuePlace = { position: run.queue_position, running: run.runs_running };
      this.waitingReason = run.waiting_reason || null;
    }
    this.render();
  }

  /** A live `progress` event: the overall progress and the phase, which change without a status event. */
  progress({ progress, phase }) {
    this.run = { ...this.run, progress, phase };
    this.render();
  }

  /** Every metric point passes here; the loss's latest stays on the line. */
  noteMetric(point) {
    if (point.name !== "loss" || !Number.isFinite(point.value)) return;
    if (this.lastLoss && point.step < this.lastLoss.step) return;
    this.lastLoss = point;
    this.renderLoss();
  }

  render() {
    const run = this.run;
    const finished = isFinalStatus(run.status);
    const progress = run.status === STATUS.succeeded ? 1 : Math.min(1, Math.max(0, Number(run.progress) || 0));
    updateProgressBar(this.bar, progress);
    const canceling = run.cancel_requested && !finished;
    setText(this.percent, `${Math.floor(progress * 100)} %${canceling ? " · cancel requested" : ""}`);

    const phase = run.status === STATUS.running || (finished && run.status !== STATUS.succeeded) ? run.phase : null;
    const info = phase ? phaseInfo(phase.name) : null;
    let name = "";
    if (run.status === STATUS.queued) name = "Queued";
    else if (phase) name = finished ? `Stopped during ${info.label}` : capitalised(info.label);
    else if (run.status === STATUS.running) name = "Starting";
    setText(this.phaseName, name);
    this.phaseName.hidden = !name;

    const live = phase && !finished;
    const measured = live && phase.total != null && phase.total > 0 && info.unit;
    this.phaseBar.hidden = !measured;
    if (measured) updateProgressBar(this.phaseBar, phase.done / phase.total);
    setText(this.phaseDetail, live ? phaseDetail(phase, info, Number(run.spec && run.spec.epochs) || 0) : "");
    const views =
      live && info.unit === "step" && phase.views_per_s ? `${formatInteger(phase.views_per_s)} views/s` : "";
    setText(this.speed, views);
    setText(this.eta, live ? timeLeft(phase) : "");
    setText(this.queue, run.status === STATUS.queued ? this.queueText() : "");
    for (const part of [this.phaseDetail, this.speed, this.eta, this.queue]) part.hidden = !part.textContent;
    const reason = run.status === STATUS.queued ? this.waitingReason : null;
    setText(this.waiting, reason ? `Waiting: ${reason}.` : "");
    this.waiting.hidden = !reason;
    this.renderLoss();
  }

  queueText() {
    const place = this.queuePlace;
    if (!place) return "waiting for a worker";
    const ahead = place.position - 1;
    const where =
      place.position === 1
        ? "next in the queue"
        : `${ordinal(place.position)} in the queue, ${plural(ahead, "run")} ahead of it`;
    const busy = place.running ? ` · ${plural(place.running, "run")} running` : "";
    return where + busy;
  }

  renderLoss() {
    const point = this.lastLoss;
    setText(this.loss, point ? `last loss ${formatNumber(point.value)} (step ${formatInteger(point.step)})` : "");
    this.loss.hidden = !point;
    const shown = [...this.line.children].filter((part) => !part.hidden);
    shown.forEach((part, i) =>
      part.classList.toggle(
        "after",
        i > 0 && !shown[i - 1].classList.contains("progress") && !part.classList.contains("progress"),
      ),
    );
    this.line.hidden = shown.length === 0;
  }
}
