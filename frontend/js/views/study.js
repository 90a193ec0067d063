// A study: `#/studies/<id>?metric=linear_acc&baseline=<cell key>` holds the whole view, so a link reopens it.
// Progress per cell, the results table (mean ± CI, verdict against the baseline), the metric against the axes,
// each cell's curves as mean ± band (one request, computed by the server). Polled every 2 s while a run is live.

import { ApiError } from "../api.js";
import { h, progressBar, setText } from "../dom.js";
import { STATUS, isFinalStatus, metricDirection, metricLabel, metricNames } from "../catalog.js";
import { RUN_COLORS } from "../compare_data.js";
import { studyApi } from "../study_api.js";
import { StudyCharts } from "../study_charts.js";
import { StudyCurves } from "../study_curves.js";
import { renderHead, renderMetricOptions } from "../study_head.js";
import { pairedChoices, pairedTable } from "../study_paired.js";
import { SearchPanel, searchSettled } from "../study_search.js";
import { axisValueText, resultsTable } from "../study_table.js";

const POLL_MS = 2000;
const MAX_COMPARE = 20; // the compare view's limit
const DEFAULT_METRIC = "linear_acc";

/** Mount the study page; returns the cleanup. */
export function mount(root, { params, query }) {
  const view = new StudyView(root, Number(params[0]), query);
  view.start();
  return () => view.dispose();
}

/** Metrics a study can judge: every catalogue metric with a better direction. */
const judgedMetrics = () => metricNames().filter((name) => metricDirection(name));

/** A hash query value that survives app.js's decodeURIComponent of the whole hash and then URLSearchParams. */
const hashValue = (value) => encodeURIComponent(/[&+%#]/.test(value) ? encodeURIComponent(value) : value);

/** Resolves once the DOM changed so far has been painted. */
const afterPaint = () => new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));

/** "3 succeeded without this metric", "1 failed": why some runs are left out of the statistics. */
const leftOut = (why, n) => `${n} ${why === "no_value" ? "succeeded without this metric" : why}`;

/** "method SimCLR (NT-Xent), optimizer adam": a cell in words. */
const cellLabel = (axes, cell) =>
  axes.map((field) => `${field} ${axisValueText(field, cell.values[field])}`).join(", ") || "all runs";

class StudyView {
  constructor(root, id, query) {
    this.root = root;
    this.id = id;
    const wanted = query.get("metric");
    this.metric = judgedMetrics().includes(wanted)
      ? wanted
      : judgedMetrics().includes(DEFAULT_METRIC)
        ? DEFAULT_METRIC
        : judgedMetrics()[0];
    this.baseline = query.get("baseline") || "";
    this.paired = query.get("paired") || "";
    this.alive = true;
    this.controller = new AbortController();
    this.study = null;
    this.stats = null;
    this.runsById = new Map();
    this.curvesBody = null; // GET /api/studies/{id}/curves
    this.timer = null;
    this.started = performance.now();
    document.title = `Study #${id} · ContrastLab`;
  }

  get signal() {
    return this.controller.signal;
  }

  async start() {
    this.build();
    // Every cell's curves in one request, sent with the others: it needs only the study's id and the chart width.
    const curves = this.loadCurves();
    curves.catch(() => {}); // aborted, or the study is gone: the study's own request says so
    try {
      await Promise.all([this.loadStudy(), this.loadRuns(), this.loadStats()]);
      if (!this.alive) return;
      if (this.study.search) await this.mountSearch(); // a search: its trials, and the confirmation apart
      this.renderHead();
      this.renderBaselineOptions();
      this.renderTable();
      await afterPaint(); // the table on screen before the charts take the main thread
      if (!this.alive) return;
      const drawn = [this.renderMetricCharts().then(() => {
        this.root.dataset.metricsAt = String(Math.round(performance.now()));
      })];
      await curves;
      if (!this.alive) return;
      drawn.push(this.renderCurves());
      await Promise.all(drawn);
      this.markPainted();
      this.schedulePoll();
    } catch (err) {
      if (!this.alive || err.name === "AbortError") return;
      if (err instanceof ApiError && err.status === 404) this.showMissing();
      else this.showNotice(`Could not load the study: ${err.message}`);
    }
  }

