// Compare: 2–20 runs side by side. `#/compare?runs=1,2,3&x=step&smooth=0.6&groups=1&hide=r3&random=1` holds the
// whole view (hide: the runs `r<id>` and seed groups `g<id>` hidden with the legend; random: the random-init t-SNE
// maps shown), so a link reopens the same comparison. Curves come downsampled to the charts' width.

import { api } from "../api.js";
import { isFinalStatus } from "../catalog.js";
import { h, setText } from "../dom.js";
import { parseIds } from "../format.js";
import { RUN_COLORS, chartEntities } from "../compare_data.js";
import { CompareCharts, chartMetrics } from "../compare_charts.js";
import { finalMetricsTable, specDiffTable } from "../compare_tables.js";
import { TsneGrid } from "../tsne_grid.js";

const MAX_RUNS = 20;
const POLL_MS = 4000;
const X_AXES = [["step", "Step"], ["epoch", "Epoch"], ["time", "Wall time"]];

/** Mount the compare view; returns the cleanup. */
export function mount(root, { query }) {
  const view = new CompareView(root, query);
  view.start();
  return () => view.dispose();
}

class CompareView {
  constructor(root, query) {
    this.root = root;
    this.ids = parseIds(query.get("runs"));
    this.xAxis = X_AXES.some(([key]) => key === query.get("x")) ? query.get("x") : "step";
    this.smoothing = Math.min(0.99, Math.max(0, Number(query.get("smooth") ?? 0.6) || 0));
    this.aggregate = query.get("groups") !== "0";
    this.hidden = new Set((query.get("hide") || "").split(",").filter((key) => /^[rg]\d+$/.test(key)));
    this.alive = true;
    this.controller = new AbortController();
    this.runs = [];
    this.colorSource = new Map();
    this.specProps = {};
    this.seriesByRun = new Map();
    this.timer = null;
    this.tsne = new TsneGrid({ showRandom: query.get("random") === "1", onToggle: () => this.syncUrl() });
    this.started = performance.now();
    document.title = "Compare · ContrastLab";
  }

  /** A run's colour: its seed group's (the group's first run's) while groups are drawn as one, as the curves do. */
  colorOf(runId) {
    const id = (this.aggregate && this.colorSource.get(runId)) || runId;
    const index = this.ids.indexOf(id);
    return RUN_COLORS[(index < 0 ? 0 : index) % RUN_COLORS.length];
  }

  /** Each run of a seed group with two or more runs here -> the group's first run (whose colour it takes). */
  groupColors() {
    this.colorSource = new Map();
    for (const entity of chartEntities(this.runs, (id) => id, true)) {
      for (const run of entity.runs) this.colorSource.set(run.id, entity.runs[0].id);
    }
  }

  async start() {
    if (this.ids.length < 2 || this.ids.length > MAX_RUNS) {
      this.root.replaceChildren(h("section", { class: "empty-state", "data-testid": "compare-empty" },
        h("h1", {}, "Pick 2 to 20 runs to compare"),
        h("p", {}, "Tick their boxes in the ", h("a", { href: "#/" }, "runs list"), " and press Compare.")));
      return;
    }
    this.build();
    try {
      await this.loadRuns();
      if (!this.alive) return;
      this.renderTables();
      await this.loadSeries();
      if (!this.alive) return;
      await this.renderCharts();
      this.markPainted();
      this.renderTsne();
      this.schedulePoll();
    } catch (err) {
      if (this.alive && err.name !== "AbortError") this.showNotice(`Could not load the comparison: ${err.message}`);
    }
  }

