// The runs table's rows: created once per run id and updated in place on every poll.

import { h, setText, statusBadge, updateStatusBadge, progressBar, updateProgressBar } from "./dom.js";
import { formatShortDateTime, formatDuration, formatValue, secondsBetween, DASH } from "./format.js";
import {
  STATUS,
  baselines,
  choiceLabel,
  formatMetric,
  formatMetricSpread,
  isFinalStatus,
  metricLabel,
  summaryMetrics,
} from "./catalog.js";
import { groupName, summarize } from "./compare_data.js";
import { appliesToSpec } from "./schema_form.js";
import { tagEditor } from "./tags.js";

/** The metrics the table shows: the headline figures, i.e. those the catalogue pairs with a random-init baseline. */
export const tableMetrics = () => Object.keys(baselines());

/** The chosen columns: `{metrics, spec}` from the URL's `cols` ("linear_acc,knn_acc,spec.lr"); the headline
 * metrics and no spec field when it says nothing. Metrics the catalogue lacks are dropped. */
export function parseColumns(text) {
  const parts = (text || "").split(",").map((part) => part.trim()).filter(Boolean);
  if (!parts.length) return { metrics: tableMetrics(), spec: [] };
  const known = new Set(summaryMetrics());
  return {
    metrics: parts.filter((part) => known.has(part)),
    spec: parts.filter((part) => part.startsWith("spec.")).map((part) => part.slice(5)),
  };
}

/** The `cols` URL value of a choice of columns; "" for the default. */
export function columnsParam({ metrics, spec }) {
  const text = [...metrics, ...spec.map((field) => `spec.${field}`)].join(",");
  return text === tableMetrics().join(",") ? "" : text;
}

/** [key, label, sortable, numeric]: the table's columns in order (`select` is the checkbox). Metrics and spec
 * fields sort on the server. */
export function tableColumns(view = parseColumns("")) {
  return [
    ["select", "", false, false],
    ["id", "ID", true, true],
    ["name", "Name", true, false],
    ["group", "Group", false, false],
    ["method", "Method", true, false],
    ["dataset", "Dataset", true, false],
    ["encoder", "Encoder", true, false],
    ...view.spec.map((field) => [`spec.${field}`, field, true, false]),
    ["status", "Status", true, false],
    ["progress", "Progress", true, false],
    ...view.metrics.map((key) => [key, metricLabel(key), true, true]),
    ["duration", "Duration", true, true],
    ["created", "Created", true, false],
    ["actions", "", false, false],
  ];
}

/** The header cells of `view`'s columns; a sortable one is a button calling `sortBy(key)`, kept in `headers`. */
export function headCells(view, headers, sortBy) {
  headers.clear();
  const metricColumns = new Set(view.metrics);
  return tableColumns(view).map(([key, label, sortable]) => {
    if (key === "select")
      return h("th", { scope: "col", class: "col-select" }, h("span", { class: "visually-hidden" }, "Select"));
    const css = key.startsWith("spec.") ? "col-spec" : `col-${key}`;
    if (!sortable)
      return h("th", { scope: "col", class: css, "data-col": key },
        label || h("span", { class: "visually-hidden" }, "Actions"));
    const button = h("button", { type: "button", class: "sort", "data-sort": key, onClick: () => sortBy(key) },
      label, h("span", { class: "sort-mark", "aria-hidden": "true" }));
    const th = h("th", { scope: "col", class: `${css}${metricColumns.has(key) ? " col-metric" : ""}`,
      "data-col": key }, button);
    headers.set(key, th);
    return th;
  });
}

/** The pager's buttons and "51–100 of 230" for a page at `offset`; `goTo(offset)` on a click. A count that
 * stopped at its cap (`exact` false) reads "of 10,000+" and Next stays on while the page is full. */
export function pagerParts(total, offset, pageSize, goTo, exact = true) {
  const last = exact ? Math.min(offset + pageSize, total) : offset + pageSize;
  const button = (label, to, enabled) =>
    h("button", { type: "button", class: "button", disabled: !enabled, onClick: () => goTo(to) }, label);
  return [
    button("← Previous", Math.max(0, offset - pageSize), offset > 0),
    h("span", { class: "muted", "data-testid": "pager-text" },
      `${total === 0 ? 0 : offset + 1}–${last} of ${total.toLocaleString()}${exact ? "" : "+"}`),
    button("Next →", offset + pageSize, last < total || !exact),
  ];
}

/** A spec value for its column; "n/a" where the field does not apply to the run (`view.props`: the RunSpec
 * schema's properties, once loaded), as the compare page's spec diff says. */
function specText(view, spec, field) {
  return view.props && !appliesToSpec(view.props[field], spec) ? "n/a" : formatValue(spec[field]);
}

/** A cell per chosen spec field, keyed `spec.<field>`. */
function specCells(view) {
  return Object.fromEntries(
    view.spec.map((field) => [`spec.${field}`, h("td", { class: "col-spec mono", "data-spec": field })]),
  );
}

