// The one HTTP client every view uses: JSON in, JSON out, errors as ApiError.

import { signIn } from "./auth.js";

/** An HTTP error with the status and the parsed `detail` of FastAPI's body. */
export class ApiError extends Error {
  /**
   * @param {number} status HTTP status (0 when the server could not be reached)
   * @param {unknown} detail FastAPI's `detail`: a string, or a list of validation errors for 422
   */
  constructor(status, detail) {
    super(describeDetail(status, detail));
    this.name = "ApiError";
    this.status = status;
    this.detail = detail;
  }

  /** Validation errors of a 422 as `[{loc, msg, type}]`, else an empty list. */
  get validationErrors() {
    return Array.isArray(this.detail) ? this.detail : [];
  }
}

function describeDetail(status, detail) {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail.map((e) => `${(e.loc || []).slice(1).join(".") || "request"}: ${e.msg}`).join("; ");
  }
  if (status === 0) return "Cannot reach the ContrastLab server";
  return `Request failed with HTTP ${status}`;
}

/**
 * Send a request and return the parsed JSON body.
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body] sent as JSON when given
 * @param {AbortSignal} [signal]
 */
export async function request(method, path, body, signal, retried = false) {
  // X-Requested-With: the server refuses state changes without it, which a page on another site cannot send.
  const init = { method, headers: { Accept: "application/json", "X-Requested-With": "contrastlab" }, signal };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    if (err && err.name === "AbortError") throw err;
    throw new ApiError(0, null);
  }
  if (response.status === 401 && !retried) {
    await signIn(); // the server wants its API token: ask once, then the session cookie carries it
    return request(method, path, body, signal, true);
  }
  // An image (the augmentation preview) comes back as a Blob, for an <img> to show through an object URL.
  if (response.ok && (response.headers.get("content-type") || "").startsWith("image/")) return response.blob();
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!response.ok) {
    const detail = data && typeof data === "object" && "detail" in data ? data.detail : data;
    throw new ApiError(response.status, detail);
  }
  return data;
}

const get = (path, signal) => request("GET", path, undefined, signal);

/** Query parameters given once per value (a value may hold a comma): the runs list's `spec` filters. */
const REPEATED = new Set(["spec"]);

/** URL query from an object; arrays become comma-separated (or repeated, for REPEATED keys), empty values are
 * left out. */
function queryString(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (REPEATED.has(key) && Array.isArray(value)) {
      for (const item of value) search.append(key, String(item));
      continue;
    }
    const text = Array.isArray(value) ? value.join(",") : value;
    if (text !== undefined && text !== null && text !== "") search.set(key, String(text));
  }
  return search.toString();
}

const schemaCache = { promise: null };
const catalogCache = { promise: null };

/** GET once per page load and keep the promise (a failed request is forgotten, so the next call retries). */
function once(path, cache) {
  if (!cache.promise) {
    cache.promise = get(path).catch((err) => {
      cache.promise = null;
      throw err;
    });
  }
  return cache.promise;
}

/** Endpoints of the REST API, one function each. */
export const api = {
  health: () => get("/api/health"),
  /** A page of runs; `params`: limit, offset, sort, order, status, method, dataset, encoder, q, group_id, ids. */
  listRuns: (params = {}, signal) => get(`/api/runs?${queryString(params)}`, signal),
  getRun: (id, signal) => get(`/api/runs/${id}`, signal),
  workers: (signal) => get("/api/workers", signal),
  createRun: (spec) => request("POST", "/api/runs", spec),
  /** A spec's augmentation preview as a PNG Blob: `{spec, images, views}`; 503 when no one can draw it now. */
  previewAugmentations: (body, signal) => request("POST", "/api/preview/augmentations", body, signal),
  createGroup: (spec, seeds) => request("POST", "/api/runs/group", { spec, seeds }),
  cancelRun: (id) => request("POST", `/api/runs/${id}/cancel`),
  /** Move a finished run to the trash (restoreRun brings it back whole). */
  deleteRun: (id) => request("DELETE", `/api/runs/${id}`),
  /** Name, tags (the whole list) or notes: `{name?, tags?, notes?}`. */
  patchRun: (id, fields) => request("PATCH", `/api/runs/${id}`, fields),
  restoreRun: (id) => request("POST", `/api/runs/${id}/restore`),
  /** A selection (`ids`) or a seed group (`group_id`) to the trash, all or none. */
  trashRuns: (params) => request("DELETE", `/api/runs?${queryString(params)}`),
  restoreRuns: (ids) => request("POST", "/api/runs/restore", { ids }),
  /** What the trash holds: `{runs, studies, file_bytes, record_bytes, trash_days}`. */
  trash: (signal) => get("/api/trash", signal),
  /** Remove what the trash holds for good; answers what went and the bytes freed. */
  emptyTrash: () => request("DELETE", "/api/trash"),
  patchStudy: (id, fields) => request("PATCH", `/api/studies/${id}`, fields),
  /** Downsampled series of a run's metrics: `{names, x: "step"|"epoch"|"time", points}`. */
  series: (id, params = {}, signal) => get(`/api/runs/${id}/series?${queryString(params)}`, signal),
  metricsCsvUrl: (id) => `/api/runs/${id}/metrics.csv`,
  /** A JSON artifact of a run (e.g. evaluation.json); 404 when the run has none. */
  artifactJson: (id, name, signal) => get(`/api/runs/${id}/artifacts/${encodeURIComponent(name)}`, signal),
  metrics: (id, after = 0, limit = 5000, signal) =>
    get(`/api/runs/${id}/metrics?after=${after}&limit=${limit}`, signal),
  log: (id, after = 0, signal) => get(`/api/runs/${id}/log?after=${after}`, signal),
  artifacts: (id, signal) => get(`/api/runs/${id}/artifacts`, signal),
  embeddings: (id, signal) => get(`/api/runs/${id}/embeddings`, signal),
  eventsUrl: (id, after = 0) => `/api/runs/${id}/events?after=${after}`,

  /** The RunSpec JSON Schema; fetched once per page load (it only changes with a deploy). */
  runSpecSchema: () => once("/api/schema/run-spec", schemaCache),
  /** The catalogue of methods, datasets, metrics, statuses and artifacts; read it through catalog.js. */
  catalog: () => once("/api/schema/catalog", catalogCache),
};
