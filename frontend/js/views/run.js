// Run page: header, summary, live loss/accuracy charts, t-SNE map, artifacts, status log, spec.

import { api, ApiError } from "../api.js";
import { STATUS, choiceLabel, isFinalStatus, summaryMetrics } from "../catalog.js";
import { h, setText, statusBadge, updateStatusBadge } from "../dom.js";
import { formatDateTime, formatDuration, secondsBetween, DASH } from "../format.js";
import { MetricCharts } from "../run_charts.js";
import { notesPanel } from "../run_notes.js";
import { loadHistory, followEvents } from "../run_stream.js";
import { RunProgress } from "../run_progress.js";
import { SummaryPanel, StatusLog, specTable, artifactList, checkpointButton } from "../run_panels.js";
import { RunEvaluation } from "../run_evaluation.js";
import { lineageNodes } from "../run_lineage.js";
import { SystemCharts } from "../system_chart.js";
import { confirmDialog } from "../confirm.js";

const QUEUE_POLL_S = 3;
const logText = (entry) => (entry.kind === "status" ? `Status: ${entry.text}` : entry.text);

/** Mount the run page for `#/runs/<id>`; returns the cleanup (closes the stream, frees charts). */
export function mount(root, { params }) {
  const page = new RunPage(root, Number(params[0]));
  page.start();
  return () => page.dispose();
}

class RunPage {
  constructor(root, runId) {
    this.root = root;
    this.runId = runId;
    this.alive = true;
    this.controller = new AbortController();
    this.closeStream = null;
    this.seenMetrics = new Set();
    this.lastStatus = null;
    this.finalLoaded = false;
    this.clock = null;
    document.title = `Run #${runId} · ContrastLab`;
    root.append(h("p", { class: "muted" }, `Loading run #${runId}…`));
  }

  async start() {
    let run;
    try {
      run = await api.getRun(this.runId, this.controller.signal);
    } catch (err) {
      if (this.alive) this.showFatal(err);
      return;
    }
    if (!this.alive) return;
    this.build(run);
    this.update(run);
    this.loadLog();
    this.loadLineage(run);
    if (!isFinalStatus(run.status)) this.loadArtifacts(); // final runs load them with the t-SNE map
    api.runSpecSchema().then(
      (schema) => this.alive && this.specBox.replaceChildren(specTable(run.spec, schema)),
      () => {},
    );

    try {
      const { points, cursor } = await loadHistory(this.runId, this.controller.signal);
      if (!this.alive) return;
      for (const point of points) this.noteMetric(point);
      await this.charts.init(points);
      if (!this.alive) return;
      await this.system.init(points, run.started_at);
      if (!this.alive) return;
      if (isFinalStatus(run.status)) this.system.finished();
      if (isFinalStatus(run.status)) this.loadFinalPanels(run);
      else this.follow(cursor);
    } catch (err) {
      if (this.alive && err.name !== "AbortError")
        this.log.add("error", `Could not load metrics: ${err.message}`, new Date().toISOString());
    }
  }

  build(run) {
    this.badge = statusBadge(run.status, { "data-testid": "run-status" });
    this.title = h("h1", { "data-testid": "run-name" });
    this.subtitle = h("p", { class: "muted subtitle" });
    this.lineage = h("p", { class: "run-lineage muted", "data-testid": "run-lineage", hidden: true });
    this.connection = h("span", { class: "connection", "data-testid": "connection", hidden: true });
    this.cancelButton = h(
      "button",
      { type: "button", class: "button danger", "data-testid": "cancel-run", onClick: () => this.cancel() },
      "Cancel run",
    );
    this.downloadSlot = h("span", { class: "download-slot" });
    this.meta = h("dl", { class: "meta" });
    this.progress = new RunProgress(run);
    this.error = h("p", { class: "notice notice-error", role: "alert", "data-testid": "run-error", hidden: true });
    this.summary = new SummaryPanel();
    this.log = new StatusLog();
    this.lossDiv = h("div", { class: "chart", id: "loss-chart", "data-testid": "loss-chart" });
    this.accDiv = h("div", { class: "chart", id: "acc-chart", "data-testid": "acc-chart" });
    this.evaluation = new RunEvaluation(run.id);
    this.system = new SystemCharts();
    this.artifactsBox = h("div", {}, h("p", { class: "muted" }, "Loading…"));
    this.deleteButton = h(
      "button",
      { type: "button", class: "button", "data-testid": "delete-run", hidden: true, onClick: () => this.remove() },
      "Delete",
    );
    this.specBox = h("div", {}, specTable(run.spec, null));
    this.charts = new MetricCharts(this.lossDiv, this.accDiv, run.spec && run.spec.epochs, run.status);

    const panel = (title, testid, ...children) =>
      h("section", { class: "panel", "data-testid": testid }, h("h2", {}, title), ...children);
    this.root.replaceChildren(
      h("a", { class: "back", href: "#/" }, "← All runs"),
      h(
        "div",
        { class: "page-head run-head" },
        h(
          "div",
          { class: "title-block" },
          h("div", { class: "title-line" }, this.title, this.badge, this.connection),
          this.subtitle,
        ),
        h(
          "div",
          { class: "actions" },
          this.downloadSlot,
          this.cancelButton,
          this.deleteButton,
          h(
            "a",
            {
              class: "button",
              href: api.metricsCsvUrl(run.id),
              download: `run-${run.id}-metrics.csv`,
              "data-testid": "metrics-csv",
            },
            "Metrics CSV",
          ),
          h(
            "a",
            { class: "button", href: `#/new?from=${run.id}`, "data-testid": "clone-run" },
            "New run from these settings",
          ),
        ),
      ),
      this.progress.element,
      this.meta,
      this.lineage,
      this.error,
      this.summary.element,
      h(
        "div",
        { class: "grid-2" },
        panel("Loss", "loss-panel", this.lossDiv),
        panel("Accuracy", "acc-panel", this.accDiv),
      ),
      this.system.element,
      h(
        "div",
        { class: "grid-2 grid-wide-left" },
        this.evaluation.tsne.element,
        h(
          "div",
          { class: "stack" },
          panel("Linear probe: confusion matrix", "confusion-panel", this.evaluation.confusionNote,
            this.evaluation.confusionDiv),
          panel("Files", "artifacts-panel", this.artifactsBox),
          panel("Status log", "log-panel", this.log.element),
        ),
      ),
      notesPanel(run),
      h("details", { class: "panel spec-panel", open: true }, h("summary", {}, h("h2", {}, "Spec")), this.specBox),
    );
    this.ticks = 0;
    this.clock = setInterval(() => this.tick(), 1000);
  }

