// The compare view's tables: the spec fields that differ, final metrics with the best marked.

import { h } from "./dom.js";
import { formatValue, DASH } from "./format.js";
import { bestIndex, bySeedGroup, summarize } from "./compare_data.js";
import { appliesTo, appliesToSpec } from "./schema_form.js";
import {
  formatMetric, formatMetricSpread, isBaseline, metricDirection, metricInfo, metricLabel, summaryMetrics, unitText,
} from "./catalog.js";

/** A colour dot and the run's name, linking to its page. */
export function runLabel(run, color) {
  return h(
    "a",
    { href: `#/runs/${run.id}`, class: "run-label" },
    h("span", { class: "swatch", style: `background:${color}`, "aria-hidden": "true" }),
    `${run.name || "Run"} #${run.id}`,
  );
}

/** A spec value as the diff compares it: null, undefined and "" all mean "not set". */
const comparable = (value) => JSON.stringify(value === undefined || value === "" ? null : value);

/** Why a field does not apply to a spec, from its schema tags: "applies to method simclr, supcon only". */
function notApplyingText(prop, spec) {
  const misses = Object.entries(appliesTo(prop || {})).filter(
    ([controller, choices]) => !choices.includes(spec[controller]),
  );
  return misses.map(([controller, choices]) => `applies to ${controller} ${choices.join(", ")} only`).join("; ");
}

/**
 * The spec diff's rows: each field with, per run, its value or null where the field does not apply to that run
 * (the schema's method, dataset, optimizer and schedule tags), and whether the values that apply differ.
 * @returns {{key: string, cells: ({value: any}|null)[], differs: boolean}[]}
 */
export function specDiffRows(specs, props = {}) {
  const keys = [...new Set(specs.flatMap((spec) => Object.keys(spec)))];
  return keys.map((key) => {
    const cells = specs.map((spec) => (appliesToSpec(props[key], spec) ? { value: spec[key] } : null));
    const differs = new Set(cells.filter(Boolean).map((cell) => comparable(cell.value))).size > 1;
    return { key, cells, differs };
  });
}

/** Spec fields as rows, runs as columns; only the fields that differ unless `all`, which marks them instead.
 * `props`: the RunSpec JSON Schema's properties (which fields apply to which choices). */
export function specDiffTable(runs, colorOf, all, props = {}) {
  const specs = runs.map((run) => run.spec || {});
  const rows = specDiffRows(specs, props).filter((row) => all || (row.differs && row.key !== "name"));
  if (!rows.length)
    return h(
      "p",
      { class: "muted", "data-testid": "spec-diff-empty" },
      "The specs are identical (apart from the names).",
    );
  const cell = (row, c, spec) => (c ? h("td", {}, formatValue(c.value))
    : h("td", { class: "na", title: notApplyingText(props[row.key], spec) || null }, "n/a"));
  return h(
    "div",
    { class: "table-scroll spec-diff-scroll", tabindex: "0", role: "region", "aria-label": "Spec differences" },
    h(
      "table",
      { class: `table compare-table spec-diff${all ? " all-fields" : ""}`, "data-testid": "spec-diff" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { scope: "col" }, "field"),
          runs.map((run) => h("th", { scope: "col" }, runLabel(run, colorOf(run.id)))),
        ),
      ),
      h(
        "tbody",
        {},
        rows.map((row) =>
          h(
            "tr",
            { "data-field": row.key, class: row.differs ? "differs" : null },
            h(
              "th",
              { scope: "row", class: "mono" },
              row.key,
              all && row.differs
                ? h("span", { class: "diff-mark", title: "the runs differ in this field" }, "differs")
                : null,
            ),
            row.cells.map((c, i) => cell(row, c, specs[i])),
          ),
        ),
      ),
    ),
  );
}

/** A number of the run's summary, or null. */
function summaryValue(run, key) {
  const value = (run.summary || {})[key];
  return typeof value === "number" ? value : null;
}

/** What a column header's tooltip says: the catalogue's description, unit and which way is better. */
function columnHint(key) {
  const info = metricInfo(key) || {};
  const unit = unitText(key);
  const better = info.direction ? `${info.direction} is better` : "";
  return [info.description, unit && `in ${unit}`, better].filter(Boolean).join("; ");
}

