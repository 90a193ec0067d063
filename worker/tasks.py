"""Celery tasks: stable names, an id in, the rest read from the API; and a warm shutdown that hands runs back."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator

import billiard.process
from celery import shared_task
from celery.exceptions import Reject
from celery.signals import (
    task_received,
    worker_init,
    worker_process_init,
    worker_ready,
    worker_shutdown,
    worker_shutting_down,
)
from celery.worker import state

from contrastlab.core.protocol import WorkerBeat
from contrastlab.core.settings import Settings, get_settings
from contrastlab.queue import PARENT_ENV, TASK_RUN, die_with_parent, kill_group
from worker.api import WorkerApi
from worker.heartbeat import Heartbeat, describe, held_run
from worker.reporting import SHUTDOWN
from worker.runner import execute
from worker.slots import Slots, SlotsWaitInterrupted

log = logging.getLogger(__name__)

MAIN_PID = os.getpid()  # Celery's main process: it imports this module before it starts its pool
PARENT_POLL_S = 0.5


@worker_init.connect
def _watch_parent(**_: object) -> None:
    """In the main process of a worker started by `make run` or `contrastlab worker` (PARENT_ENV set): stop when
    that process is gone, even killed outright."""
    parent = os.environ.get(PARENT_ENV, "")
    if parent.isdigit():
        grace = get_settings().worker_stop_seconds
        threading.Thread(target=watch_parent, args=(int(parent), grace), name="watch-parent", daemon=True).start()


def watch_parent(parent: int, grace: float) -> None:
    """Once the parent is gone, PR_SET_PDEATHSIG has sent this process SIGTERM (Celery's warm shutdown: the run
    in flight is handed back); if the worker still runs `grace` seconds later (a main process stuck in its warm
    shutdown, deaf to SIGTERM and SIGQUIT, was seen), SIGKILL to its process group: the pool goes with it."""
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    log.warning("the process that started this worker (pid %s) is gone: stopping, killed in %s s if still here",
                parent, grace)
    time.sleep(grace)
    log.error("still running %s s after the parent went: killing this worker's processes", grace)
    if os.getpgrp() == os.getpid():  # the group leader (started in a session of its own): the pool is in it
        kill_group(os.getpgrp())
    for child in billiard.process.active_children():
        if child.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)


HEARTBEAT: list[Heartbeat] = []  # the main process's, once the worker is ready


@worker_ready.connect
def _start_heartbeat(sender: object = None, **_: object) -> None:
    """In the main process: beat to the API (name, slots, queues, the run whose message it holds)."""
    name = str(getattr(sender, "hostname", "") or f"worker@{socket.gethostname()}")
    try:
        queues = sorted(queue.name for queue in sender.task_consumer.queues)  # type: ignore[attr-defined]
    except AttributeError:
        queues = [get_settings().queue]

    def beat(stopping: bool) -> WorkerBeat:
        return describe(name, queues, _held_run(), stopping)

    settings = get_settings()
    # One short try per beat (a missed one is sent again at the next interval): a stopping worker's last beat
    # must not hold up its shutdown while the API is away.
    heartbeat = Heartbeat(WorkerApi(settings.resolved_api_url, worker_credential(settings), timeout=3.0, retries=0),
                          beat)
    HEARTBEAT.append(heartbeat)
    heartbeat.start()


def _held_run() -> int | None:
    """The run of the request Celery holds; its sets change under this thread, so a copy may need a second try."""
    for _ in range(3):
        try:
            return held_run([*state.active_requests, *state.reserved_requests])
        except RuntimeError:  # "Set changed size during iteration"
            continue
    return None


@task_received.connect
def _beat_on_receipt(request: object = None, **_: object) -> None:
    """A run's message came in: say so now, before the reconciler might look for it in the broker (a preview's
    changes nothing a beat says)."""
    if getattr(request, "name", TASK_RUN) != TASK_RUN:
        return
    for heartbeat in HEARTBEAT:
        heartbeat.poke()


@worker_shutdown.connect
def _last_beat(**_: object) -> None:
    for heartbeat in HEARTBEAT:
        heartbeat.stop()


@worker_process_init.connect
def _preload_engine(**_: object) -> None:
    """Import torch in each pool process as it starts, so a run does not wait for it; and die with the main
    process (SIGTERM: the run hands itself back), should it be killed alone.

    Importing does not initialise CUDA; that happens in the task, never in the parent. The preview consumer's solo
    pool sends this signal in the main process itself, which already dies with whoever started it; it imports the
    engine at its first preview instead (idle, it holds about 75 MB rather than 900: torch's CUDA build).
    """
    if os.getpid() == MAIN_PID:
        return
    die_with_parent(MAIN_PID)
    # Idle, a pool process outlives SIGTERM (billiard keeps an ignored signal ignored): it ends when its pool
    # closes, at the end of the warm shutdown. Killed by it instead, it left the main process to notice a lost
    # pool process mid-shutdown, which once held `make run`'s stop for the whole grace (30 s). A run's own
    # handler (sigterm_hands_back) takes SIGTERM while it trains; the main process's death still ends this one
    # (its pool's pipe closes).
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        import worker.engine  # noqa: F401
    except Exception:  # the run reports the import error with its reason
        log.exception("cannot preload the training engine")


# This pool process was sent SIGTERM: its worker is stopping. Celery goes on receiving messages while its pool
# drains (seen: the message of the run just handed back, sent again by the API, taken by the same stopping worker,
# which then trained it until it was killed): such a message goes back to the queue unclaimed.
STOPPING = threading.Event()
# Set in the main process when its warm shutdown begins; shared memory made before its pool processes fork, so an
# idle one (deaf to SIGTERM, above) knows too: a run that reaches it then goes back to the queue unclaimed.
WORKER_STOPPING = multiprocessing.RawValue("b", 0)


@contextlib.contextmanager
def sigterm_hands_back() -> Iterator[None]:
    """While a run trains, SIGTERM means "stop at the next step, upload, release the run", not "exit now".

    Installed per task: billiard sets its own handler in each pool process after start-up.
    """
    if not STOPPING.is_set():
        SHUTDOWN.clear()

    def stop(_signum: int, _frame: object) -> None:
        STOPPING.set()
        SHUTDOWN.set()

    previous = signal.signal(signal.SIGTERM, stop)
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
    WORKER_STOPPING.value = 1
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
    if STOPPING.is_set() or WORKER_STOPPING.value:
        raise Reject(f"run {run_id}: worker shutting down; the run is left for another worker", requeue=True)
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
