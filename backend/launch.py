"""`make run`: migrate, start one Celery worker beside the API, serve until Ctrl-C.

Set START_WORKER=0 to serve the API alone (workers started elsewhere).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from typing import Any

import uvicorn
from pydantic import ValidationError

from backend.main import create_app
from backend.migrate import upgrade, wait_for_database
from contrastlab.core.settings import Settings, get_settings
from contrastlab.queue import die_with_parent, worker_command, worker_env

log = logging.getLogger("contrastlab")


def prestart(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    wait_for_database(settings.resolved_database_url)
    upgrade(settings.resolved_database_url)


def start_worker(settings: Settings) -> subprocess.Popen[bytes]:
    return subprocess.Popen(worker_command(settings), env=worker_env(settings, dict(os.environ)),
                            preexec_fn=die_with_parent)


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
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()


if __name__ == "__main__":
    main()
