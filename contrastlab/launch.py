"""`make run` and `contrastlab serve`: migrate, start one Celery worker beside the API, serve until stopped.

Run as `python -m contrastlab.launch`. Set START_WORKER=0 to serve the API alone (workers started elsewhere).
The launcher sits outside the API package: it starts the API (backend's app factory and migrations), a worker
process and the preview consumer beside it (by their command lines, never by importing the worker).

Stopping: SIGTERM, SIGINT or SIGHUP (a supervisor, Ctrl-C, a closed terminal) stops the worker and the preview
consumer first, while the API still answers, so the run in flight is handed back; after WORKER_STOP_SECONDS,
whatever is left of their process groups is killed; then the API stops and the launcher ends by the signal it was
sent. A second signal kills them at once. If the launcher itself is killed, each one's main process notices
(PR_SET_PDEATHSIG and a watch on its parent, worker/tasks.py) and stops the same way.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from types import FrameType
from typing import Any

import uvicorn
from pydantic import ValidationError

from backend.main import create_app
from backend.migrate import prestart
from contrastlab import queue
from contrastlab.core.settings import Settings, get_settings
from contrastlab.queue import group_alive, kill_group

log = logging.getLogger("contrastlab")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
# A signal this long after the first is a second one (kill the worker now); sooner, it is a copy: a signal to
# `make run`'s process group reaches the launcher and make, which passes SIGTERM on to it.
REPEAT_S = 1.0
SLOTS = "slots"  # under DATA_DIR: the embedded worker's device slot locks (worker/slots.py)
__all__ = ["GRACEFUL_SHUTDOWN_S", "embedded_slots", "main", "server_options", "start_worker", "start_workers",
           "stop_workers"]


def embedded_slots(gpus: list[str]) -> list[str]:
    """The embedded worker's device slots: every local GPU, or one CPU slot."""
    return gpus or ["cpu0"]


def start_worker(settings: Settings, gpus: list[str] | None = None) -> subprocess.Popen[bytes]:
    """The worker in a session of its own: Celery's main process and its pool stop, or die, together; a signal
    to `make run`'s process group reaches the launcher only, which stops the worker in order.

    It gets every local GPU as device slots (so a 2-GPU host runs a 2-device run), or one CPU slot; with GPUs, a
    fresh pool process per run picks its devices before CUDA starts. Slots are taken under DATA_DIR/slots."""
    gpus = queue.local_gpus() if gpus is None else gpus
    slots = embedded_slots(gpus)
    env = dict(queue.worker_env(settings, dict(os.environ), slots=slots, slots_dir=settings.data_dir.resolve() / SLOTS),
               **{queue.PARENT_ENV: str(os.getpid())})
    log.info("worker with %d device slot(s): %s", len(slots), ", ".join(slots))
    command = queue.worker_command(settings, slots=len(slots), fresh_process=bool(gpus))
    return subprocess.Popen(command, env=env, start_new_session=True,
                            preexec_fn=functools.partial(queue.die_with_parent, os.getpid()))


def start_workers(settings: Settings, gpus: list[str] | None = None) -> list[subprocess.Popen[bytes]]:
    """The worker (start_worker) and the preview consumer beside it, which draws the form's previews while the
    worker trains (CPU only, one preview at a time)."""
    worker = start_worker(settings, gpus)
    return [worker, queue.start_preview_consumer(settings, dict(os.environ))]


