"""JSON log lines that carry the run id (LOG_FORMAT=json), for the API and the Celery workers alike.

The API sets `current_run_id` per request (backend/operations/observability.py). A worker process runs one run at a
time, and its reporter logs from a thread of its own, so the worker keeps the id per process instead
(`set_process_run_id`, from worker/logs.py). Standard library only.
"""

from __future__ import annotations

import contextvars
import json
import logging
import time
from typing import Any

current_run_id: contextvars.ContextVar[int | None] = contextvars.ContextVar("current_run_id", default=None)
_process_run_id: int | None = None


def set_process_run_id(run_id: int | None) -> None:
    """A worker process runs one run at a time: its log lines carry that run's id, whatever the thread."""
    global _process_run_id
    _process_run_id = run_id


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, run_id (when known), exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        run_id = getattr(record, "run_id", None) or current_run_id.get() or _process_run_id
        if run_id is not None:
            entry["run_id"] = run_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def format_as_json(*loggers: logging.Logger) -> None:
    """Every handler of these loggers (the root logger when none is given) writes JSON lines from now on."""
    chosen = loggers or (logging.getLogger(),)
    handlers: set[logging.Handler] = {handler for logger in chosen for handler in logger.handlers}
    if not handlers:
        fallback = logging.StreamHandler()
        chosen[0].addHandler(fallback)
        handlers.add(fallback)
    for handler in handlers:
        handler.setFormatter(JsonFormatter())
