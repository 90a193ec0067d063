"""How a worker talks to the API: retried HTTP calls and a batching Reporter.

The engine calls `metric`/`message` on its hot path; they only append to a
list. A background thread sends the list every FLUSH_S (idempotent keys
"attempt:seq", so a retried batch stores nothing twice) and renews the lease.
A 409 means the lease is gone: training stops and nothing more is written.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

import httpx

log = logging.getLogger(__name__)

FLUSH_S = 0.25
RETRYABLE = {502, 503, 504}


class LeaseLost(Exception):
    """Another attempt owns the run now; this worker must stop writing."""


class ApiClient:
    def __init__(self, base_url: str, token: str | None = None, timeout: float = 30.0) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout)

    def call(self, method: str, path: str, retries: int = 8, **kwargs: Any) -> httpx.Response:
        """Send, retrying connection errors and 5xx with backoff; 2xx/4xx are returned as they are."""
        delay = 0.2
        for attempt in range(retries + 1):
            try:
                response = self.http.request(method, path, **kwargs)
                if response.status_code not in RETRYABLE and response.status_code < 500:
                    return response
                problem = f"HTTP {response.status_code}: {response.text[:200]}"
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            if attempt == retries:
                raise ConnectionError(f"{method} {path} failed after {retries + 1} tries: {problem}")
            log.warning("%s %s: %s; retrying in %.1fs", method, path, problem, delay)
            time.sleep(delay)
            delay = min(delay * 2, 10.0)
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.http.close()


def _now() -> str:
    return datetime.now(UTC).isoformat()


class HttpReporter:
    """The engine's Reporter, sending to POST /api/runs/{id}/events in batches."""

    def __init__(self, api: ApiClient, run_id: int, worker: str, attempt: int, epochs: int,
                 heartbeat_s: float = 10.0) -> None:
        self.api, self.run_id, self.worker, self.attempt = api, run_id, worker, attempt
        self.epochs, self.heartbeat_s = epochs, heartbeat_s
        self._points: list[dict[str, Any]] = []
        self._logs: list[dict[str, Any]] = []
        self._seq = 0
        self._progress = 0.0
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._cancel = threading.Event()
        self._stop = threading.Event()
        self.lease_lost = False
        self._thread = threading.Thread(target=self._loop, name=f"reporter-{run_id}", daemon=True)

    # -- the engine's side -------------------------------------------------
    def metric(self, name: str, value: float, step: int, epoch: float) -> None:
        with self._lock:
            self._seq += 1
            self._points.append({"key": f"{self.attempt}:{self._seq}", "name": name, "step": int(step),
                                 "epoch": float(epoch), "value": float(value), "time": _now()})
            # Training is ~all of a run's time; evaluation after it keeps progress just under 1.
            self._progress = max(self._progress, min(0.99, float(epoch) / max(self.epochs, 1)))

    def message(self, text: str) -> None:
        with self._lock:
            self._seq += 1
            self._logs.append({"key": f"{self.attempt}:{self._seq}", "text": text[:2000], "time": _now()})
        log.info("run %s: %s", self.run_id, text)

    def should_stop(self) -> bool:
        return self._cancel.is_set()

    # -- the API's side ----------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        """Stop the thread and send what is left (raises if the API stays unreachable)."""
        self._stop.set()
        self._thread.join()
        if not self.lease_lost:
            self.flush()

    def flush(self) -> None:
        with self._send_lock:
            with self._lock:
                points, logs, progress = list(self._points), list(self._logs), self._progress
            body = {"worker": self.worker, "attempt": self.attempt, "points": points, "logs": logs,
                    "progress": progress}
            response = self.api.call("POST", f"/api/runs/{self.run_id}/events", json=body)
            if response.status_code == 409:
                self._lose_lease(response.text)
                return
            response.raise_for_status()
            with self._lock:
                del self._points[: len(points)]
                del self._logs[: len(logs)]
            if response.json().get("cancel_requested"):
                self._cancel.set()

    def _lose_lease(self, why: str) -> None:
        log.error("run %s: lease lost (%s); stopping without writing more", self.run_id, why)
        self.lease_lost = True
        self._cancel.set()

    def _loop(self) -> None:
        last_contact = time.monotonic()
        while not self._stop.wait(FLUSH_S) and not self.lease_lost:
            with self._lock:
                pending = bool(self._points or self._logs)
            if not pending and time.monotonic() - last_contact < self.heartbeat_s:
                continue
            try:
                self.flush()  # an empty batch is the heartbeat: it renews the lease too
                last_contact = time.monotonic()
            except Exception:  # noqa: BLE001 - keep training; the next flush retries
                log.exception("run %s: could not report to the API", self.run_id)