  /** Redraw everything that depends on the RunPublic object. */
  update(run) {
    this.lastRun = run;
    const spec = run.spec || {};
    setText(this.title, run.name || `Run #${run.id}`);
    document.title = `${run.name || `Run #${run.id}`} · ContrastLab`;
    const choice = (field) => (spec[field] == null ? DASH : choiceLabel(field, spec[field]));
    setText(
      this.subtitle,
      `#${run.id} · ${choice("method")} · ${choice("dataset")} · ${choice("encoder")} · ${spec.epochs ?? "?"} epochs`,
    );
    updateStatusBadge(this.badge, run.status);
    const finished = isFinalStatus(run.status);
    this.progress.update(run);
    this.cancelButton.hidden = finished;
    this.deleteButton.hidden = !finished;
    this.cancelButton.disabled = Boolean(run.cancel_requested);
    setText(this.cancelButton, run.cancel_requested ? "Canceling…" : "Cancel run");
    this.error.hidden = !run.error;
    setText(this.error, run.error ? `${run.status === STATUS.failed ? "Failed" : "Error"}: ${run.error}` : "");
    this.summary.update(run.summary);
    this.renderMeta(run);
    if (run.status !== this.lastStatus) {
      if (this.lastStatus !== null) {
        const time = finished ? run.finished_at : run.status === STATUS.running ? run.started_at : null;
        this.log.add(
          "status",
          `Status: ${run.status}${run.status === STATUS.running ? ` (attempt ${run.attempt})` : ""}`,
          time || new Date().toISOString(),
        );
      }
      this.lastStatus = run.status;
    }
  }

  /** The clock: the duration ticks; a queued run asks for its place in the queue every few seconds. */
  tick() {
    if (!this.lastRun) return;
    this.renderMeta(this.lastRun);
    this.ticks += 1;
    if (this.lastRun.status === STATUS.queued && this.ticks % QUEUE_POLL_S === 0) {
      api.getRun(this.runId, this.controller.signal).then((run) => {
        if (this.alive && this.lastRun.status === STATUS.queued && run.status === STATUS.queued) this.update(run);
      }, () => {});
    }
  }

  /** Which seed group or study the run belongs to, with links to its siblings (the same spec, other seeds). */
  async loadLineage(run) {
    try {
      const nodes = await lineageNodes(run, this.controller.signal);
      if (!this.alive || !nodes) return;
      this.lineage.replaceChildren(...nodes);
      this.lineage.hidden = false;
    } catch (err) {
      if (err.name !== "AbortError" && this.alive)
        this.log.add("error", `Could not load the run's group: ${err.message}`, new Date().toISOString());
    }
  }

  renderMeta(run) {
    const end = run.finished_at || (isFinalStatus(run.status) ? run.started_at : null);
    const items = [
      ["Attempt", String(run.attempt ?? DASH)],
      ["Created", formatDateTime(run.created_at)],
      ["Started", formatDateTime(run.started_at)],
      ["Finished", formatDateTime(run.finished_at)],
      ["Duration", run.started_at ? formatDuration(secondsBetween(run.started_at, end)) : DASH],
    ];
    const text = JSON.stringify(items);
    if (this.meta.dataset.text === text) return;
    this.meta.dataset.text = text;
    this.meta.replaceChildren(...items.map(([label, value]) => h("div", {}, h("dt", {}, label), h("dd", {}, value))));
  }

