"""The preview task: a worker draws a spec's augmentation preview with the engine's own augment code.

It runs in a pool process like a run (torch is there already), answers through Celery's result backend, and
never touches the database or the API: the route that sent it waits for the reply.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

from celery import shared_task
from pydantic import ValidationError

from contrastlab.core.catalog import DATASETS, DATASETS_FOLDER
from contrastlab.core.settings import get_settings
from contrastlab.core.spec import RunSpec
from contrastlab.queue import PREVIEW_EXPIRES_S, TASK_PREVIEW

log = logging.getLogger(__name__)


@shared_task(name=TASK_PREVIEW, ignore_result=False, acks_late=False, expires=PREVIEW_EXPIRES_S)
def draw_preview(spec: dict[str, Any], images: int, views: int, pick_seed: int) -> dict[str, str]:
    """{"png": base64 PNG} of the spec's preview, or {"error": why, "field": the spec field at fault}."""
    from worker.engine.errors import TrainingFailed
    from worker.engine.preview import preview_png

    settings = get_settings()
    try:
        run_spec = RunSpec.model_validate(spec)
    except ValidationError as exc:
        first = exc.errors()[0]
        return {"error": str(first["msg"]), "field": ".".join(str(part) for part in first["loc"])}
    root = settings.data_dir / DATASETS_FOLDER if DATASETS[run_spec.dataset].source == "download" else None
    try:
        png = preview_png(run_spec, images, views, pick_seed, root, settings.data_roots, settings.loader)
    except (TrainingFailed, OSError, ValueError, RuntimeError) as exc:
        log.warning("preview of %s failed: %s", run_spec.dataset, exc)
        field = "data_path" if run_spec.dataset == "image_folder" else "dataset"
        return {"error": f"cannot preview {run_spec.dataset}: {exc}", "field": field}
    return {"png": base64.b64encode(png).decode("ascii")}
