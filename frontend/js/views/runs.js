// Runs list: a table of all runs, refreshed every 2 s in place (rows keyed by run id).

import { api } from "../api.js";
import { h, setText, statusBadge, updateStatusBadge, progressBar, updateProgressBar } from "../dom.js";
import { formatDateTime, formatPercent, DASH } from "../format.js";

const REFRESH_MS = 2000;
const PAGE_SIZE = 50;

const COLUMNS = [
  ["id", "ID"], ["name", "Name"], ["method", "Method"], ["dataset", "Dataset"], ["encoder", "Encoder"],
  ["status", "Status"], ["progress", "Progress"], ["linear_acc", "Linear acc"], ["knn_acc", "k-NN acc"],
  ["created", "Created"],
];

/** Mount the runs list; returns the cleanup that stops polling. */
export function mount(root, { query }) {
  document.title = "Runs · ContrastLab";
  let offset = Math.max(0, Number(query.get("offset")) || 0);
  let timer = null;
  let stopped = false;
  let controller = null;
  const rows = new Map(); // run id -> {tr, cells, signature}

  const tbody = h("tbody");
  const table = h("table", { class: "table runs-table", "data-testid": "runs-table" },
    h("thead", {}, h("tr", {}, COLUMNS.map(([key, label]) => h("th", { scope: "col", class: `col-${key}` }, label)))),
    tbody);
  const empty = h("section", { class: "empty-state", "data-testid": "empty-state", hidden: true },
    h("p", {}, "No runs yet — ", h("a", { href: "#/new" }, "start one")));
  const notice = h("p", { class: "notice notice-error", role: "status", hidden: true });
  const pager = h("nav", { class: "pager", "aria-label": "Pages", hidden: true });
  const tableWrap = h("div", { class: "table-wrap", hidden: true }, table);

  root.append(
    h("div", { class: "page-head" },
      h("h1", {}, "Runs"),
      h("a", { class: "button primary", href: "#/new", "data-testid": "new-run" }, "New run")),
    notice, empty, tableWrap, pager);

  async function refresh() {
    controller = new AbortController();
    try {
      const page = await api.listRuns(PAGE_SIZE, offset, controller.signal);
      if (stopped) return;
      notice.hidden = true;
      render(page);
    } catch (err) {
      if (stopped || err.name === "AbortError") return;
      notice.textContent = `Could not load runs: ${err.message}. Retrying…`;
      notice.hidden = false;
    } finally {
      if (!stopped) timer = setTimeout(refresh, REFRESH_MS);
    }
  }

  function render({ items, total }) {
    empty.hidden = total > 0;
    tableWrap.hidden = items.length === 0;
    const seen = new Set();
    let previous = null;
    for (const run of items) {
      seen.add(run.id);
      let row = rows.get(run.id);
      if (!row) {
        row = createRow(run);
        rows.set(run.id, row);
      }
      updateRow(row, run);
      // Keep DOM order equal to the server's order (newest first) without re-inserting unchanged rows.
      const expected = previous ? previous.nextSibling : tbody.firstChild;
      if (expected !== row.tr) tbody.insertBefore(row.tr, expected);
      previous = row.tr;
    }
    for (const [id, row] of rows) {
      if (!seen.has(id)) {
        row.tr.remove();
        rows.delete(id);
      }
    }
    renderPager(total);
  }

  function renderPager(total) {
    pager.hidden = total <= PAGE_SIZE && offset === 0;
    if (pager.hidden) return;
    const last = Math.min(offset + PAGE_SIZE, total);
    const link = (label, to, enabled) =>
      enabled ? h("a", { class: "button", href: `#/?offset=${to}` }, label) : h("span", { class: "button", "aria-disabled": "true" }, label);
    pager.replaceChildren(
      link("← Newer", Math.max(0, offset - PAGE_SIZE), offset > 0),
      h("span", { class: "muted" }, `${total === 0 ? 0 : offset + 1}–${last} of ${total}`),
      link("Older →", offset + PAGE_SIZE, last < total));
  }

  refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
    if (controller) controller.abort();
  };
}

function createRow(run) {
  const link = h("a", { href: `#/runs/${run.id}`, "data-testid": "run-link" });
  const cells = {
    id: h("td", { class: "col-id num" }, h("a", { href: `#/runs/${run.id}`, tabindex: "-1", "aria-hidden": "true" }, `#${run.id}`)),
    name: h("td", { class: "col-name" }, link),
    method: h("td", { class: "col-method" }),
    dataset: h("td", { class: "col-dataset" }),
    encoder: h("td", { class: "col-encoder" }),
    status: h("td", { class: "col-status" }, statusBadge(run.status, { "data-testid": "row-status" })),
    progress: h("td", { class: "col-progress" }, progressBar(run.progress)),
    linear_acc: h("td", { class: "col-linear_acc num" }),
    knn_acc: h("td", { class: "col-knn_acc num" }),
    created: h("td", { class: "col-created" }),
  };
  const tr = h("tr", { "data-run-id": run.id }, COLUMNS.map(([key]) => cells[key]));
  return { tr, cells, link, signature: "" };
}

function updateRow(row, run) {
  const signature = JSON.stringify([run.name, run.status, run.progress, run.summary, run.spec, run.created_at, run.cancel_requested]);
  if (signature === row.signature) return;
  row.signature = signature;
  const spec = run.spec || {};
  const summary = run.summary || {};
  setText(row.link, run.name || `Run ${run.id}`);
  setText(row.cells.method, spec.method ?? DASH);
  setText(row.cells.dataset, spec.dataset ?? DASH);
  setText(row.cells.encoder, spec.encoder ?? DASH);
  const label = run.cancel_requested && run.status === "running" ? "canceling" : run.status;
  updateStatusBadge(row.cells.status.firstElementChild, label);
  updateProgressBar(row.cells.progress.firstElementChild, run.status === "succeeded" ? 1 : run.progress);
  setText(row.cells.linear_acc, formatPercent(summary.linear_acc));
  setText(row.cells.knn_acc, formatPercent(summary.knn_acc));
  setText(row.cells.created, formatDateTime(run.created_at));
  row.cells.created.title = run.created_at || "";
}