  build() {
    this.title = h("h1", {}, `Study #${this.id}`);
    this.subtitle = h("p", { class: "subtitle muted" });
    this.actions = h("div", { class: "actions" });
    this.notice = h("p", { class: "notice notice-error", role: "status", hidden: true });
    this.progress = progressBar(0, { "data-testid": "study-progress" });
    this.progressText = h("span", { class: "progress-text", "data-testid": "study-progress-text" }, "");
    this.metricSelect = h(
      "select",
      { id: "study-metric", "data-testid": "study-metric", onChange: (e) => this.setMetric(e.target.value) },
      judgedMetrics().map((name) => h("option", { value: name, selected: name === this.metric }, metricLabel(name))),
    );
    this.baselineSelect = h("select", {
      id: "study-baseline",
      "data-testid": "study-baseline",
      onChange: (e) => this.setBaseline(e.target.value),
    });
    this.pairedSelect = h("select", {
      id: "study-paired", "data-testid": "study-paired", onChange: (e) => this.setPaired(e.target.value),
    });
    this.pairedBox = h("section", { class: "panel stacked", "data-testid": "study-paired-results", hidden: true });
    this.excluded = h("p", { class: "muted chart-note", "data-testid": "study-excluded" });
    this.tableBox = h("div", { "data-testid": "study-results" }, h("p", { class: "muted" }, "Loading…"));
    this.metricCharts = h("div", { class: "grid-2 study-charts", "data-testid": "study-charts" });
    this.chartSet = new StudyCharts(this.metricCharts);
    this.curves = h("div", { class: "grid-2 compare-charts", "data-testid": "study-curves" });
    this.curveSet = new StudyCurves(this.curves);
    this.root.replaceChildren(
      h("a", { class: "back", href: "#/studies" }, "← All studies"),
      h("div", { class: "page-head run-head" }, h("div", {}, this.title, this.subtitle), this.actions),
      this.notice,
      h("div", { class: "progress-line" }, this.progress, this.progressText),
      h(
        "div",
        { class: "controls panel", role: "group", "aria-label": "What to judge" },
        h("label", { for: "study-metric" }, "Metric ", this.metricSelect),
        h("label", { for: "study-baseline" }, "Baseline ", this.baselineSelect),
        h("label", { for: "study-paired" }, "Paired with ", this.pairedSelect),
        h(
          "span",
          { class: "muted" },
          "Each cell against the baseline: Welch's t-test, Holm-corrected; P(better) compares single seeds.",
        ),
      ),
      this.pairedBox,
      h(
        "section",
        { class: "panel stacked" },
        h(
          "div",
          { class: "panel-head" },
          h("h2", {}, "Results"),
          h("span", { class: "muted" },
            "one row per cell · ± is the half-width of the 95 % interval · best marked when the verdicts say so"),
        ),
        this.tableBox,
        this.excluded,
      ),
      this.metricCharts,
      h("h2", { class: "section-title" }, "Curves per cell (mean ± std over seeds)"),
      this.curves,
    );
  }

  async mountSearch() {
    this.search = new SearchPanel((key) => this.study.cells.find((cell) => cell.key === key)?.values || null);
    this.root.querySelector(".progress-line").after(this.search.trialsBox, this.search.confirmBox);
    await this.search.load(this.id, this.signal);
  }

  showNotice(text) {
    this.notice.textContent = text;
    this.notice.hidden = !text;
  }

  showMissing() {
    this.root.replaceChildren(h("section", { class: "empty-state", "data-testid": "study-missing" },
      h("h1", {}, `Study #${this.id} does not exist`),
      h("p", {}, "It may have been deleted. ", h("a", { href: "#/studies" }, "All studies"))));
  }

  async loadStudy() {
    this.study = await studyApi.get(this.id, this.signal);
  }

  async loadRuns() {
    const page = await studyApi.runs(this.id, this.signal);
    this.runsById = new Map(page.items.map((run) => [run.id, run]));
  }