/** Seconds left, from the time spent so far and the fraction done; null when unknown. */
export function etaSeconds(run) {
  if (run.status !== STATUS.running || !(run.progress > 0.01) || !run.started_at) return null;
  const spent = secondsBetween(run.started_at);
  return spent === null ? null : (spent * (1 - run.progress)) / run.progress;
}

/** Duration of a run: start to finish, or to now while it runs. */
export function runSeconds(run) {
  if (!run.started_at) return null;
  return secondsBetween(run.started_at, run.finished_at || (isFinalStatus(run.status) ? run.started_at : null));
}

/**
 * One row. `actions`: {isSelected(id), onSelect(id, checked), onCancel(run), onDelete(run), onRestore(run),
 * saveTags(run, tags) -> Promise<tags>, onTag(tag)}.
 * @returns {{tr: HTMLElement, update: (run) => void}}
 */
export function createRow(run, actions, view = parseColumns("")) {
  const { metrics } = view;
  const checkbox = h("input", { type: "checkbox", "aria-label": `Select run #${run.id}`, "data-testid": "row-select",
    onChange: (event) => actions.onSelect(run.id, event.target.checked) });
  const link = h("a", { href: `#/runs/${run.id}`, "data-testid": "run-link" });
  const eta = h("span", { class: "eta muted", "data-testid": "row-eta" });
  const cancel = h("button", { type: "button", class: "button small danger", "data-testid": "row-cancel",
    onClick: () => actions.onCancel(current) }, "Cancel");
  const remove = h("button", { type: "button", class: "button small", "data-testid": "row-delete",
    title: "Move to the trash", onClick: () => actions.onDelete(current) }, "Delete");
  const restore = h("button", { type: "button", class: "button small", "data-testid": "row-restore",
    onClick: () => actions.onRestore(current) }, "Restore");
  const tags = tagEditor({ label: `run #${run.id}`, save: (next) => actions.saveTags(current, next),
    onTag: actions.onTag, editable: Boolean(actions.saveTags) });
  const cells = {
    select: h("td", { class: "col-select" }, checkbox),
    id: h(
      "td",
      { class: "col-id num" },
      h("a", { href: `#/runs/${run.id}`, tabindex: "-1", "aria-hidden": "true" }, `#${run.id}`),
    ),
    name: h("td", { class: "col-name" }, h("div", { class: "name-line" }, link), tags.el),
    group: h("td", { class: "col-group" }),
    method: h("td", { class: "col-method" }),
    dataset: h("td", { class: "col-dataset" }),
    encoder: h("td", { class: "col-encoder" }),
    status: h("td", { class: "col-status" }, statusBadge(run.status, { "data-testid": "row-status" })),
    progress: h("td", { class: "col-progress" }, progressBar(run.progress), eta),
    ...Object.fromEntries(
      metrics.map((key) => [key, h("td", { class: `col-${key} col-metric num`, "data-metric": key })]),
    ),
    ...specCells(view),
    duration: h("td", { class: "col-duration num" }),
    created: h("td", { class: "col-created" }),
    actions: h(
      "td",
      { class: "col-actions" },
      h(
        "a",
        {
          class: "button small",
          href: `#/new?from=${run.id}`,
          "data-testid": "row-clone",
          title: "New run from these settings",
        },
        "Clone",
      ),
      cancel,
      remove,
      restore,
    ),
  };
  const tr = h("tr", { "data-run-id": run.id }, tableColumns(view).map(([key]) => cells[key]));
  let current = run;
  let signature = "";

  function update(next) {
    current = next;
    checkbox.checked = actions.isSelected(next.id);
    tr.classList.toggle("selected", checkbox.checked);
    const running = next.status === STATUS.running;
    setText(eta, running && etaSeconds(next) !== null ? `${formatDuration(etaSeconds(next))} left` : "");
    setText(cells.duration, formatDuration(runSeconds(next)));
    const sig = JSON.stringify([
      next.name,
      next.status,
      next.progress,
      next.summary,
      next.created_at,
      next.cancel_requested,
      next.group_id,
      next.tags,
      next.trashed_at,
    ]);
    if (sig === signature) return;
    signature = sig;
    const spec = next.spec || {};
    const summary = next.summary || {};
    setText(link, next.name || `Run ${next.id}`);
    const seedOf = next.group_id ? ` (seed ${spec.seed} of group #${next.group_id})` : "";
    link.title = (next.name || `Run ${next.id}`) + seedOf;
    tags.update(next.tags);
    tr.classList.toggle("trashed", Boolean(next.trashed_at));
    setText(cells.group, next.group_id ? `seed ${spec.seed}` : DASH);
    cells.group.title = next.group_id ? `group #${next.group_id}` : "";
    for (const key of ["method", "dataset"]) {
      setText(cells[key], spec[key] == null ? DASH : choiceLabel(key, spec[key]));
      cells[key].title = spec[key] ?? "";
    }
    setText(cells.encoder, spec.encoder ?? DASH);
    const label = next.cancel_requested && running ? "canceling" : next.status;
    updateStatusBadge(cells.status.firstElementChild, label);
    updateProgressBar(cells.progress.firstElementChild, next.status === STATUS.succeeded ? 1 : next.progress);
    for (const key of metrics) setText(cells[key], formatMetric(key, summary[key]));
    for (const field of view.spec) setText(cells[`spec.${field}`], specText(view, spec, field));
    setText(cells.created, formatShortDateTime(next.created_at));
    cells.created.title = next.created_at || "";
    const final = isFinalStatus(next.status);
    cancel.hidden = final;
    cancel.disabled = Boolean(next.cancel_requested);
    remove.hidden = !final || Boolean(next.trashed_at);
    restore.hidden = !next.trashed_at;
  }

  update(run);
  return { tr, update, checkbox };
}

