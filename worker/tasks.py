"""Celery tasks: stable names, an id in, the rest read from the API."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from celery import shared_task

from worker.celery_app import TASK_RUN
from worker.reporting import ApiClient
from worker.runner import execute


@shared_task(name=TASK_RUN, acks_late=True, ignore_result=True)
def run_training(run_id: int) -> str:
    api = ApiClient(os.environ.get("API_URL", "http://127.0.0.1:8000"), os.environ.get("API_TOKEN") or None)
    work_dir = Path(os.environ.get("DATA_DIR", "data")) / "work"
    try:
        return execute(int(run_id), api, work_dir, f"{socket.gethostname()}:{os.getpid()}")
    finally:
        api.close()
