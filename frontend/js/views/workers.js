// Workers: every worker process the API has heard from, its devices, what it runs, when it was last heard;
// lost (silent) and stopped ones greyed. A host's preview consumer (role "previews": it draws the form's
// augmentation previews, CPU only) is listed as such, never as a device slot. Refreshed every few seconds in place.

import { api } from "../api.js";
import { h } from "../dom.js";
import { formatDateTime, formatDuration, secondsBetween, DASH } from "../format.js";

const REFRESH_MS = 3000;
const BADGE = { online: "badge-succeeded", lost: "badge-failed", stopped: "badge-canceled" };

const previews = (worker) => worker.role === "previews";

/** "GPU 0, 1", "CPU slot cpu0", "1 GPU" / "1 CPU" for a plain worker, or "previews (CPU)" for a preview consumer. */
export function devicesText(worker) {
  if (previews(worker)) return "previews (CPU)";
  const kind = worker.gpu ? "GPU" : "CPU";
  const slots = worker.slots || [];
  if (!slots.length) return `1 ${kind}`;
  if (worker.gpu) return `GPU ${slots.join(", ")}`;
  return `CPU slot${slots.length === 1 ? "" : "s"} ${slots.join(", ")}`;
}

function activityCell(worker) {
  if (worker.status !== "online") return h("td", { class: "muted" }, DASH);
  if (previews(worker)) return h("td", {}, "draws previews");
  if (worker.activity === "idle") return h("td", {}, "idle");
  const run = h("a", { href: `#/runs/${worker.run_id}`, "data-testid": "worker-run" }, `run #${worker.run_id}`);
  return h("td", {}, worker.activity === "busy" ? "busy: " : "waiting for device slots: ", run);
}

function lastSeen(worker) {
  const seconds = secondsBetween(worker.last_seen);
  const ago = seconds < 60 ? `${Math.round(seconds)} s` : formatDuration(seconds);
  const text = seconds == null ? DASH : seconds < 2 ? "just now" : `${ago} ago`;
  return h("td", { class: "col-created", title: formatDateTime(worker.last_seen) }, text);
}

function workerRow(worker) {
  const gone = worker.status !== "online";
  return h(
    "tr",
    { class: gone ? "worker-gone" : null, "data-worker": worker.name, "data-status": worker.status },
    h("td", { class: "col-name" }, worker.name),
    h("td", {}, h("span", { class: `badge ${BADGE[worker.status] || ""}` }, worker.status)),
    activityCell(worker),
    h("td", {}, devicesText(worker)),
    h("td", { class: "num" }, previews(worker) ? DASH : String(worker.devices)),
    h("td", {}, worker.host || DASH),
    h("td", {}, worker.version || DASH),
    lastSeen(worker),
  );
}

function summary(items) {
  const up = items.filter((w) => w.status === "online");
  const online = up.filter((w) => !previews(w));
  const consumers = up.length - online.length;
  const count = (activity) => online.filter((w) => w.activity === activity).length;
  const doing = [
    [count("busy"), "busy"],
    [count("waiting"), "waiting for device slots"],
    [count("idle"), "idle"],
  ].filter(([n]) => n);
  const largest = Math.max(0, ...online.map((w) => w.devices));
  const gone = items.length - up.length;
  return h(
    "p",
    { class: "muted", "data-testid": "workers-summary" },
    `${online.length} online`,
    doing.length ? ` (${doing.map(([n, what]) => `${n} ${what}`).join(", ")})` : "",
    consumers ? ` · ${consumers} preview consumer${consumers === 1 ? "" : "s"}` : "",
    gone ? ` · ${gone} lost or stopped` : "",
    online.length ? ` · the largest takes runs of up to ${largest} device${largest === 1 ? "" : "s"}` : "",
  );
}

function table(items) {
  const columns = ["name", "status", "run", "devices", "max devices", "host", "version", "last seen"];
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "table runs-table workers-table", "data-testid": "workers-table" },
      h("thead", {}, h("tr", {}, columns.map((col) => h("th", { scope: "col" }, col)))),
      h("tbody", {}, items.map(workerRow)),
    ),
  );
}

const empty = () =>
  h(
    "section",
    { class: "empty-state", "data-testid": "workers-empty" },
    h("h2", {}, "No worker has connected"),
    h("p", {}, "Runs wait in the queue until one does: `make run` starts one beside the API; on a GPU host, ",
      h("code", {}, "contrastlab worker --gpus 0,1"), "."),
  );

/** Mount the list; returns the cleanup that stops polling. */
export function mount(root) {
  document.title = "Workers · ContrastLab";
  const controller = new AbortController();
  let timer = null;
  const body = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  root.replaceChildren(h("div", { class: "page-head" }, h("h1", {}, "Workers")), body);

  async function refresh() {
    try {
      const page = await api.workers(controller.signal);
      // Online first, the workers before the preview consumers, then by name: the API lists the most recently
      // heard first.
      const items = [...page.items].sort(
        (a, b) =>
          (a.status !== "online") - (b.status !== "online") ||
          previews(a) - previews(b) ||
          a.name.localeCompare(b.name),
      );
      body.replaceChildren(...(items.length ? [summary(items), table(items)] : [empty()]));
    } catch (err) {
      if (err.name === "AbortError") return;
      body.replaceChildren(
        h("p", { class: "notice notice-error", role: "alert" }, `Could not load the workers: ${err.message}`),
      );
    }
    timer = setTimeout(refresh, REFRESH_MS);
  }

  refresh();
  return () => {
    controller.abort();
    clearTimeout(timer);
  };
}