  async loadStats() {
    try {
      this.stats = await studyApi.stats(this.id, this.metric, this.baseline, this.signal, this.paired);
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 422 || !this.baseline) throw err;
      // A baseline from an old link that is no cell of the study: say so and fall back to the default.
      this.showNotice(`“${this.baseline}” is not a cell of this study; the default baseline is used.`);
      this.baseline = "";
      this.syncUrl();
      this.stats = await studyApi.stats(this.id, this.metric, "", this.signal, this.paired);
    }
  }

  /** Every cell's mean ± std curves, one bucket per two pixel columns of a curve chart; a failure is said, not
   * fatal. */
  async loadCurves() {
    const points = Math.min(1000, Math.max(100, Math.round(this.curveSet.width() / 2)));
    try {
      this.curvesBody = await studyApi.curves(this.id, { points, x: "step" }, this.signal);
      if (this.notice.textContent.startsWith("Could not load the curves")) this.showNotice("");
    } catch (err) {
      if (err.name === "AbortError" || (err instanceof ApiError && err.status === 404)) throw err;
      this.showNotice(`Could not load the curves: ${err.message}`);
    }
  }

  axes() {
    return Object.keys(this.study.axes || {});
  }

  colorOf(key) {
    const index = this.study.cells.findIndex((cell) => cell.key === key);
    return RUN_COLORS[Math.max(0, index) % RUN_COLORS.length];
  }

  /** Where a cell's row leads: its runs side by side (the compare view takes 2 to 20), or its one run. */
  linkOf(cell) {
    const ids = cell.runs.slice(0, MAX_COMPARE);
    return ids.length === 1 ? `#/runs/${ids[0]}` : `#/compare?runs=${ids.join(",")}`;
  }

  renderHead() {
    renderHead(this);
    renderMetricOptions(this, judgedMetrics());
  }

  renderBaselineOptions() {
    const axes = this.axes();
    const chosen = this.stats ? this.stats.baseline : this.baseline;
    this.baselineSelect.replaceChildren(...this.study.cells.map((cell) =>
      h("option", { value: cell.key, selected: cell.key === chosen }, cellLabel(axes, cell))));
  }

  renderPaired() {
    const choices = pairedChoices(this.metric);
    if (!choices.includes(this.paired)) this.paired = "";
    this.pairedSelect.replaceChildren(h("option", { value: "", selected: !this.paired }, "nothing"),
      ...choices.map((name) => h("option", { value: name, selected: name === this.paired }, metricLabel(name))));
    this.pairedSelect.disabled = !choices.length;
    const paired = this.stats?.paired;
    this.pairedBox.hidden = !paired;
    if (!paired) return;
    const byKey = new Map(this.study.cells.map((cell) => [cell.key, cell]));
    this.pairedBox.replaceChildren(
      h("div", { class: "panel-head" },
        h("h2", {}, `${metricLabel(paired.metric)} against ${metricLabel(paired.paired)}, run by run`),
        h("span", { class: "muted" }, "paired t-test (Holm) · bootstrap of the mean difference · Wilcoxon")),
      pairedTable(paired, (key) => (byKey.has(key) ? cellLabel(this.axes(), byKey.get(key)) : key)));
  }

  renderTable() {
    if (!this.stats) return;
    this.renderPaired();
    this.tableBox.replaceChildren(resultsTable({
      axes: this.axes(), cells: this.study.cells, stats: this.stats, runsById: this.runsById,
      colorOf: (key) => this.colorOf(key), linkOf: (cell) => this.linkOf(cell),
    }));
    const excluded = Object.entries(this.stats.excluded || {}).filter(([, n]) => typeof n === "number" && n > 0);
    setText(
      this.excluded,
      excluded.length
        ? `Left out of the statistics: ${excluded.map(([why, n]) => leftOut(why, n)).join(", ")}.`
        : "",
    );
    if (!this.root.dataset.tableAt) { // when the results table was first painted, for bench/study_paint.py
      requestAnimationFrame(() => { this.root.dataset.tableAt = String(Math.round(performance.now())); });
    }
  }

  async renderMetricCharts() {
    if (!this.stats) return;
    await this.chartSet.render({
      axes: this.axes(),
      axisOrders: this.study.axes,
      cells: this.stats.cells,
      metric: this.metric,
      colorOf: (key) => this.colorOf(key),
    });
  }

  async renderCurves() {
    if (!this.curvesBody) return;
    const axes = this.axes();
    const cells = this.study.cells.map((cell) => ({
      key: cell.key, label: `${cellLabel(axes, cell)} (${cell.runs.length} runs)`, color: this.colorOf(cell.key),
    }));
    const metrics = await this.curveSet.render({ body: this.curvesBody, cells });
    if (metrics.length) this.curves.querySelector(".empty-note")?.remove();
    else if (!this.curves.querySelector(".empty-note")) {
      this.curves.append(
        h("p", { class: "muted empty-note" }, "No curves recorded yet: they appear as the runs train."),
      );
    }
  }

  /** Time to first full paint (every chart drawn but the parallel coordinates, drawn on sight), for
   * bench/study_paint.py. */
  markPainted() {
    requestAnimationFrame(() => {
      this.root.dataset.paintMs = String(Math.round(performance.now() - this.started));
      this.root.dataset.paintAt = String(Math.round(performance.now()));
      this.root.dataset.painted = "true";
    });
  }

  syncUrl() {
    let search = `metric=${hashValue(this.metric)}`;
    if (this.baseline) search += `&baseline=${hashValue(this.baseline)}`;
    if (this.paired) search += `&paired=${hashValue(this.paired)}`;
    history.replaceState(null, "", `#/studies/${this.id}?${search}`);
  }

  async setMetric(metric) {
    this.metric = metric;
    if (!pairedChoices(metric).includes(this.paired)) this.paired = "";
    this.syncUrl();
    await this.refreshStats();
  }

  async setPaired(name) {
    this.paired = name;
    this.syncUrl();
    await this.refreshStats();
  }

  async setBaseline(key) {
    this.baseline = key;
    this.syncUrl();
    await this.refreshStats();
  }

  async refreshStats() {
    try {
      await this.loadStats();
      if (!this.alive) return;
      this.renderBaselineOptions();
      this.renderTable();
      await this.renderMetricCharts();
    } catch (err) {
      if (this.alive && err.name !== "AbortError") this.showNotice(`Could not compute the statistics: ${err.message}`);
    }
  }

  unfinished() {
    return this.study.run_ids.filter((id) => !isFinalStatus(this.runsById.get(id)?.status || STATUS.queued));
  }

  /** Every 2 s while a run is unfinished or a search has runs to start (the next trial, the confirmation). */
  schedulePoll() {
    if (!this.alive || (!this.unfinished().length && searchSettled(this.search?.view))) return;
    this.timer = setTimeout(() => this.poll(), POLL_MS);
  }

  async poll() {
    try {
      const curves = this.loadCurves();
      curves.catch(() => {});
      await Promise.all([this.loadStudy(), this.loadRuns(), this.loadStats(), this.search?.load(this.id, this.signal)]);
      if (!this.alive) return;
      this.renderHead();
      this.renderTable();
      const charts = this.renderMetricCharts();
      await curves;
      // Every run ended but the curves were read before the last of them did: read them once more, final.
      if (!this.unfinished().length && this.curvesBody && !this.curvesBody.finished) await this.loadCurves();
      if (!this.alive) return;
      await Promise.all([charts, this.renderCurves()]);
      if (this.notice.textContent.startsWith("Could not refresh")) this.showNotice("");
    } catch (err) {
      if (err.name === "AbortError" || !this.alive) return;
      this.showNotice(`Could not refresh the study: ${err.message}`);
    }
    this.schedulePoll();
  }

  refreshNow() {
    clearTimeout(this.timer);
    this.poll();
  }

  dispose() {
    this.alive = false;
    for (const key of ["painted", "paintMs", "paintAt", "metricsAt", "tableAt"]) delete this.root.dataset[key];
    this.controller.abort();
    clearTimeout(this.timer);
    this.chartSet.dispose();
    this.curveSet.dispose();
    this.search?.dispose();
  }
}