/** The runs in table order: a seed group's runs together (where its first run is), each group of two or more
 * followed by its mean row. Returns [{run}] and [{group: members}] entries. */
function tableEntries(runs) {
  return bySeedGroup(runs).flatMap((members) =>
    [...members.map((run) => ({ run })), ...(members.length > 1 ? [{ group: members }] : [])]);
}

/**
 * Runs as rows (seed groups add a mean ± std row), the catalogue's summary metrics as columns, labelled,
 * formatted and judged as the catalogue says. The best of each column is highlighted: among group means and
 * the runs outside a group, never a single seed of a group. Columns no run has are left out.
 */
export function finalMetricsTable(runs, colorOf) {
  const columns = summaryMetrics().filter((key) => runs.some((run) => summaryValue(run, key) !== null));
  const entries = tableEntries(runs);
  // What competes for "best": a group by its mean, a run on its own by its value; a group's seeds do not.
  const contenders = entries.filter(
    (entry) => entry.group || !entries.some((e) => e.group && e.group.includes(entry.run)),
  );
  const statsOf = new Map(entries.filter((e) => e.group).map((e) => [e.group, Object.fromEntries(columns.map((key) =>
    [key, summarize(e.group.map((run) => summaryValue(run, key)))]))]));
  const valueOf = (entry, key) =>
    entry.group ? (statsOf.get(entry.group)[key]?.mean ?? null) : summaryValue(entry.run, key);
  // Baselines are context, not results, a metric with no better direction has no best, nor one where all tie;
  // losses (nats) of different methods are different losses: no best across methods.
  const methods = new Set(runs.map((run) => run.method ?? run.spec?.method));
  const incomparable = (key) => metricInfo(key)?.unit === "nats" && methods.size > 1;
  const best = Object.fromEntries(columns.map((key) => {
    const direction = metricDirection(key);
    const values = contenders.map((entry) => valueOf(entry, key));
    const tied = new Set(values.filter((v) => v !== null)).size < 2;
    const skip = isBaseline(key) || !direction || tied || incomparable(key);
    const index = skip ? -1 : bestIndex(values, direction === "lower");
    return [key, contenders[index] || null];
  }));
  const spreadNote = (entry) => (entry.group ? "mean ± std (ddof 1) over the group's seeds" : null);
  const cell = (entry, key, text) => h("td", { class: `num${best[key] === entry ? " best" : ""}`, "data-col": key,
    title: [best[key] === entry ? (entry.group ? "best group mean" : "best") : null, spreadNote(entry)]
      .filter(Boolean).join(" · ") || null }, text);
  const rows = entries.map((entry) => {
    if (entry.group) {
      const first = entry.group[0];
      return h("tr", { class: "group-row", "data-group-id": first.group_id },
        h("th", { scope: "row" }, h("span", { class: "run-label" },
          h("span", { class: "swatch", style: `background:${colorOf(first.id)}`, "aria-hidden": "true" }),
          `${first.name || "group"}: mean ± std of ${entry.group.length} seeds`)),
        columns.map((key) => {
          const stats = statsOf.get(entry.group)[key];
          return cell(entry, key, stats ? formatMetricSpread(key, stats.mean, stats.n > 1 ? stats.std : null) : DASH);
        }));
    }
    const { run } = entry;
    return h(
      "tr",
      { "data-run-id": run.id },
      h(
        "th",
        { scope: "row" },
        runLabel(run, colorOf(run.id)),
        run.group_id ? h("span", { class: "muted" }, ` · seed ${run.spec.seed}`) : "",
      ),
      columns.map((key) => cell(entry, key, formatMetric(key, summaryValue(run, key)))),
    );
  });
  return h(
    "div",
    { class: "table-scroll compare-table-scroll", tabindex: "0", role: "region", "aria-label": "Final metrics" },
    h(
      "table",
      { class: "table compare-table", "data-testid": "final-metrics" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { scope: "col" }, "run"),
          columns.map((key) =>
            h("th", { scope: "col", class: "num", "data-col": key, title: columnHint(key) || null }, metricLabel(key)),
          ),
        ),
      ),
      h("tbody", {}, rows),
    ),
  );
}