/** "2 succeeded, 1 running": a group's runs counted by status, in lifecycle order. */
function statusCounts(members) {
  const counts = new Map();
  for (const run of members) counts.set(run.status, (counts.get(run.status) || 0) + 1);
  return [...counts].map(([status, n]) => `${n} ${status}`).join(", ");
}

/**
 * A seed group folded into one row: its name, seed count (the button that shows or hides its seeds), what its
 * runs share, their statuses and each metric's mean ± std. `actions`: {isExpanded(gid), onToggle(gid),
 * isSelected(id), onSelectMany(ids, checked)}.
 * @returns {{tr: HTMLElement, update: (members: object[]) => void}}
 */
export function createGroupRow(groupId, actions, view = parseColumns("")) {
  const { metrics } = view;
  let members = [];
  const checkbox = h("input", {
    type: "checkbox",
    "aria-label": `Select the runs of group #${groupId}`,
    "data-testid": "group-select",
    onChange: (event) =>
      actions.onSelectMany(
        members.map((run) => run.id),
        event.target.checked,
      ),
  });
  const toggle = h("button", { type: "button", class: "link group-toggle", "data-testid": "group-toggle",
    onClick: () => actions.onToggle(groupId) });
  const name = h("span", { class: "group-name" });
  const compare = h("a", { class: "button small", "data-testid": "group-compare" }, "Compare");
  const cells = {
    select: h("td", { class: "col-select" }, checkbox),
    id: h("td", { class: "col-id num muted", title: `seed group #${groupId}` }),
    name: h("td", { class: "col-name" }, name),
    group: h("td", { class: "col-group" }, toggle),
    method: h("td", { class: "col-method" }),
    dataset: h("td", { class: "col-dataset" }),
    encoder: h("td", { class: "col-encoder" }),
    status: h("td", { class: "col-status muted", "data-testid": "group-status" }),
    progress: h("td", { class: "col-progress" }, progressBar(0)),
    ...Object.fromEntries(
      metrics.map((key) => [key, h("td", { class: `col-${key} col-metric num`, "data-metric": key })]),
    ),
    ...specCells(view),
    duration: h("td", { class: "col-duration num" }),
    created: h("td", { class: "col-created" }),
    actions: h("td", { class: "col-actions" }, compare),
  };
  const tr = h("tr", { class: "group-fold", "data-group-id": groupId }, tableColumns(view).map(([key]) => cells[key]));

  function update(next) {
    members = next;
    const first = members[0];
    const spec = first.spec || {};
    const expanded = actions.isExpanded(groupId);
    setText(name, groupName(members, groupId));
    name.title = `${groupName(members, groupId)} (seed group #${groupId})`;
    setText(toggle, `${expanded ? "▾" : "▸"} ${members.length} seeds`);
    toggle.setAttribute("aria-expanded", String(expanded));
    toggle.title = expanded ? "Hide the seeds" : "Show the seeds";
    for (const key of ["method", "dataset"])
      setText(cells[key], spec[key] == null ? DASH : choiceLabel(key, spec[key]));
    setText(cells.encoder, spec.encoder ?? DASH);
    setText(cells.status, statusCounts(members));
    const progress =
      members.reduce((sum, run) => sum + (run.status === STATUS.succeeded ? 1 : Number(run.progress) || 0), 0) /
      members.length;
    updateProgressBar(cells.progress.firstElementChild, progress);
    for (const key of metrics) {
      const stats = summarize(members.map((run) => (run.summary || {})[key]));
      setText(cells[key], stats ? formatMetricSpread(key, stats.mean, stats.n > 1 ? stats.std : null) : DASH);
      cells[key].title = stats && stats.n > 1 ? `mean ± std (ddof 1) over ${stats.n} seeds` : "";
    }
    for (const field of view.spec) {
      const values = new Set(members.map((run) => JSON.stringify((run.spec || {})[field] ?? null)));
      setText(cells[`spec.${field}`], values.size > 1 ? "varies" : specText(view, spec, field));
    }
    setText(cells.created, formatShortDateTime(first.created_at));
    compare.href = `#/compare?runs=${members.map((run) => run.id).join(",")}`;
    compare.hidden = members.length < 2;
    const chosen = members.filter((run) => actions.isSelected(run.id)).length;
    checkbox.checked = chosen === members.length;
    checkbox.indeterminate = chosen > 0 && chosen < members.length;
  }

  return { tr, update };
}
