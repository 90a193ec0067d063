"""Worker entry point: `celery -A worker.main worker` (configured from the environment)."""

from worker.celery_app import app_from_environment

app = app_from_environment()
