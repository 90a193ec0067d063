// Studies list: every study with its axes, seeds and progress, newest first; refreshed every 2 s in place.

import { STATUS, isFinalStatus } from "../catalog.js";
import { h, progressBar } from "../dom.js";
import { formatShortDateTime } from "../format.js";
import { studyApi } from "../study_api.js";
import { axisValueText } from "../study_table.js";

const REFRESH_MS = 2000;
const PAGE_SIZE = 50;

/** A search's numeric axis `{low, high, log}` as "1e-4 to 0.01 (log)"; a grid's (or a search's categorical) axis
 * as its values. */
const axisText = (field, axis) => (Array.isArray(axis)
  ? axis.map((v) => axisValueText(field, v)).join(", ")
  : `${axisValueText(field, axis.low)} to ${axisValueText(field, axis.high)}${axis.log ? " (log)" : ""}`);

/** "method: simclr, supervised × optimizer: adam, sgd"; a search's "lr: 0.0001 to 0.01 (log)". */
export function axesText(axes) {
  const parts = Object.entries(axes || {}).map(([field, axis]) => `${field}: ${axisText(field, axis)}`);
  return parts.join(" × ") || "seeds only";
}

function statusText(counts) {
  return [STATUS.running, STATUS.queued, STATUS.succeeded, STATUS.failed, STATUS.canceled, STATUS.pruned]
    .filter((s) => counts[s])
    .map((s) => `${counts[s]} ${s}`)
    .join(" · ");
}

function studyRow(study) {
  const counts = study.status_counts || {};
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  const finished = Object.entries(counts).reduce((n, [status, k]) => n + (isFinalStatus(status) ? k : 0), 0);
  const link = `#/studies/${study.id}`;
  return h(
    "tr",
    { "data-study-id": study.id },
    h("td", { class: "num col-id" }, h("a", { href: link }, `#${study.id}`)),
    h(
      "td",
      { class: "col-name" },
      h("a", { href: link, "data-testid": "study-link" }, study.name || `Study ${study.id}`),
    ),
    h("td", {}, axesText(study.axes)),
    h("td", { class: "num" }, (study.seeds || []).join(", ")),
    h(
      "td",
      { class: "col-progress" },
      progressBar(total ? finished / total : 0),
      h("span", { class: "eta muted" }, `${finished}/${total} · ${statusText(counts)}`),
    ),
    h("td", { class: "col-created" }, formatShortDateTime(study.created_at)),
  );
}

/** Mount the list; returns the cleanup that stops polling. */
export function mount(root, { query }) {
  document.title = "Studies · ContrastLab";
  const offset = Math.max(0, Number(query.get("offset")) || 0);
  const controller = new AbortController();
  let timer = null;
  const body = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  root.replaceChildren(
    h("div", { class: "page-head" }, h("h1", {}, "Studies"),
      h("a", { class: "button primary", href: "#/new?mode=study", "data-testid": "new-study" }, "New study")),
    body);

  async function refresh() {
    try {
      const page = await studyApi.list({ limit: PAGE_SIZE, offset }, controller.signal);
      body.replaceChildren(...(page.items.length ? table(page) : [empty()]).filter(Boolean));
      if (page.items.some((s) => (s.status_counts?.queued || 0) + (s.status_counts?.running || 0) > 0))
        timer = setTimeout(refresh, REFRESH_MS);
    } catch (err) {
      if (err.name === "AbortError") return;
      body.replaceChildren(
        h("p", { class: "notice notice-error", role: "alert" }, `Could not load the studies: ${err.message}`),
      );
    }
  }

  function table(page) {
    const pager =
      page.total > PAGE_SIZE
        ? h(
            "div",
            { class: "pager" },
            offset > 0
              ? h("a", { class: "button", href: `#/studies?offset=${Math.max(0, offset - PAGE_SIZE)}` }, "Newer")
              : null,
            h("span", { class: "muted" }, `${offset + 1}–${Math.min(offset + PAGE_SIZE, page.total)} of ${page.total}`),
            offset + PAGE_SIZE < page.total
              ? h("a", { class: "button", href: `#/studies?offset=${offset + PAGE_SIZE}` }, "Older")
              : null,
          )
        : null;
    return [
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { class: "table runs-table", "data-testid": "studies-table" },
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              ["id", "name", "axes", "seeds", "progress", "created"].map((col) => h("th", { scope: "col" }, col)),
            ),
          ),
          h("tbody", {}, page.items.map(studyRow)),
        ),
      ),
      pager,
    ];
  }

  const empty = () => h("section", { class: "empty-state", "data-testid": "studies-empty" },
    h("h2", {}, "No studies yet"),
    h("p", {}, "A study runs a grid of settings over seeds and says which differences are real. ",
      h("a", { href: "#/new?mode=study" }, "Start one"), "."));

  refresh();
  return () => {
    controller.abort();
    clearTimeout(timer);
  };
}
