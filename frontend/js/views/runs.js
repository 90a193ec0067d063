// Runs list: server-side filter, sort and pages; refreshed every 2 s in place; select runs to compare or to move
// to the trash; tags edited in place; the trash is the same list with ?trashed=true.
// The view's state lives in the URL (#/?sort=…&status=…), so a filtered list can be bookmarked.

import { api, ApiError } from "../api.js";
import { h, setText } from "../dom.js";
import { parseIds } from "../format.js";
import { fieldsFromSchema } from "../schema_form.js";
import {
  freedText,
  selectionBar as makeSelectionBar,
  trashActions,
  trashBar as makeTrashBar,
} from "../runs_bulk.js";
import { columnsParam, parseColumns, createGroupRow, createRow, headCells, pagerParts } from "../runs_table.js";
import { choiceLabel, statuses } from "../catalog.js";
import { columnsMenu, specFilterBar } from "../runs_filters.js";
import { bySeedGroup } from "../compare_data.js";

const REFRESH_MS = 2000;
const PAGE_SIZE = 50;
const FILTER_KEYS = ["status", "method", "dataset", "encoder", "q", "group_id", "tag"];

/** Mount the runs list; returns the cleanup that stops polling. */
export function mount(root, { query }) {
  document.title = query.get("trashed") === "true" ? "Trash · ContrastLab" : "Runs · ContrastLab";
  const state = {
    sort: query.get("sort") || "id", order: query.get("order") === "asc" ? "asc" : "desc",
    offset: Math.max(0, Number(query.get("offset")) || 0),
    ...Object.fromEntries(FILTER_KEYS.map((key) => [key, query.get(key) || ""])),
    cols: query.get("cols") || "",
    trashed: query.get("trashed") === "true" ? "true" : "",
  };
  // "lr=0.001": the spec holds this value; state.specs is what setFilter compares
  const specFilters = specFilterBar(query.getAll("spec").filter((f) => f.includes("=")),
    (filters) => setFilter("specs", filters.join("&")));
  state.specs = specFilters.values().join("&");
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
    onDelete: (run) => moveToTrash({ ids: String(run.id) }, `Run #${run.id}`),
    onRestore: (run) => restore([run.id], `Run #${run.id}`),
    saveTags: async (run, tags) => (await api.patchRun(run.id, { tags })).tags,
    onTag: (tag) => setFilter("tag", tag),
  };

  const { moveToTrash, restore } = trashActions(selected, (...args) => showNotice(...args), () => refreshNow());

  // ---- header, filters, table ----
  const headers = new Map();
  const headRow = h("tr");
  function buildHead() {
    headRow.replaceChildren(...headCells(view, headers, sortBy));
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
  const notice = h("p", { class: "notice", role: "status", hidden: true, "data-testid": "runs-notice" });
  const pager = h("nav", { class: "pager", "aria-label": "Pages", hidden: true });
  const chosen = () => [...selected].sort((a, b) => a - b);
  const selectionBar = makeSelectionBar({
    onCompare: () => openCompare(),
    onTrash: () => moveToTrash({ ids: chosen().join(",") }, `${selected.size} runs`),
    onRestore: () => restore(chosen(), `${selected.size} runs`),
    onClear: () => {
      selected.clear();
      renderSelection();
    },
  });
  const trashBar = makeTrashBar((freed) => {
    showNotice(freedText(freed));
    refreshNow();
  });
  trashBar.show(Boolean(state.trashed));

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
  const tagChip = h(
    "span",
    { class: "chip", hidden: !state.tag, "data-testid": "tag-filter" },
    h("span", {}, `Tag: ${state.tag}`),
    h("button", { type: "button", class: "link", "aria-label": "Show runs with any tag",
      onClick: () => setFilter("tag", "") }, "×"),
  );
  filters.append(groupChip, tagChip);
  api.runSpecSchema().then((schema) => {
    if (stopped) return;
    const fields = new Map(fieldsFromSchema(schema).map((f) => [f.name, f]));
    for (const [key, label] of [["method", "Method"], ["dataset", "Dataset"], ["encoder", "Encoder"]]) {
      const field = fields.get(key);
      if (field && field.options) filters.insertBefore(filterSelect(key, label, field.options.map(String)), groupChip);
    }
    view.props = schema.properties || {};
    if (view.spec.length) rebuildRows(); // spec columns now know which fields apply (n/a otherwise)
    filters.insertBefore(specFilters.control([...fields.keys()]), groupChip);
    filters.append(columnsMenu([...fields.keys()], view, chooseColumns));
  }, () => {});

  function chooseColumns(keys) {
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

  const trashLink = h("a", { class: "button", "data-testid": "trash-toggle",
    href: state.trashed ? "#/" : "#/?trashed=true" }, state.trashed ? "Back to the runs" : "Trash");
  root.append(
    h("div", { class: "page-head" },
      h("h1", {}, state.trashed ? "Trash" : "Runs"),
      h("div", { class: "form-actions" }, trashLink,
        h("a", { class: "button primary", href: "#/new", "data-testid": "new-run" }, "New run"))),
    filters, trashBar.el, selectionBar.el, notice, empty, noMatch, tableWrap, pager);

  // ---- state changes ----
  function syncUrl() {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(state)) {
      if (value && key !== "specs" && !(key === "sort" && value === "id") && !(key === "order" && value === "desc"))
        params.set(key, String(value));
    }
    for (const filter of specFilters.values()) params.append("spec", filter);
    if (expanded.size) params.set("open", [...expanded].sort((a, b) => a - b).join(","));
    const search = params.toString();
    history.replaceState(null, "", `#/${search ? `?${search}` : ""}`);
  }

  function setFilter(key, value) {
    if (state[key] === value) return;
    state[key] = value;
    state.offset = 0;
    if (key === "group_id") groupChip.hidden = !value;
    if (key === "tag") {
      tagChip.hidden = !value;
      setText(tagChip.firstElementChild, `Tag: ${value}`);
    }
    refreshNow();
  }

  function clearFilters() {
    for (const key of FILTER_KEYS) state[key] = "";
    specFilters.clear();
    state.specs = "";
    for (const select of Object.values(selects)) select.value = "";
    search.value = "";
    groupChip.hidden = true;
    tagChip.hidden = true;
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
    location.hash = `#/compare?runs=${chosen().join(",")}`;
  }

  /** A line over the table (red when it says something failed), with a button (Undo) when given. */
  function showNotice(text, label = "", action = null) {
    notice.classList.toggle("notice-error", /^(Could not|Cancel failed)/.test(text));
    notice.replaceChildren(text, label ? " " : "",
      label ? h("button", { type: "button", class: "link", "data-testid": "notice-action", onClick: () => {
        notice.hidden = true;
        action();
      } }, label) : "");
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
    if (state.trashed) params.trashed = "true";
    if (specFilters.values().length) params.spec = specFilters.values();
    try {
      const page = await api.listRuns(params, mine.signal);
      if (stopped || controller !== mine) return;
      if (notice.dataset.loadError) notice.hidden = true;
      delete notice.dataset.loadError;
      render(page);
      if (state.trashed) trashBar.refresh(mine.signal).catch(() => {});
    } catch (err) {
      if (stopped || err.name === "AbortError") return;
      showNotice(`Could not load runs: ${err.message}. Retrying…`);
      notice.dataset.loadError = "1";
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
    const filtered = FILTER_KEYS.some((key) => state[key]) || specFilters.values().length > 0;
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
    renderPager(total, page.total_exact !== false);
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
    selectionBar.render(selected.size, Boolean(state.trashed));
  }

  function renderPager(total, exact) {
    pager.hidden = total <= PAGE_SIZE && state.offset === 0;
    if (!pager.hidden) pager.replaceChildren(...pagerParts(total, state.offset, PAGE_SIZE, goToOffset, exact));
  }

  refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
    clearTimeout(searchTimer);
    if (controller) controller.abort();
  };
}