def stop_workers(workers: Sequence[subprocess.Popen[bytes]], grace: float,
                 now: threading.Event | None = None) -> None:
    """SIGTERM to each worker's whole group (a warm shutdown: the run in flight is handed back), then, after
    `grace` seconds (or as soon as `now` is set), SIGKILL to whatever of them is left: signalling the main process
    alone left pool processes, or a main process stuck in warm shutdown, running after `make run` had ended."""
    for worker in workers:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(worker.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and not (now is not None and now.is_set()):
        for worker in workers:
            worker.poll()  # reap each main process, or it lingers as a zombie of its group
        if not any(group_alive(worker.pid) for worker in workers):
            return
        time.sleep(0.1)
    if now is not None and now.is_set():
        log.warning("stopped again: killing the workers' process groups now")
    else:
        log.warning("worker still running %s s after SIGTERM: killing its process group", grace)
    for worker in workers:
        kill_group(worker.pid)
        worker.wait()


class Server(uvicorn.Server):
    """uvicorn's server without its own signal handlers: the launcher's Stop owns SIGTERM, SIGINT and SIGHUP.

    uvicorn's handlers stop the API first and then raise the signal again with its default action, which ended
    the launcher on SIGTERM before it could stop the worker (left running, its parent gone)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Stop:
    """The launcher's stop: on the first signal, the workers (in a thread: the API keeps answering while the run is
    handed back), then the API; a second signal (REPEAT_S later or more) kills the workers now, a third ends open
    requests too."""

    def __init__(self) -> None:
        self.signals: list[int] = []
        self.server: Server | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self.now = threading.Event()
        self.thread: threading.Thread | None = None
        self.first_at, self.repeats = 0.0, 0
        self.grace = 30.0  # the worker's warm shutdown, then SIGKILL (WORKER_STOP_SECONDS, set once loaded)

    def install(self) -> None:
        for sig in STOP_SIGNALS:
            signal.signal(sig, self.handle)

    def handle(self, signum: int, _frame: FrameType | None) -> None:
        now = time.monotonic()
        if not self.signals:
            self.first_at = now
        elif now - self.first_at > REPEAT_S:  # copies of the first come at once: make passes SIGTERM on
            self.repeats += 1
            self.now.set()
            if self.server is not None and self.repeats > 1:
                self.server.force_exit = True
        self.signals.append(signum)
        if self.server is not None and self.thread is None:
            self._begin()

    def attach(self, server: Server, workers: list[subprocess.Popen[bytes]]) -> None:
        """The server and workers to stop; a signal that came before them starts the stop now. Signals wait
        meanwhile, so that one stop starts, once."""
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            self.server, self.workers = server, workers
            if self.signals:
                self._begin()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)

    def _begin(self) -> None:
        thread = threading.Thread(target=self._stop, name="stop", daemon=True)
        self.thread = thread
        thread.start()

    def _stop(self) -> None:
        log.info("%s: stopping the workers, then the API", signal.Signals(self.signals[0]).name)
        try:
            self.stop_worker()
        finally:
            if self.server is not None:
                self.server.should_exit = True

    def stop_worker(self) -> None:
        """Stop the workers (once); also when the API ended by itself or by an error."""
        workers, self.workers = self.workers, []
        running = [worker for worker in workers if worker.poll() is None or group_alive(worker.pid)]
        if running:
            stop_workers(running, self.grace, now=self.now)

    def finish(self) -> None:
        """After the API: wait for the stop in flight, or stop the worker here."""
        if self.thread is not None:
            self.thread.join()
        self.stop_worker()

    def exit(self) -> None:
        """End as a supervisor expects after a stop: killed by the signal it sent."""
        if self.signals:
            signal.signal(self.signals[0], signal.SIG_DFL)
            signal.raise_signal(self.signals[0])


GRACEFUL_SHUTDOWN_S = 5  # seconds a stopping API gives open requests and streams


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's options. X-Forwarded-For/-Proto are believed only from FORWARDED_ALLOW_IPS (none by default):
    uvicorn's own default trusts loopback peers, so any local process, or a proxy passing the header through,
    could pick the address the wrong-token limit counts under."""
    trusted = ",".join(ip.strip() for ip in settings.forwarded_allow_ips.split(",") if ip.strip())
    # An open event stream (a browser tab) never closes by itself: without a bound, a stopped API waits for it
    # forever ("Waiting for connections to close"), and `make run`, compose or a test stack hangs on shutdown.
    return {"host": settings.host, "port": settings.port, "log_level": "info", "proxy_headers": bool(trusted),
            "forwarded_allow_ips": trusted or None, "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_S}


def parse_args(argv: list[str] | None) -> None:
    """`--help` says what this is; the service takes its settings from the environment only."""
    import argparse

    argparse.ArgumentParser(
        prog="python -m contrastlab.launch", description="Start ContrastLab on its embedded defaults (what `make "
        "run` runs): migrate the database, then the API and one Celery worker (and its preview consumer) beside "
        "it, until SIGTERM, SIGINT or SIGHUP stops them.", epilog="Settings come from the environment (DATA_DIR, "
        "PORT, DATABASE_URL, REDIS_URL, API_TOKEN, ...); every one is listed in "
        "docs/configuration.md.").parse_args(argv)


def load_settings() -> Settings:
    """The settings, or exit 1 with the reason (e.g. a public HOST without API_TOKEN) in one line."""
    try:
        return get_settings()
    except ValidationError as exc:
        sys.exit("ContrastLab will not start: " + "; ".join(str(e["msg"]).removeprefix("Value error, ")
                                                          for e in exc.errors()))


def settle_heap() -> None:
    """What start-up made (modules, the app, its routes and models) lives as long as the process: frozen, the
    collector's full passes no longer walk it. Ingestion allocates enough (objects per point) to start one every
    20 batches of 2,000 points or so, and each walked the whole start-up heap: about 10 ms a batch on average."""
    gc.collect()
    gc.freeze()


def main(argv: list[str] | None = None) -> None:
    parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = Stop()
    stop.install()  # before anything starts: a signal during the migrations is kept and honoured after them
    settings = load_settings()
    stop.grace = settings.worker_stop_seconds
    try:
        prestart(settings)
        workers = stop.workers = start_workers(settings) if settings.start_worker and not stop.signals else []
        server = Server(uvicorn.Config(create_app(settings), **server_options(settings)))
        settle_heap()
        stop.attach(server, workers)
        log.info("ContrastLab on %s (database %s, broker %s)", settings.resolved_api_url,
                 settings.resolved_database_url.split(":", 1)[0], settings.resolved_broker_url.split(":", 1)[0])
        if not stop.signals:
            server.run()
    finally:
        stop.finish()
    stop.exit()


if __name__ == "__main__":
    main()
