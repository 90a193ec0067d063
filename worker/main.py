"""Worker entry point: `celery -A worker.main worker`, configured from the environment (the shared Settings)."""

from contrastlab.core.settings import get_settings
from contrastlab.queue import make_celery
from worker.logs import log_json_in_workers

settings = get_settings()
if settings.log_format == "json":
    log_json_in_workers()
app = make_celery(settings.resolved_broker_url, settings.data_dir, settings.queue, settings.visibility_timeout)
