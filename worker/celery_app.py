"""The Celery app, shared by the API (which only sends) and the workers.

Imports no torch: the API builds the same app to enqueue runs. State lives in
our database, not in Celery's result backend, so there is none.
"""

from __future__ import annotations

import os
from pathlib import Path

from celery import Celery

TASK_RUN = "contrastlab.run"
DEFAULT_QUEUE = "contrastlab"
# The broker that needs no server: messages are files under DATA_DIR/broker.
EMBEDDED_BROKER = "filesystem://localhost/"
# Runs last hours; a message should not be redelivered while one trains. The
# database lease, not the broker, decides who owns a run: a redelivered
# message for a run with a live lease does nothing (VISIBILITY_TIMEOUT).
VISIBILITY_TIMEOUT_S = 24 * 3600


def make_celery(broker_url: str, data_dir: Path, queue: str = DEFAULT_QUEUE,
                visibility_timeout: int = VISIBILITY_TIMEOUT_S) -> Celery:
    app = Celery("contrastlab", broker=broker_url, include=["worker.tasks"])
    transport_options: dict[str, object] = {"visibility_timeout": visibility_timeout}
    if visibility_timeout < 600:
        # kombu sweeps for messages to redeliver every interval x throttle seconds (100 s by default);
        # a short timeout only means something if the sweep is about as frequent.
        transport_options.update(unacked_restore_interval=max(1, visibility_timeout // 2),
                                 unacked_restore_throttle=1)
    if broker_url.startswith("filesystem://"):
        folder = (data_dir / "broker" / "queue").resolve()
        processed = (data_dir / "broker" / "processed").resolve()
        control = (data_dir / "broker" / "control").resolve()
        for path in (folder, processed, control):
            path.mkdir(parents=True, exist_ok=True)
        transport_options = {
            "data_folder_in": str(folder),
            "data_folder_out": str(folder),
            "processed_folder": str(processed),
            "control_folder": str(control),
            "store_processed": False,
            # The folder is listed this often for new messages (kombu's default is once a second).
            "polling_interval": 0.1,
        }
    app.conf.update(
        task_default_queue=queue,
        task_ignore_result=True,
        task_acks_late=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        broker_transport_options=transport_options,
        broker_connection_retry_on_startup=True,
        # A submit must answer quickly when the broker is down, not hang.
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5},
        # The filesystem transport has no broadcast: no remote control there.
        worker_enable_remote_control=not broker_url.startswith("filesystem://"),
        worker_hijack_root_logger=False,
        # Task events on (Redis), so Flower and `celery events` see every run's task as it happens.
        worker_send_task_events=not broker_url.startswith("filesystem://"),
        task_send_sent_event=not broker_url.startswith("filesystem://"),
    )
    return app


def send_run(app: Celery, run_id: int, queue: str) -> None:
    """Enqueue one run by id (after its row is committed); a duplicate message is harmless."""
    app.send_task(TASK_RUN, args=[int(run_id)], queue=queue)


def app_from_environment() -> Celery:
    broker = os.environ.get("BROKER_URL") or os.environ.get("REDIS_URL") or EMBEDDED_BROKER
    data_dir = Path(os.environ.get("DATA_DIR", "data"))
    visibility = int(os.environ.get("VISIBILITY_TIMEOUT") or VISIBILITY_TIMEOUT_S)
    if os.environ.get("LOG_FORMAT", "").lower() == "json":
        from worker.logs import log_json_in_workers  # imports this module: not at the top

        log_json_in_workers()
    return make_celery(broker, data_dir, os.environ.get("QUEUE", DEFAULT_QUEUE), visibility)
