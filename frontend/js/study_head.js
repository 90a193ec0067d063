// The study page's head: title and subtitle, overall progress, the metric menu (metrics some run recorded),
// and the actions (add seeds, cancel, delete). Functions of the StudyView (views/study.js).

import { h, setText, updateProgressBar } from "./dom.js";
import { confirmDialog } from "./confirm.js";
import { formatDateTime } from "./format.js";
import { STATUS, datasetLabel, metricLabel, zeroStatusCounts } from "./catalog.js";
import { studyApi } from "./study_api.js";
import { axisValueText } from "./study_table.js";

/** The metrics the menu offers: judged ones that some succeeded run recorded a final value of (all of them until
 * a run has finished), and always the chosen one. */
export function recordedMetrics(judged, runs, chosen) {
  const done = runs.filter((run) => run.status === STATUS.succeeded);
  if (!done.length) return judged;
  return judged.filter((name) => name === chosen ||
    done.some((run) => typeof run.summary?.[name] === "number" && Number.isFinite(run.summary[name])));
}

export function renderMetricOptions(view, judged) {
  const names = recordedMetrics(judged, [...view.runsById.values()], view.metric);
  const shown = [...view.metricSelect.options].map((o) => o.value).join();
  if (shown === names.join()) return;
  view.metricSelect.replaceChildren(
    ...names.map((name) => h("option", { value: name, selected: name === view.metric }, metricLabel(name))));
}

/** A grid's cells and seeds; a search's trials on its first seed and the confirmation on the fresh ones (the
 * study's seeds gain them when the confirmation starts). */
function runsText(study) {
  const { search, seeds } = study;
  if (!search) return [`${study.cells.length} cells × ${seeds.length} seeds`, `seeds ${seeds.join(", ")}`];
  const confirmation = seeds.length > 1 ? `seeds ${seeds.slice(1).join(", ")}` : `${search.confirm_seeds} fresh seeds`;
  return [`search: ${search.trials} trials on seed ${seeds[0]}`, `confirmation on ${confirmation}`];
}

export function renderHead(view) {
  const { study } = view;
  setText(view.title, study.name || `Study #${study.id}`);
  document.title = `${study.name || `Study #${study.id}`} · ContrastLab`;
  const base = study.base || {};
  const fixed = ["method", "dataset", "encoder", "epochs"].filter((key) => !(key in study.axes) && key in base)
    .map((key) => `${key} ${key === "dataset" ? datasetLabel(base[key]) : axisValueText(key, base[key])}`);
  setText(view.subtitle, [`#${study.id}`, formatDateTime(study.created_at), ...runsText(study), ...fixed]
    .join(" · "));
  const counts = zeroStatusCounts();
  for (const id of study.run_ids) {
    const status = view.runsById.get(id)?.status || STATUS.queued;
    counts[status] = (counts[status] || 0) + 1;
  }
  const total = study.run_ids.length;
  const finished = counts.succeeded + counts.failed + counts.canceled + (counts.pruned || 0);
  updateProgressBar(view.progress, total ? finished / total : 0);
  const extra = [STATUS.running, STATUS.queued, STATUS.failed, STATUS.canceled, STATUS.pruned]
    .filter((s) => counts[s])
    .map((s) => `${counts[s]} ${s}`);
  setText(view.progressText, `${finished} of ${total} runs finished${extra.length ? ` · ${extra.join(" · ")}` : ""}`);
  renderActions(view, finished < total, counts.running > 0);
}

function renderActions(view, unfinished, running) {
  const extend = h("button", { type: "button", class: "button", "data-testid": "study-extend",
    title: "Add seeds to the chosen cells: new runs of this study", onClick: () => extendStudy(view) }, "Add seeds");
  const cancel = unfinished
    ? h("button", { type: "button", class: "button", "data-testid": "study-cancel", onClick: () => cancelStudy(view) },
      "Cancel study")
    : null;
  const remove = h("button", {
    type: "button", class: "button danger", "data-testid": "study-delete", disabled: running,
    title: running ? "Cancel the study first: runs are still running" : null, onClick: () => removeStudy(view),
  }, "Delete");
  view.actions.replaceChildren(...[exportMenu(view), extend, cancel, remove].filter(Boolean));
}

const REPORTS = [
  ["md", "Markdown (.md)", "The results table; it references figure.svg"],
  ["tex", "LaTeX table (.tex)", "A booktabs tabular with the statistics named in its caption; needs figure.svg"],
  ["html", "HTML page", "The table and the figure in one page"],
  ["svg", "Figure (.svg)", "Each cell's mean with its 95 % interval, the baseline dashed"],
];

/** "Export report": links to the report in each format for the chosen metric and baseline. One menu element per
 * view, kept across refreshes so that an open menu stays open; its links follow the view's metric and baseline
 * (set again as it opens: a finished study's page no longer polls). */
function exportMenu(view) {
  if (!view.exportMenu) {
    view.exportLinks = REPORTS.map(([format, label, title]) => h("a", { class: "menu-item", title,
      target: "_blank", rel: "noopener", "data-testid": `study-report-${format}` }, label));
    view.exportMenu = h("details", { class: "columns-menu export-menu", "data-testid": "study-export",
      onToggle: () => setExportLinks(view) },
    h("summary", { class: "button" }, "Export report"),
    h("div", { class: "columns-list export-list" }, view.exportLinks));
  }
  setExportLinks(view);
  return view.exportMenu;
}

function setExportLinks(view) {
  REPORTS.forEach(([format], i) => {
    const url = studyApi.reportUrl(view.id, format, view.metric, view.baseline);
    if (view.exportLinks[i].getAttribute("href") !== url) view.exportLinks[i].setAttribute("href", url);
  });
}

/** Ask how many seeds, for which cells (the baseline and the compared cell by default: all), then add them. */
async function extendStudy(view) {
  const count = h("input", { type: "number", min: 1, max: 100, value: 3, id: "extend-seeds",
    "data-testid": "extend-seeds" });
  const boxes = view.study.cells.map((cell) => h("input", { type: "checkbox", value: cell.key, checked: true,
    "data-testid": "extend-cell" }));
  const body = h("div", { class: "extend-form" },
    h("label", { for: "extend-seeds" }, "New seeds per cell ", count),
    h("fieldset", {}, h("legend", {}, "Cells"), view.study.cells.map((cell, i) =>
      h("label", { class: "check" }, boxes[i], ` ${cell.key}`))));
  const ok = await confirmDialog({ title: "Add seeds", body, confirmLabel: "Add seeds" });
  if (!ok) return;
  const cells = boxes.filter((box) => box.checked).map((box) => box.value);
  try {
    await studyApi.extend(view.id, { seeds: Number(count.value), cells });
  } catch (err) {
    view.showNotice(`Could not add seeds: ${err.message}`);
  }
  view.refreshNow();
}

async function cancelStudy(view) {
  try {
    await studyApi.cancel(view.id);
  } catch (err) {
    view.showNotice(`Could not cancel the study: ${err.message}`);
  }
  view.refreshNow();
}

async function removeStudy(view) {
  const ok = await confirmDialog({
    title: `Move study #${view.id} to the trash?`,
    body: `“${view.study.name}” and its ${view.study.run_ids.length} runs, with their metrics and files, stay in the ` +
      "trash until it is emptied (POST /api/studies/{id}/restore or the runs list's Trash brings them back).",
    confirmLabel: "Move to trash",
  });
  if (!ok) return;
  try {
    await studyApi.remove(view.id);
    location.hash = "#/studies";
  } catch (err) {
    view.showNotice(`Could not delete the study: ${err.message}`);
  }
}
