// The studies endpoints of the REST API (backend/api/routes/studies.py), on the shared HTTP client.

import { request } from "./api.js";

const get = (path, signal) => request("GET", path, undefined, signal);

/** A URL query from an object, leaving out empty values. */
function queryString(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, String(value));
  }
  return search.toString();
}

export const studyApi = {
  /** Create a study: `{name, base: RunSpec fields, axes: {field: [values]}, seeds}` -> `{id, name, runs, cells}`. */
  create: (body) => request("POST", "/api/studies", body),
  /** A page of studies: `{items: [{id, name, created_at, axes, seeds, status_counts}], total}`. */
  list: (params = {}, signal) => get(`/api/studies?${queryString(params)}`, signal),
  /** A study: base, axes, seeds, status_counts, run_ids, cells `[{key, values, runs}]`. */
  get: (id, signal) => get(`/api/studies/${id}`, signal),
  /** Per-cell mean ± CI of a metric and each cell against the baseline cell (Welch, Holm, P(better)); with
   * `paired`, each cell's metric against that second metric of the same runs (`paired.comparisons`). */
  stats: (id, metric, baseline, signal, paired = "") =>
    get(`/api/studies/${id}/stats?${queryString({ metric, baseline, paired })}`, signal),
  /** More seeds for chosen cells: `{seeds: N, cells?: [key]}` -> the new runs. */
  extend: (id, body) => request("POST", `/api/studies/${id}/extend`, body),
  /**
   * Each cell's curves as mean ± std over its runs on a common grid of `points` buckets per metric:
   * `{x_axis, points, finished, curves: {metric: [{key, x, mean, std, n}]}}` (std null where one run counts).
   */
  curves: (id, { points, x = "step", names = "" } = {}, signal) =>
    get(`/api/studies/${id}/curves?${queryString({ points, x, names })}`, signal),
  /** The study's runs (RunPublic, with study_id). */
  runs: (id, signal) => get(`/api/runs?${queryString({ study_id: id, limit: 500, sort: "id", order: "asc" })}`, signal),
  /** The report for a paper (`format` md, tex or html; `svg`: its figure), for the chosen metric and baseline. */
  reportUrl: (id, format, metric, baseline) => format === "svg"
    ? `/api/studies/${id}/report/figure.svg?${queryString({ metric, baseline })}`
    : `/api/studies/${id}/report?${queryString({ format, metric, baseline })}`,
  cancel: (id) => request("POST", `/api/studies/${id}/cancel`),
  remove: (id) => request("DELETE", `/api/studies/${id}`),
};
