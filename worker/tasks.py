"""Celery tasks: stable names, an id in, the rest read from the API."""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

from celery import shared_task
from celery.signals import worker_process_init

from worker.celery_app import TASK_RUN
from worker.reporting import ApiClient
from worker.runner import execute


@worker_process_init.connect
def _preload_engine(**_: object) -> None:
    """Import torch in each pool process as it starts, so a run does not wait for it.

    Importing does not initialise CUDA; that happens in the task, never in the parent.
    """
    try:
        import worker.engine  # noqa: F401
    except Exception:  # noqa: BLE001 - the run reports the import error with its reason
        logging.getLogger(__name__).exception("cannot preload the training engine")


@shared_task(name=TASK_RUN, acks_late=True, ignore_result=True)
def run_training(run_id: int) -> str:
    api = ApiClient(os.environ.get("API_URL", "http://127.0.0.1:8000"), os.environ.get("API_TOKEN") or None)
    work_dir = Path(os.environ.get("DATA_DIR", "data")) / "work"
    try:
        return execute(int(run_id), api, work_dir, f"{socket.gethostname()}:{os.getpid()}")
    finally:
        api.close()