  build() {
    this.notice = h("p", { class: "notice notice-error", role: "status", hidden: true });
    this.legend = h("ul", {
      class: "legend",
      "data-testid": "compare-legend",
      "aria-label": "Runs (press to hide or show)",
    });
    this.charts = h("div", { class: "grid-2 compare-charts", "data-testid": "compare-charts" });
    this.chartSet = new CompareCharts(this.charts);
    this.specBox = h("div", {});
    this.finalBox = h("div", {});
    this.allFields = h("input", { type: "checkbox", id: "spec-all", onChange: () => this.renderTables() });
    const smoothValue = h("output", { for: "smoothing", class: "mono" }, this.smoothing.toFixed(2));
    const slider = h("input", {
      type: "range",
      id: "smoothing",
      min: "0",
      max: "0.99",
      step: "0.01",
      value: String(this.smoothing),
      "data-testid": "smoothing",
    });
    slider.addEventListener("input", () => {
      this.smoothing = Number(slider.value);
      setText(smoothValue, this.smoothing.toFixed(2));
      this.syncUrl();
      this.renderCharts();
    });
    const xSelect = h(
      "select",
      { id: "x-axis", "data-testid": "x-axis", onChange: (e) => this.setXAxis(e.target.value) },
      X_AXES.map(([key, label]) => h("option", { value: key, selected: key === this.xAxis }, label)),
    );
    const groups = h("input", {
      type: "checkbox",
      id: "aggregate",
      checked: this.aggregate,
      "data-testid": "aggregate",
      onChange: (e) => {
        this.aggregate = e.target.checked;
        this.syncUrl();
        this.renderLegend();
        this.renderCharts();
        this.renderTables();
        this.renderTsne();
      },
    });
    this.copyButton = h(
      "button",
      { type: "button", class: "button", "data-testid": "copy-link", onClick: () => this.copyLink() },
      "Copy link",
    );
    this.root.replaceChildren(
      h("a", { class: "back", href: "#/" }, "← All runs"),
      h("div", { class: "page-head" }, h("h1", {}, `Compare ${this.ids.length} runs`), this.copyButton),
      this.notice,
      h(
        "div",
        { class: "controls panel", role: "group", "aria-label": "Chart options" },
        h("label", { for: "smoothing" }, "Smoothing ", slider, " ", smoothValue),
        h("label", { for: "x-axis" }, "x axis ", xSelect),
        h("span", { class: "checkbox-line" }, groups, h("label", { for: "aggregate" }, "Seed groups as mean ± std")),
      ),
      this.legend,
      this.charts,
      h(
        "section",
        { class: "panel stacked" },
        h("h2", {}, "Final metrics ", h("span", { class: "muted" }, "(best in bold)")),
        this.finalBox,
      ),
      h(
        "section",
        { class: "panel stacked" },
        h(
          "div",
          { class: "panel-head" },
          h("h2", {}, "Spec differences"),
          h("span", { class: "checkbox-line" }, this.allFields, h("label", { for: "spec-all" }, "Show all fields")),
        ),
        this.specBox,
      ),
      this.tsne.element,
    );
  }

  syncUrl() {
    const params = new URLSearchParams({ runs: this.ids.join(","), x: this.xAxis, smooth: String(this.smoothing) });
    if (!this.aggregate) params.set("groups", "0");
    if (this.hidden.size) params.set("hide", [...this.hidden].join(","));
    if (this.tsne.showRandom) params.set("random", "1");
    history.replaceState(null, "", `#/compare?${params.toString().replace(/%2C/g, ",")}`);
  }

  async copyLink() {
    try {
      await navigator.clipboard.writeText(location.href);
      setText(this.copyButton, "Link copied");
    } catch {
      setText(this.copyButton, "Copy the address bar");
    }
    setTimeout(() => this.alive && setText(this.copyButton, "Copy link"), 2000);
  }

  showNotice(text) {
    this.notice.textContent = text;
    this.notice.hidden = !text;
  }

