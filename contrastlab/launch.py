"""`make run` and `contrastlab serve`: migrate, start one Celery worker beside the API, serve until Ctrl-C.

Run as `python -m contrastlab.launch`. Set START_WORKER=0 to serve the API alone (workers started elsewhere).
The launcher sits outside the API package: it starts the API (backend's app factory and migrations) and a worker
process (by its command line, never by importing the worker).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from typing import Any

import uvicorn
from pydantic import ValidationError

from backend.main import create_app
from backend.migrate import prestart
from contrastlab.core.settings import Settings, get_settings
from contrastlab.queue import die_with_parent, worker_command, worker_env

log = logging.getLogger("contrastlab")


def start_worker(settings: Settings) -> subprocess.Popen[bytes]:
    """The worker in a process group of its own: Celery's main process and its pool stop, or die, together."""
    return subprocess.Popen(worker_command(settings), env=worker_env(settings, dict(os.environ)),
                            preexec_fn=die_with_parent, start_new_session=True)


WORKER_STOP_S = 30  # a warm shutdown's time to stop at the next step, upload and hand the run back


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def stop_worker(worker: subprocess.Popen[bytes], grace: float = WORKER_STOP_S) -> None:
    """SIGTERM to the worker's whole group (a warm shutdown: the run in flight is handed back), then, after
    `grace` seconds, SIGKILL to whatever of it is left: signalling the main process alone left pool processes,
    or a main process stuck in warm shutdown, running after `make run` had ended."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(worker.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        worker.poll()  # reap the main process, or it lingers as a zombie of the group
        if not _group_alive(worker.pid):
            return
        time.sleep(0.1)
    log.warning("worker still running %s s after SIGTERM: killing its process group", grace)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()


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


def load_settings() -> Settings:
    """The settings, or exit 1 with the reason (e.g. a public HOST without API_TOKEN) in one line."""
    try:
        return get_settings()
    except ValidationError as exc:
        sys.exit("ContrastLab will not start: " + "; ".join(str(e["msg"]).removeprefix("Value error, ")
                                                          for e in exc.errors()))


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings()
    prestart(settings)
    worker = start_worker(settings) if settings.start_worker else None
    log.info("ContrastLab on %s (database %s, broker %s)", settings.resolved_api_url,
             settings.resolved_database_url.split(":", 1)[0], settings.resolved_broker_url.split(":", 1)[0])
    try:
        uvicorn.run(create_app(settings), **server_options(settings))
    finally:
        if worker is not None:
            stop_worker(worker)


if __name__ == "__main__":
    main()
