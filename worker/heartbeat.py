"""A worker process says it is alive: a thread in Celery's main process posts a WorkerBeat every few seconds.

The beat names the worker (its Celery node name), what it offers (its host's device slots, its queues) and the
run whose message it holds: the request Celery has received and not finished, so a run waiting for device slots
counts as held (the reconciler then leaves it alone: no duplicate send). The API answers with how often to beat.
A beat that fails is logged once and tried again at the next interval: the heartbeat never stops a worker.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Iterable
from importlib import metadata

from contrastlab.core.protocol import WorkerBeat
from contrastlab.queue import TASK_RUN
from worker.api import WorkerApi
from worker.slots import Slots, is_gpu

log = logging.getLogger(__name__)

FIRST_INTERVAL_S = 10.0  # until the API's first answer says otherwise
# Celery sends task_received just before it records the request: a poked beat waits this long to see it.
POKE_DELAY_S = 0.1


def version() -> str:
    try:
        return metadata.version("contrastlab")
    except metadata.PackageNotFoundError:
        return "unknown"


def held_run(requests: Iterable[object]) -> int | None:
    """The run id of the first of Celery's received requests that is a run (args: [run_id])."""
    for request in requests:
        if getattr(request, "name", None) == TASK_RUN:
            args = getattr(request, "args", None) or [None]
            try:
                return int(args[0])
            except (TypeError, ValueError):
                continue
    return None


def describe(name: str, queues: list[str], run_id: int | None, stopping: bool = False) -> WorkerBeat:
    """This process's beat: device slots from `contrastlab worker` (or a plain one-device worker)."""
    slots = Slots.from_env()
    names = list(slots.names) if slots is not None else []
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").strip()  # a plain worker: whether it was given a GPU
    gpu = is_gpu(names[0]) if names else visible not in ("", "-1")
    return WorkerBeat(name=name[:200], host=socket.gethostname()[:200], devices=max(1, len(names)), slots=names,
                      gpu=gpu, queues=queues, version=version(), run_id=run_id, stopping=stopping)


class Heartbeat:
    """Posts `beat()` now, then every interval (the API's heartbeat_seconds) until stopped; `poke` beats at once."""

    def __init__(self, api: WorkerApi, beat: Callable[[bool], WorkerBeat]) -> None:
        self.api, self.beat = api, beat
        self.interval = FIRST_INTERVAL_S
        self._wake, self._stop = threading.Event(), threading.Event()
        self._failing = False
        self.thread = threading.Thread(target=self._loop, name="worker-heartbeat", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def poke(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 3.0) -> None:
        """Stop beating and send the last beat (stopping), so the page shows the worker stopped, not lost."""
        self._stop.set()
        self._wake.set()
        if self.thread.is_alive():
            self.thread.join(timeout)
        self.send(stopping=True)

    def send(self, stopping: bool = False) -> None:
        try:
            seen = self.api.beat(self.beat(stopping))
        except Exception as exc:  # the API may be down or refuse (too many workers): try again later
            if not self._failing:
                log.warning("heartbeat to the API failed (%s); trying again every %.0f s", exc, self.interval)
            self._failing = True
            return
        if self._failing:
            log.info("heartbeat to the API works again")
        self._failing = False
        self.interval = seen.heartbeat_seconds

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.send()
            if self._wake.wait(self.interval) and not self._stop.is_set():
                self._stop.wait(POKE_DELAY_S)
            self._wake.clear()
