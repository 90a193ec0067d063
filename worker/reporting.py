"""The engine's Reporter on a worker: it batches what the engine reports and sends it through the attempt's Lease.

The engine calls `metric`/`message`/`checkpoint` on its hot path; they only
append or hand over. A background thread sends the points every FLUSH_S and
renews the lease; another uploads each epoch's resumable checkpoint (after the
points before it are stored, so a resumed attempt that skips those steps loses
none). A metric point's key is its (name, step), so a point sent again by a
retried batch or by a resumed attempt is stored once. Every call carries the
attempt's lease secret (X-Lease-Secret), which is never logged. Each point, message
and phase is a protocol model as soon as it is reported, so a malformed one fails
the run in the engine's thread, with its reason. A 409 (LeaseLost) means the
lease is gone: training stops and nothing more is written.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from contrastlab.core import protocol
from contrastlab.core.catalog import Artifact, phase_progress
from contrastlab.core.protocol import EventBatch, LogIn, PointIn
from worker.api import Lease, LeaseLost

log = logging.getLogger(__name__)

FLUSH_S = 0.25
PHASE_FLUSH_S = 1.0  # a phase's progress alone (evaluation sends no points) is sent at most this often
RATE_WINDOW_S = 20.0  # a phase's speed is measured over its last this many seconds
MAX_POINTS_PER_BATCH = 5000  # the API takes at most 10,000 per batch
# Set by the worker's SIGTERM handler: stop at the next step and hand the run back.
SHUTDOWN = threading.Event()


def point_key(name: str, step: int) -> str:
    """The idempotency key of a metric point: the same (name, step) is the same point in every attempt."""
    key = f"m{step}:{name}"
    return key if len(key) <= 64 else f"m{step}:{hashlib.sha256(name.encode()).hexdigest()[:40]}"


class HttpReporter:
    """The engine's Reporter, sending to POST /api/runs/{id}/events in batches."""

    def __init__(self, lease: Lease, heartbeat_s: float = 10.0) -> None:
        self.lease, self.heartbeat_s = lease, heartbeat_s
        self.run_id, self.worker, self.attempt = lease.run_id, lease.worker, lease.attempt
        self._points: list[PointIn] = []
        self._logs: list[LogIn] = []
        self._seq = 0
        self._step, self._epoch = 0, 0.0  # the latest training step reported: where system samples sit
        self._progress = 0.0
        self._phase: protocol.Phase | None = None  # sent with the next batch, then None until it changes
        self._phase_samples: deque[tuple[float, int]] = deque()  # (monotonic time, done) of the current phase
        self._phase_name: str | None = None
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._cancel = threading.Event()
        self._stop = threading.Event()
        self._checkpoint: tuple[IO[bytes], int, int] | None = None
        self._checkpoint_ready = threading.Event()
        self.uploaded_checkpoint: tuple[int, int] | None = None  # (epoch, step) of the last one stored
        self.lease_lost = False
        self._threads = [threading.Thread(target=self._loop, name=f"reporter-{self.run_id}", daemon=True),
                         threading.Thread(target=self._upload_loop, name=f"checkpoints-{self.run_id}", daemon=True)]

    # -- the engine's side -------------------------------------------------
    def metric(self, name: str, value: float, step: int, epoch: float) -> None:
        if not math.isfinite(value):
            return  # NaN/inf is not a point on a curve (a non-finite loss fails the run in the engine)
        point = PointIn(key=point_key(name, int(step)), name=name, step=int(step), epoch=float(epoch),
                        value=float(value), time=datetime.now(UTC))
        with self._lock:
            self._points.append(point)
            if step >= self._step:
                self._step, self._epoch = int(step), float(epoch)

    def sample(self, key: str, values: dict[str, float]) -> None:
        """System metrics sampled now (worker/system.py), at the latest training step; `key` names the sample
        (unique in the run), so one taken while the step stands still is kept too."""
        now = datetime.now(UTC)
        with self._lock:
            self._points += [PointIn(key=f"{key}:{name}"[:64], name=name, step=self._step, epoch=self._epoch,
                                     value=float(value), time=now)
                             for name, value in values.items() if math.isfinite(value)]

    def message(self, text: str) -> None:
        with self._lock:
            self._seq += 1
            self._logs.append(LogIn(key=f"a{self.attempt}:{self._seq}", text=text[:2000], time=datetime.now(UTC)))
        log.info("run %s: %s", self.run_id, text)

    def phase(self, name: str, done: int = 0, total: int | None = None, views_per_unit: int = 0) -> None:
        """Note the phase, its speed over the last RATE_WINDOW_S and the run's overall progress; the next batch
        carries them."""
        now = time.monotonic()
        with self._lock:
            samples = self._phase_samples
            if name != self._phase_name:
                self._phase_name = name
                samples.clear()
            samples.append((now, int(done)))
            while len(samples) > 2 and now - samples[1][0] >= RATE_WINDOW_S:
                samples.popleft()
            began, done_then = samples[0]
            rate = (done - done_then) / (now - began) if now - began >= FLUSH_S and done > done_then else None
            self._phase = protocol.Phase(
                name=name, done=int(done), total=total, rate=rate,
                views_per_s=rate * views_per_unit if rate is not None and views_per_unit else None)
            self._progress = max(self._progress, phase_progress(name, done, total))

    def checkpoint(self, path: Path, epoch: int, step: int) -> None:
        """Upload this epoch's resumable checkpoint in the background (a newer one replaces a pending one)."""
        handle = Path(path).open("rb")  # the engine replaces the file atomically; this handle keeps this version
        with self._lock:
            older, self._checkpoint = self._checkpoint, (handle, int(epoch), int(step))
        if older is not None:
            older[0].close()
        self._checkpoint_ready.set()

    def should_stop(self) -> bool:
        return self._cancel.is_set() or SHUTDOWN.is_set()

    @property
    def cancel_requested(self) -> bool:
        return self._cancel.is_set() and not self.lease_lost

    # -- the API's side ----------------------------------------------------
    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def close(self) -> None:
        """Stop the threads and send what is left (raises if the API stays unreachable or refuses it)."""
        self._join_threads()
        if not self.lease_lost:
            with self.keeping_lease():
                self.flush()
                self._upload_pending_checkpoint()

    @contextlib.contextmanager
    def keeping_lease(self) -> Iterator[None]:
        """Heartbeats (empty batches) every heartbeat_s while the block runs, once training's own have stopped:
        the last checkpoint and the run's files may take longer to upload than a lease lasts (large files, a slow
        link, the API refusing uploads while its disk is at the floor), and the lease must not expire under a
        worker that is still sending them."""
        done = threading.Event()

        def beat() -> None:
            while not done.wait(self.heartbeat_s) and not self.lease_lost:
                try:
                    self.flush()
                except Exception:  # the upload in progress says what is wrong; the next beat retries
                    log.exception("run %s: could not renew the lease", self.run_id)

        thread = threading.Thread(target=beat, name=f"lease-{self.run_id}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()

    def stop(self) -> None:
        """Stop the threads and drop what is left unsent: the run is ending with an error. Safe to call twice."""
        self._join_threads()
        with self._lock:
            pending, self._checkpoint = self._checkpoint, None
        if pending is not None:
            pending[0].close()

    def _join_threads(self) -> None:
        self._stop.set()
        self._checkpoint_ready.set()
        for thread in self._threads:
            if thread.is_alive():
                thread.join()

    def flush(self) -> None:
        with self._send_lock:
            while True:
                with self._lock:
                    points, logs, progress = self._points[:MAX_POINTS_PER_BATCH], list(self._logs), self._progress
                    phase = self._phase
                batch = EventBatch(worker=self.worker, attempt=self.attempt, points=points, logs=logs,
                                   progress=progress, phase=phase)
                try:
                    received = self.lease.send(batch)
                except LeaseLost as exc:
                    self._lose_lease(str(exc))
                    return
                with self._lock:
                    del self._points[: len(points)]
                    del self._logs[: len(logs)]
                    if self._phase is phase:  # else a newer one waits for the next batch
                        self._phase = None
                    more = bool(self._points) and len(points) == MAX_POINTS_PER_BATCH
                if received.cancel_requested:
                    self._cancel.set()
                if not more:
                    return

    def _upload_pending_checkpoint(self) -> None:
        with self._lock:
            pending, self._checkpoint = self._checkpoint, None
        if pending is None or self.lease_lost:
            return
        handle, epoch, step = pending
        try:
            self.flush()  # the points up to this checkpoint first: a resumed attempt will not send them again
            self.lease.upload(Artifact.RESUME, handle)
            self.uploaded_checkpoint = (epoch, step)
        except LeaseLost as exc:
            self._lose_lease(str(exc))
        finally:
            handle.close()

    def _lose_lease(self, why: str) -> None:
        log.error("run %s: lease lost (%s); stopping without writing more", self.run_id, why)
        self.lease_lost = True
        self._cancel.set()

    def _loop(self) -> None:
        last_contact = time.monotonic()
        while not self._stop.wait(FLUSH_S) and not self.lease_lost:
            since = time.monotonic() - last_contact
            with self._lock:
                pending = bool(self._points or self._logs) or (self._phase is not None and since >= PHASE_FLUSH_S)
            if not pending and since < self.heartbeat_s:
                continue
            try:
                self.flush()  # an empty batch is the heartbeat: it renews the lease too
                last_contact = time.monotonic()
            except Exception:  # keep training; the next flush retries
                log.exception("run %s: could not report to the API", self.run_id)

    def _upload_loop(self) -> None:
        while not self._stop.is_set() and not self.lease_lost:
            self._checkpoint_ready.wait()
            self._checkpoint_ready.clear()
            if self._stop.is_set():
                return
            try:
                self._upload_pending_checkpoint()
            except Exception:  # the next epoch's checkpoint, or close(), tries again
                log.exception("run %s: could not upload the checkpoint", self.run_id)