  /** The run's recorded status changes and phase messages; live ones follow over the stream. */
  async loadLog() {
    try {
      const { items } = await api.log(this.runId, 0, this.controller.signal);
      if (!this.alive) return;
      for (const entry of items) this.log.add(entry.kind, logText(entry), entry.time, entry.id);
    } catch (err) {
      if (this.alive && err.name !== "AbortError")
        this.log.add("error", `Could not load the log: ${err.message}`, new Date().toISOString());
    }
  }

  noteMetric(point) {
    if (this.seenMetrics.has(point.id)) return false;
    this.seenMetrics.add(point.id);
    this.progress.noteMetric(point);
    // Final metrics arrive as points before the run's summary does: show them at once.
    if (summaryMetrics().includes(point.name)) this.summary.update({ [point.name]: point.value });
    return true;
  }

  follow(cursor) {
    this.closeStream = followEvents(this.runId, cursor, {
      onMetric: (point) => {
        if (!this.noteMetric(point)) return;
        this.charts.add(point);
        this.system.add(point);
      },
      onStatus: (run) => this.update(run),
      onProgress: (progress) => this.progress.progress(progress),
      onLog: (entry) => this.log.add("log", entry.text, entry.time, entry.id),
      onEnd: (run) => {
        this.charts.flush();
        this.charts.ended(run.status);
        this.system.finished();
        this.update(run);
        this.loadFinalPanels(run);
      },
      onConnection: (state) => {
        this.connection.hidden = state === "closed";
        this.connection.className = `connection connection-${state}`;
        setText(this.connection, state === "live" ? "live" : "reconnecting…");
      },
    });
  }

  /** Artifacts always; the t-SNE map and the confusion matrix once the run succeeded (404 before). */
  loadFinalPanels(run) {
    if (this.finalLoaded) return;
    this.finalLoaded = true;
    this.loadArtifacts();
    this.evaluation.load(run, this.controller.signal);
  }

  async remove() {
    const run = this.lastRun;
    const ok = await confirmDialog({
      title: `Move run #${run.id} to the trash?`,
      body:
        `“${run.name || `Run ${run.id}`}” and its metrics, log and files (checkpoints included) ` +
        "stay in the trash, whole, until it is emptied: the runs list's Trash restores it.",
      confirmLabel: "Move to trash",
    });
    if (!ok || !this.alive) return;
    try {
      await api.deleteRun(run.id);
      location.hash = "#/";
    } catch (err) {
      if (this.alive) this.log.add("error", `Delete failed: ${err.message}`, new Date().toISOString());
    }
  }

  async loadArtifacts() {
    try {
      const { items } = await api.artifacts(this.runId, this.controller.signal);
      if (!this.alive) return;
      this.artifactsBox.replaceChildren(artifactList(items || []));
      this.downloadSlot.replaceChildren(checkpointButton(items || []) || "");
    } catch (err) {
      if (!this.alive || err.name === "AbortError") return;
      this.artifactsBox.replaceChildren(
        h("p", { class: "muted" }, err.status === 404 ? "No files." : `Could not list files: ${err.message}`),
      );
    }
  }

  async cancel() {
    this.cancelButton.disabled = true;
    try {
      const run = await api.cancelRun(this.runId);
      if (!this.alive) return;
      this.log.add(
        "status",
        run.status === STATUS.canceled ? "Canceled" : "Cancel requested",
        new Date().toISOString(),
      );
      this.update(run);
      if (isFinalStatus(run.status) && this.closeStream) {
        this.closeStream();
        this.loadFinalPanels(run);
      }
    } catch (err) {
      if (!this.alive) return;
      this.log.add(
        "error",
        err instanceof ApiError && err.status === 409
          ? "The run had already finished."
          : `Cancel failed: ${err.message}`,
        new Date().toISOString(),
      );
      api.getRun(this.runId).then((run) => this.alive && this.update(run), () => {});
      this.cancelButton.disabled = false;
    }
  }

  showFatal(err) {
    const notFound = err instanceof ApiError && err.status === 404;
    this.root.replaceChildren(
      h("a", { class: "back", href: "#/" }, "← All runs"),
      h("section", { class: "empty-state", "data-testid": "run-not-found" },
        h("h1", {}, notFound ? `Run #${this.runId} not found` : "Could not load this run"),
        h("p", {}, notFound ? "It may have been deleted, or the link is wrong." : err.message)));
  }

  dispose() {
    this.alive = false;
    this.controller.abort();
    clearInterval(this.clock);
    if (this.closeStream) this.closeStream();
    if (this.charts) this.charts.dispose();
    if (this.evaluation) this.evaluation.dispose();
    if (this.system) this.system.dispose();
  }
}
