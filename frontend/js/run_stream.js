// A run's metric history (cursor-paged REST) and its live events (Server-Sent Events).

import { api } from "./api.js";

const PAGE = 5000;
const RETRY_MS = 3000;

/**
 * Load every recorded metric point of a run, oldest first.
 * @returns {Promise<{points: object[], cursor: number}>} `cursor`: where the live stream resumes
 */
export async function loadHistory(runId, signal) {
  let cursor = 0;
  const points = [];
  for (;;) {
    const page = await api.metrics(runId, cursor, PAGE, signal);
    const items = page.items || [];
    if (items.length === 0) break;
    for (const item of items) points.push(item);
    const next = Number(page.next_cursor ?? items[items.length - 1].id);
    if (!(next > cursor)) break; // a cursor that does not move would loop forever
    cursor = next;
  }
  return { points, cursor };
}

/**
 * Follow a run's events from `after`. The browser resumes with Last-Event-ID after a dropped
 * connection; if it gives up (HTTP error), we reconnect ourselves from the last id seen.
 * Stops on the `end` event or when the returned function is called.
 * @param {{onMetric, onStatus, onProgress, onLog, onEnd, onConnection}} handlers onProgress gets
 *   {progress, phase} when they change (no status change); onConnection gets "live" | "reconnecting" | "closed"
 * @returns {() => void} close
 */
export function followEvents(runId, after, handlers) {
  let cursor = Number(after) || 0;
  let source = null;
  let closed = false;
  let retryTimer = null;
  const notify = (state) => handlers.onConnection && handlers.onConnection(state);

  const handle = (callback) => (event) => {
    const id = Number(event.lastEventId);
    if (Number.isFinite(id) && id > cursor) cursor = id;
    let data;
    try {
      data = JSON.parse(event.data);
    } catch {
      return;
    }
    if (callback) callback(data);
  };

  function connect() {
    source = new EventSource(api.eventsUrl(runId, cursor));
    source.onopen = () => notify("live");
    source.onerror = () => {
      if (closed) return;
      notify("reconnecting");
      if (source.readyState === EventSource.CLOSED) {
        retryTimer = setTimeout(connect, RETRY_MS);
      }
    };
    source.addEventListener("metric", handle(handlers.onMetric));
    source.addEventListener("status", handle(handlers.onStatus));
    source.addEventListener("progress", handle(handlers.onProgress));
    source.addEventListener("log", handle(handlers.onLog));
    source.addEventListener("end", handle((run) => {
      close(); // without this the browser would reconnect forever
      if (handlers.onEnd) handlers.onEnd(run);
    }));
  }

  function close() {
    if (closed) return;
    closed = true;
    clearTimeout(retryTimer);
    if (source) source.close();
    notify("closed");
  }

  connect();
  return close;
}
