// Runs list: server-side filter, sort and pages; refreshed every 2 s in place; select runs to compare.
// The view's state lives in the URL (#/?sort=…&status=…), so a filtered list can be bookmarked.

import { api, ApiError } from "../api.js";
import { h, setText } from "../dom.js";
import { parseIds } from "../format.js";
import { fieldsFromSchema } from "../schema_form.js";
import { confirmDialog } from "../confirm.js";
import { columnsParam, parseColumns, tableColumns, createGroupRow, createRow } from "../runs_table.js";
import { choiceLabel, metricLabel, statuses, summaryMetrics } from "../catalog.js";
import { bySeedGroup } from "../compare_data.js";

const REFRESH_MS = 2000;
const PAGE_SIZE = 50;
const MAX_COMPARE = 20;
const FILTER_KEYS = ["status", "method", "dataset", "encoder", "q", "group_id"];

/** Mount the runs list; returns the cleanup that stops polling. */
export function mount(root, { query }) {
  document.title = "Runs · ContrastLab";
  const state = {
    sort: query.get("sort") || "id", order: query.get("order") === "asc" ? "asc" : "desc",
    offset: Math.max(0, Number(query.get("offset")) || 0),
    ...Object.fromEntries(FILTER_KEYS.map((key) => [key, query.get(key) || ""])),
    cols: query.get("cols") || "",
  };
  let specFilters = query.getAll("spec").filter((f) => f.includes("=")); // "lr=0.001": the spec holds this value
  state.specs = specFilters.join("&"); // what setFilter compares
  let view = parseColumns(state.cols);
  const selected = new Set((query.get("selected") || "").split(",").filter(Boolean).map(Number));
  let timer = null;
  let stopped = false;
  let controller = null;
  let lastItems = [];
  let lastPage = { items: [], total: 0 };
  const rows = new Map(); // run id -> {tr, update}
  const groupRows = new Map(); // group id -> {tr, update, members}: a seed group folded into one row
  const expanded = new Set(parseIds(query.get("open"))); // groups whose seeds are shown (in the URL as open=3,7)

  const rowActions = {
    isSelected: (id) => selected.has(id),
    onSelect: (id, checked) => {
      if (checked) selected.add(id);
      else selected.delete(id);
      renderSelection();
    },
    onSelectMany: (ids, checked) => {
      for (const id of ids) rowActions.onSelect(id, checked);
    },
    isExpanded: (groupId) => expanded.has(groupId),
    onToggle: (groupId) => {
      if (expanded.has(groupId)) expanded.delete(groupId);
      else expanded.add(groupId);
      syncUrl();
      render(lastPage);
    },
    onCancel: async (run) => {
      try {
        await api.cancelRun(run.id);
      } catch (err) {
        showNotice(
          err instanceof ApiError && err.status === 409
            ? `Run #${run.id} had already finished.`
            : `Cancel failed: ${err.message}`,
        );
      }
      refreshNow();
    },
    onDelete: async (run) => {
      const ok = await confirmDialog({
        title: `Delete run #${run.id}?`,
        body:
          `“${run.name || `Run ${run.id}`}” and its metrics, log and files (checkpoints included) ` +
          "are removed for good.",
      });
      if (!ok) return;
      try {
        await api.deleteRun(run.id);
        selected.delete(run.id);
      } catch (err) {
        showNotice(`Could not delete run #${run.id}: ${err.message}`);
      }
      refreshNow();
    },
  };

  // ---- header, filters, table ----
  const headers = new Map();
  const headRow = h("tr");
  function buildHead() {
    headers.clear();
    const metricColumns = new Set(view.metrics);
    headRow.replaceChildren(...tableColumns(view).map(([key, label, sortable]) => {
      if (key === "select")
        return h("th", { scope: "col", class: "col-select" }, h("span", { class: "visually-hidden" }, "Select"));
      const css = key.startsWith("spec.") ? "col-spec" : `col-${key}`;
      if (!sortable)
        return h(
          "th",
          { scope: "col", class: css, "data-col": key },
          label || h("span", { class: "visually-hidden" }, "Actions"),
        );
      const button = h(
        "button",
        { type: "button", class: "sort", "data-sort": key, onClick: () => sortBy(key) },
        label,
        h("span", { class: "sort-mark", "aria-hidden": "true" }),
      );
      const th = h(
        "th",
        { scope: "col", class: `${css}${metricColumns.has(key) ? " col-metric" : ""}`, "data-col": key },
        button,
      );
      headers.set(key, th);
      return th;
    }));
  }
  buildHead();
  const tbody = h("tbody");
  const table = h("table", { class: "table runs-table", "data-testid": "runs-table" }, h("thead", {}, headRow), tbody);
  const tableWrap = h("div", { class: "table-wrap", hidden: true }, table);
  const empty = h("section", { class: "empty-state", "data-testid": "empty-state", hidden: true },
    h("p", {}, "No runs yet — ", h("a", { href: "#/new" }, "start one")));
  const noMatch = h(
    "section",
    { class: "empty-state", "data-testid": "no-match", hidden: true },
    h(
      "p",
      {},
      "No runs match these filters. ",
      h("button", { type: "button", class: "link", onClick: () => clearFilters() }, "Clear filters"),
    ),
  );
  const notice = h("p", { class: "notice notice-error", role: "status", hidden: true });
  const pager = h("nav", { class: "pager", "aria-label": "Pages", hidden: true });
  const count = h("span", { class: "muted", "data-testid": "selection-count" });
  const compareButton = h(
    "button",
    { type: "button", class: "button primary", "data-testid": "compare-selected", onClick: () => openCompare() },
    "Compare",
  );
  const selectionBar = h(
    "div",
    { class: "selection-bar", "data-testid": "selection-bar", hidden: true },
    count,
    compareButton,
    h(
      "button",
      {
        type: "button",
        class: "button",
        onClick: () => {
          selected.clear();
          renderSelection();
        },
      },
      "Clear selection",
    ),
  );

  const search = h("input", {
    type: "search",
    class: "filter-search",
    placeholder: "Search name or #id",
    "aria-label": "Search runs",
    value: state.q,
    "data-testid": "filter-q",
  });
  let searchTimer = null;
  search.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => setFilter("q", search.value.trim()), 300);
  });
  const selects = {};
  const filterSelect = (key, label, options) => {
    const select = h(
      "select",
      { "aria-label": label, "data-testid": `filter-${key}`, onChange: (e) => setFilter(key, e.target.value) },
      h("option", { value: "" }, `${label}: all`),
      options.map((o) => h("option", { value: o }, choiceLabel(key, o))),
    );
    select.value = state[key];
    selects[key] = select;
    return select;
  };
  const filters = h("div", { class: "filters", role: "search" }, search, filterSelect("status", "Status", statuses()));
  const groupChip = h(
    "span",
    { class: "chip", hidden: !state.group_id },
    `Seed group #${state.group_id}`,
    h(
      "button",
      { type: "button", class: "link", "aria-label": "Show all runs", onClick: () => setFilter("group_id", "") },
      "×",
    ),
  );
  filters.append(groupChip);
  api.runSpecSchema().then((schema) => {
    if (stopped) return;
    const fields = new Map(fieldsFromSchema(schema).map((f) => [f.name, f]));
    for (const [key, label] of [["method", "Method"], ["dataset", "Dataset"], ["encoder", "Encoder"]]) {
      const field = fields.get(key);
      if (field && field.options) filters.insertBefore(filterSelect(key, label, field.options.map(String)), groupChip);
    }
    view.props = schema.properties || {};
    if (view.spec.length) rebuildRows(); // spec columns now know which fields apply (n/a otherwise)
    filters.insertBefore(specFilterControl([...fields.keys()]), groupChip);
    filters.append(columnsMenu([...fields.keys()]));
  }, () => {});

  const specChips = h("span", { class: "spec-chips" });
  function renderSpecChips() {
    specChips.replaceChildren(
      ...specFilters.map((filter) =>
        h(
          "span",
          { class: "chip", "data-testid": "spec-chip" },
          filter.replace("=", " = "),
          h(
            "button",
            {
              type: "button",
              class: "link",
              "aria-label": `Remove the filter ${filter}`,
              onClick: () => {
                specFilters = specFilters.filter((f) => f !== filter);
                renderSpecChips();
                setFilter("specs", specFilters.join("&"));
              },
            },
            "×",
          ),
        ),
      ),
    );
  }
  renderSpecChips();

  /** Any spec field = a value: the server keeps the runs whose spec holds it (typed as the spec types it). */
  function specFilterControl(names) {
    const field = h(
      "select",
      { "aria-label": "Spec field", "data-testid": "spec-filter-field" },
      h("option", { value: "" }, "Spec field…"),
      names.filter((n) => n !== "name").map((n) => h("option", { value: n }, n)),
    );
    const value = h("input", {
      type: "text",
      class: "spec-filter-value",
      placeholder: "value",
      "aria-label": "Spec value",
      "data-testid": "spec-filter-value",
    });
    const add = (event) => {
      event.preventDefault();
      if (!field.value) return field.focus();
      const filter = `${field.value}=${value.value.trim()}`;
      if (!specFilters.includes(filter)) specFilters = [...specFilters, filter];
      value.value = "";
      renderSpecChips();
      setFilter("specs", specFilters.join("&"));
    };
    return h("form", { class: "spec-filter", onSubmit: add }, field, value,
      h("button", { type: "submit", class: "button small", "data-testid": "spec-filter-add" }, "Filter"), specChips);
  }

  /** Columns: any final metric of the catalogue and any spec field, kept in the URL's `cols`. */
  function columnsMenu(names) {
    const box = (key, label, checked) =>
      h(
        "label",
        { class: "checkbox-line" },
        h("input", {
          type: "checkbox",
          value: key,
          checked,
          "data-testid": `col-${key}`,
          onChange: () => chooseColumns(menu),
        }),
        label,
      );
    const menu = h(
      "details",
      { class: "columns-menu", "data-testid": "columns-menu" },
      h("summary", { class: "button" }, "Columns"),
      h(
        "div",
        { class: "columns-list" },
        h(
          "fieldset",
          {},
          h("legend", {}, "Final metrics"),
          summaryMetrics().map((key) => box(key, metricLabel(key), view.metrics.includes(key))),
        ),
        h(
          "fieldset",
          {},
          h("legend", {}, "Spec fields"),
          names.map((n) => box(`spec.${n}`, n, view.spec.includes(n))),
        ),
      ),
    );
    return menu;
  }

  function chooseColumns(menu) {
    const keys = [...menu.querySelectorAll("input:checked")].map((input) => input.value);
    view = { ...parseColumns(keys.join(",") || "none"), props: view.props };
    state.cols = columnsParam(view) || (keys.length ? "" : "none");
    syncUrl();
    rebuildRows();
  }

  /** New header and rows for the current columns. */
  function rebuildRows() {
    for (const row of rows.values()) row.tr.remove();
    for (const row of groupRows.values()) row.tr.remove();
    rows.clear();
    groupRows.clear();
    buildHead();
    if (lastPage.items.length) render(lastPage); // (before the first page arrives there is nothing to redraw)
  }

  root.append(
    h("div", { class: "page-head" },
      h("h1", {}, "Runs"),
      h("a", { class: "button primary", href: "#/new", "data-testid": "new-run" }, "New run")),
    filters, selectionBar, notice, empty, noMatch, tableWrap, pager);

  // ---- state changes ----
  function syncUrl() {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(state)) {
      if (value && key !== "specs" && !(key === "sort" && value === "id") && !(key === "order" && value === "desc"))
        params.set(key, String(value));
    }
    for (const filter of specFilters) params.append("spec", filter);
    if (expanded.size) params.set("open", [...expanded].sort((a, b) => a - b).join(","));
    const search = params.toString();
    history.replaceState(null, "", `#/${search ? `?${search}` : ""}`);
  }

  function setFilter(key, value) {
    if (state[key] === value) return;
    state[key] = value;
    state.offset = 0;
    if (key === "group_id") groupChip.hidden = !value;
    refreshNow();
  }

  function clearFilters() {
    for (const key of FILTER_KEYS) state[key] = "";
    specFilters = [];
    state.specs = "";
    renderSpecChips();
    for (const select of Object.values(selects)) select.value = "";
    search.value = "";
    groupChip.hidden = true;
    state.offset = 0;
    refreshNow();
  }

  function sortBy(key) {
    if (state.sort === key) state.order = state.order === "desc" ? "asc" : "desc";
    else {
      state.sort = key;
      state.order = ["name", "method", "dataset", "encoder", "status"].includes(key) ? "asc" : "desc";
    }
    state.offset = 0;
    refreshNow();
  }

  function goToOffset(offset) {
    state.offset = offset;
    refreshNow();
  }

  function openCompare() {
    const ids = [...selected].sort((a, b) => a - b);
    location.hash = `#/compare?runs=${ids.join(",")}`;
  }

  function showNotice(text) {
    notice.textContent = text;
    notice.hidden = false;
  }

  // ---- data ----
  function refreshNow() {
    clearTimeout(timer);
    if (controller) controller.abort();
    syncUrl();
    refresh();
  }

  async function refresh() {
    const mine = new AbortController();
    controller = mine;
    const params = { limit: PAGE_SIZE, offset: state.offset, sort: state.sort, order: state.order };
    for (const key of FILTER_KEYS) if (state[key]) params[key] = state[key];
    if (specFilters.length) params.spec = specFilters;
    try {
      const page = await api.listRuns(params, mine.signal);
      if (stopped || controller !== mine) return;
      notice.hidden = true;
      render(page);
    } catch (err) {
      if (stopped || err.name === "AbortError") return;
      showNotice(`Could not load runs: ${err.message}. Retrying…`);
    }
    if (!stopped && controller === mine) timer = setTimeout(refresh, REFRESH_MS);
  }

  /** The page's rows in order: a seed group with two or more runs here becomes one row followed by its seeds
   * (hidden unless expanded), where its first run would be; a list filtered to one group shows its seeds plainly. */
  function displayOrder(items) {
    return bySeedGroup(items, !state.group_id).flatMap((members) => members.length < 2 ? [{ run: members[0] }] : [
      { groupId: members[0].group_id, members },
      ...members.map((run) => ({ run, folded: !expanded.has(run.group_id) })),
    ]);
  }

  function render(page) {
    const { items, total } = page;
    lastPage = page;
    lastItems = items;
    const filtered = FILTER_KEYS.some((key) => state[key]) || specFilters.length > 0;
    empty.hidden = total > 0 || filtered;
    noMatch.hidden = total > 0 || !filtered;
    tableWrap.hidden = items.length === 0;
    for (const [key, th] of headers) {
      const active = key === state.sort;
      th.setAttribute("aria-sort", active ? (state.order === "asc" ? "ascending" : "descending") : "none");
      setText(th.querySelector(".sort-mark"), active ? (state.order === "asc" ? " ▲" : " ▼") : "");
    }
    const seen = new Set();
    const seenGroups = new Set();
    let previous = null;
    const place = (tr) => {
      const expected = previous ? previous.nextSibling : tbody.firstChild;
      if (expected !== tr) tbody.insertBefore(tr, expected);
      previous = tr;
    };
    for (const entry of displayOrder(items)) {
      if (entry.members) {
        seenGroups.add(entry.groupId);
        let row = groupRows.get(entry.groupId);
        if (!row) groupRows.set(entry.groupId, row = createGroupRow(entry.groupId, rowActions, view));
        row.members = entry.members;
        row.update(entry.members);
        place(row.tr);
        continue;
      }
      const { run } = entry;
      seen.add(run.id);
      let row = rows.get(run.id);
      if (!row) {
        row = createRow(run, rowActions, view);
        rows.set(run.id, row);
      } else row.update(run);
      row.tr.hidden = Boolean(entry.folded);
      row.tr.classList.toggle("seed-row", entry.folded !== undefined);
      place(row.tr);
    }
    for (const [id, row] of rows) {
      if (!seen.has(id)) {
        row.tr.remove();
        rows.delete(id);
      }
    }
    for (const [id, row] of groupRows) {
      if (!seenGroups.has(id)) {
        row.tr.remove();
        groupRows.delete(id);
      }
    }
    renderPager(total);
    renderSelection();
  }

  function renderSelection() {
    for (const run of lastItems) {
      const row = rows.get(run.id);
      if (row) {
        row.checkbox.checked = selected.has(run.id);
        row.tr.classList.toggle("selected", selected.has(run.id));
      }
    }
    for (const row of groupRows.values()) row.update(row.members);
    selectionBar.hidden = selected.size === 0;
    const n = selected.size;
    setText(
      count,
      n < 2
        ? `${n} selected — pick at least 2 to compare`
        : n > MAX_COMPARE
          ? `${n} selected — compare takes at most ${MAX_COMPARE}`
          : `${n} selected`,
    );
    compareButton.disabled = n < 2 || n > MAX_COMPARE;
  }

  function renderPager(total) {
    pager.hidden = total <= PAGE_SIZE && state.offset === 0;
    if (pager.hidden) return;
    const last = Math.min(state.offset + PAGE_SIZE, total);
    const button = (label, to, enabled) =>
      h("button", { type: "button", class: "button", disabled: !enabled, onClick: () => goToOffset(to) }, label);
    pager.replaceChildren(
      button("← Previous", Math.max(0, state.offset - PAGE_SIZE), state.offset > 0),
      h(
        "span",
        { class: "muted", "data-testid": "pager-text" },
        `${total === 0 ? 0 : state.offset + 1}–${last} of ${total.toLocaleString()}`,
      ),
      button("Next →", state.offset + PAGE_SIZE, last < total),
    );
  }

  refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
    clearTimeout(searchTimer);
    if (controller) controller.abort();
  };
}
