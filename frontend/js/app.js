// Hash router: maps "#/...", to a view module and mounts it into <main>.
// A view exports `mount(root, {params, query}) -> cleanup` and owns everything it starts
// (timers, EventSources, charts); the router calls the cleanup before the next view mounts.

import * as runsView from "./views/runs.js";
import * as newRunView from "./views/new_run.js";
import * as runView from "./views/run.js";
import * as compareView from "./views/compare.js";
import * as studiesView from "./views/studies.js";
import * as studyView from "./views/study.js";
import * as workersView from "./views/workers.js";
import { h } from "./dom.js";
import { api } from "./api.js";
import { loadCatalog } from "./catalog.js";
import { signOutButton } from "./auth.js";

/** [pattern, view, nav key]; the pattern's groups become `params`. */
const ROUTES = [
  [/^\/?$/, runsView, "runs"],
  [/^\/new$/, newRunView, "new"],
  [/^\/runs\/(\d+)$/, runView, "runs"],
  [/^\/compare$/, compareView, "compare"],
  [/^\/studies$/, studiesView, "studies"],
  [/^\/studies\/(\d+)$/, studyView, "studies"],
  [/^\/workers$/, workersView, "workers"],
];

const notFoundView = {
  mount(root, { path }) {
    document.title = "Not found · ContrastLab";
    root.replaceChildren(
      h("section", { class: "empty-state" },
        h("h1", {}, "Page not found"),
        h("p", {}, `Nothing lives at #${path}. `, h("a", { href: "#/" }, "Back to the runs"))));
    return () => {};
  },
};

const main = document.getElementById("main");
let cleanup = null;
let firstRoute = true;

function parseHash() {
  const raw = decodeURIComponent(location.hash.replace(/^#/, "")) || "/";
  const [path, search = ""] = raw.split("?");
  return { path, query: new URLSearchParams(search) };
}

function route() {
  const { path, query } = parseHash();
  let view = notFoundView;
  let params = [];
  let nav = null;
  for (const [pattern, candidate, key] of ROUTES) {
    const match = pattern.exec(path);
    if (match) {
      view = candidate;
      params = match.slice(1);
      nav = key;
      break;
    }
  }
  if (cleanup) {
    try {
      cleanup();
    } catch (err) {
      console.error("view cleanup failed", err);
    }
  }
  main.replaceChildren();
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === nav) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  cleanup = view.mount(main, { params, query, path }) || null;
  // Move keyboard focus to the new content, as a full page load would (not on the first load).
  if (!firstRoute) main.focus({ preventScroll: true });
  firstRoute = false;
  window.scrollTo(0, 0);
}

document.querySelector("[data-skip]").addEventListener("click", (event) => {
  event.preventDefault(); // "#main" must not be read as a route
  main.focus();
});

/** Load the catalogue (views read labels and formats from it), then route; a failure says so and offers a retry. */
async function start() {
  api.runSpecSchema().catch(() => {}); // fetched alongside; the views that need it report its errors
  try {
    await loadCatalog();
  } catch (err) {
    main.replaceChildren(
      h("section", { class: "empty-state", "data-testid": "catalog-error" },
        h("h1", {}, "Could not load the dashboard"),
        h("p", {}, `The catalogue of metrics and methods did not load: ${err.message}. `,
          h("button", { type: "button", class: "link", onClick: () => start() }, "Try again"))));
    return;
  }
  window.addEventListener("hashchange", route);
  route();
  api.health().then((health) => {
    if (health.auth) document.querySelector(".topbar nav").append(signOutButton());
  }).catch(() => {});
}

start();
