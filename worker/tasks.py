"""Celery tasks: stable names, an id in, the rest read from the API; and a warm shutdown that hands runs back."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
from collections.abc import Iterator

import billiard.process
from celery import shared_task
from celery.exceptions import Reject
from celery.signals import worker_process_init, worker_shutting_down

from contrastlab.core.settings import Settings, get_settings
from contrastlab.queue import TASK_RUN
from worker.api import WorkerApi
from worker.reporting import SHUTDOWN
from worker.runner import execute
from worker.slots import Slots, SlotsWaitInterrupted

log = logging.getLogger(__name__)


@worker_process_init.connect
def _preload_engine(**_: object) -> None:
    """Import torch in each pool process as it starts, so a run does not wait for it.

    Importing does not initialise CUDA; that happens in the task, never in the parent.
    """
    try:
        import worker.engine  # noqa: F401
    except Exception:  # the run reports the import error with its reason
        log.exception("cannot preload the training engine")


@contextlib.contextmanager
def sigterm_hands_back() -> Iterator[None]:
    """While a run trains, SIGTERM means "stop at the next step, upload, release the run", not "exit now".

    Installed per task: billiard sets its own handler in each pool process after start-up.
    """
    SHUTDOWN.clear()
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: SHUTDOWN.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@worker_shutting_down.connect
def _forward_shutdown(sig: str = "", how: str = "", **_: object) -> None:
    """In the parent: a warm shutdown (SIGTERM to the main process only, as `docker stop` sends it)
    tells each pool process, so a long run hands itself back instead of running to its end."""
    if how != "Warm":
        return
    for child in billiard.process.active_children():
        if child.pid:
            log.info("warm shutdown: asking pool process %s to hand its run back", child.pid)
            os.kill(child.pid, signal.SIGTERM)


def worker_credential(settings: Settings) -> str | None:
    """The token a worker sends: its own WORKER_TOKEN when set (users' tokens cannot act as a worker then),
    else the first API_TOKEN, else none (no-token mode)."""
    for tokens in (settings.worker_tokens, settings.tokens):
        if tokens:
            return tokens[0]
    return None


@contextlib.contextmanager
def device_slots(devices: int) -> Iterator[list[str] | None]:
    """The host's device slots this run holds while it runs (None on a plain worker: the devices it sees).

    Taken before the claim, so a run waiting for devices stays `queued`; a GPU worker's own device first.
    """
    slots = Slots.from_env()
    if slots is None:
        yield None
        return
    with slots.take(devices, SHUTDOWN, prefer=os.environ.get("CUDA_VISIBLE_DEVICES")) as taken:
        yield taken


@shared_task(name=TASK_RUN, acks_late=True, ignore_result=True)
def run_training(run_id: int, devices: int = 1) -> str:
    """Run `run_id` on `devices` devices (the message says how many, so the slots are taken before the claim)."""
    settings = get_settings()  # API_URL, WORKER_TOKEN or API_TOKEN, DATA_DIR, ALLOWED_DATA_ROOTS, parsed once
    api = WorkerApi(settings.resolved_api_url, worker_credential(settings))
    try:
        with sigterm_hands_back(), device_slots(int(devices)) as slots:
            return execute(int(run_id), api, settings, f"{socket.gethostname()}:{os.getpid()}", slots)
    except SlotsWaitInterrupted:
        # Shutting down before the run started: its message goes back to the queue for another worker.
        raise Reject(f"run {run_id}: worker shutting down while the run waited for devices", requeue=True) from None
    finally:
        api.close()