  async loadRuns() {
    const [page, schema] = await Promise.all([
      api.listRuns({ ids: this.ids, limit: MAX_RUNS, sort: "id", order: "asc" }, this.controller.signal),
      api.runSpecSchema().catch(() => ({})), // without it every field counts as applying
    ]);
    this.specProps = schema.properties || {};
    const byId = new Map(page.items.map((run) => [run.id, run]));
    this.runs = this.ids.filter((id) => byId.has(id)).map((id) => byId.get(id));
    const missing = this.ids.filter((id) => !byId.has(id));
    this.showNotice(missing.length ? `Not found (deleted?): ${missing.map((id) => `#${id}`).join(", ")}` : "");
    this.groupColors();
    this.renderLegend();
  }

  async loadSeries() {
    const points = Math.min(8000, Math.max(200, Math.round(this.chartSet.width() * 2)));
    const results = await Promise.all(this.runs.map((run) =>
      api.series(run.id, { x: this.xAxis, points }, this.controller.signal).catch((err) => {
        if (err.name === "AbortError") throw err;
        return { series: {} };
      })));
    this.runs.forEach((run, i) => this.seriesByRun.set(run.id, results[i].series || {}));
  }

  entities() {
    return chartEntities(this.runs, (id) => this.colorOf(id), this.aggregate);
  }

  renderLegend() {
    this.legend.replaceChildren(...this.entities().map((entity) => {
      const pressed = !this.hidden.has(entity.key);
      return h(
        "li",
        {},
        h(
          "button",
          {
            type: "button",
            class: "legend-item",
            "aria-pressed": String(pressed),
            "data-key": entity.key,
            onClick: () => {
              if (this.hidden.has(entity.key)) this.hidden.delete(entity.key);
              else this.hidden.add(entity.key);
              this.syncUrl();
              this.renderLegend();
              this.renderCharts();
            },
          },
          h("span", { class: "swatch", style: `background:${entity.color}`, "aria-hidden": "true" }),
          entity.label,
        ),
      );
    }));
  }

  async renderCharts() {
    const metrics = chartMetrics(this.seriesByRun);
    if (!metrics.length) {
      this.charts.replaceChildren(
        h("p", { class: "muted empty-note" }, "No metric points recorded yet for these runs."),
      );
      return;
    }
    this.charts.querySelector(".empty-note")?.remove();
    await this.chartSet.render({ metrics, entities: this.entities(), seriesByRun: this.seriesByRun,
      smoothing: this.smoothing, xAxis: this.xAxis, hidden: this.hidden });
  }

  /** Time to first full paint, for bench/dashboard_paint.py. */
  markPainted() {
    requestAnimationFrame(() => {
      this.root.dataset.paintMs = String(Math.round(performance.now() - this.started));
      this.root.dataset.paintAt = String(Math.round(performance.now())); // since navigation start
      this.root.dataset.painted = "true";
    });
  }

  renderTables() {
    const colorOf = (id) => this.colorOf(id);
    this.specBox.replaceChildren(specDiffTable(this.runs, colorOf, this.allFields.checked, this.specProps));
    this.finalBox.replaceChildren(finalMetricsTable(this.runs, colorOf));
  }

  renderTsne() {
    this.tsne.render(this.runs, (id) => this.colorOf(id), (id) => api.embeddings(id, this.controller.signal));
  }

  async setXAxis(value) {
    this.xAxis = value;
    this.syncUrl();
    await this.loadSeries();
    if (this.alive) await this.renderCharts();
  }

  /** While some run is still going, refresh its status and curves. */
  schedulePoll() {
    if (!this.alive || this.runs.every((run) => isFinalStatus(run.status))) return;
    this.timer = setTimeout(async () => {
      try {
        const before = new Map(this.runs.map((run) => [run.id, run.status]));
        await this.loadRuns();
        await this.loadSeries();
        if (!this.alive) return;
        this.renderTables();
        await this.renderCharts();
        if (this.runs.some((run) => before.get(run.id) !== run.status)) this.renderTsne();
      } catch (err) {
        if (err.name === "AbortError") return;
      }
      this.schedulePoll();
    }, POLL_MS);
  }

  dispose() {
    this.alive = false;
    delete this.root.dataset.painted;
    delete this.root.dataset.paintMs;
    delete this.root.dataset.paintAt;
    this.controller.abort();
    clearTimeout(this.timer);
    if (this.chartSet) this.chartSet.dispose();
    this.tsne.dispose();
  }
}
