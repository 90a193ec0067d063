"""Celery workers log JSON lines (LOG_FORMAT=json), each with the id of the run its process is working on."""

from __future__ import annotations

import logging
from typing import Any

from celery.signals import after_setup_logger, after_setup_task_logger, task_postrun, task_prerun

from contrastlab.core.logs import format_as_json, set_process_run_id
from contrastlab.queue import TASK_RUN


def _json_handlers(logger: logging.Logger, **_: Any) -> None:
    format_as_json(logger)


def _task_started(task: Any = None, args: Any = None, **_: Any) -> None:
    if getattr(task, "name", None) == TASK_RUN and args:
        set_process_run_id(int(args[0]))


def _task_ended(**_: Any) -> None:
    set_process_run_id(None)


def log_json_in_workers() -> None:
    """Connect the Celery signals: JSON handlers, and the run id per task."""
    after_setup_logger.connect(_json_handlers, weak=False)
    after_setup_task_logger.connect(_json_handlers, weak=False)
    task_prerun.connect(_task_started, weak=False)
    task_postrun.connect(_task_ended, weak=False)
