"""Augmentation preview: a PNG grid of a spec's images and the views training would draw of them.

The API has no torch, so the preview consumer beside the workers draws the grid with the engine's own augment
code (worker/preview.py), while they train, and the route waits for its reply; with no one to draw it (no preview
consumer, and no idle worker that takes previews) it answers 503 at once, saying why.
"""

from __future__ import annotations

import base64
import binascii

from celery.exceptions import TimeoutError as CeleryTimeout
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from backend.access.admission import SubmissionRate, check_spec
from backend.access.security import client_address
from backend.api.deps import CeleryDep, SessionDep, SettingsDep
from backend.errors import InvalidFields, TooManyRequests, Unavailable
from backend.workers.previews import preview_refusal
from contrastlab.core import paths
from contrastlab.core.spec import RunSpec
from contrastlab.queue import TASK_PREVIEW, preview_queue

router = APIRouter(tags=["preview"])

MAX_IMAGES = 16  # the engine's own caps (worker/engine/preview.py)
MAX_VIEWS = 4
PREVIEWS_PER_MINUTE = 60  # per client address: a form redraws as its fields change, debounced
PREVIEW_TIMEOUT_S = 30.0


class PreviewRequest(BaseModel):
    spec: RunSpec = Field(description="The run spec whose dataset and augmentation fields the preview shows.")
    images: int = Field(8, ge=1, le=MAX_IMAGES, description="Rows: training images, picked by a seeded shuffle.")
    views: int = Field(2, ge=1, le=MAX_VIEWS, description="Augmented views drawn of each image.")
    pick_seed: int = Field(0, ge=0, le=2**31 - 1, description="Seed of the shuffle that picks the images; the "
                                                               "views' draws come from the spec's own seed.")


def rate(request: Request) -> SubmissionRate:
    """The per-address preview limiter, made on first use."""
    state = request.app.state
    if not hasattr(state, "previews"):
        state.previews = SubmissionRate(PREVIEWS_PER_MINUTE)
    limiter: SubmissionRate = state.previews
    return limiter


@router.post(paths.PREVIEW_AUGMENTATIONS.removeprefix(paths.API), response_class=Response,
             responses={200: {"content": {"image/png": {}}, "description": "PNG: one row per image, the image "
                                                                          "then its views."},
                        503: {"description": "No preview consumer and no idle worker, or none answered in "
                                              "time; the detail says which."}})
def augmentations(body: PreviewRequest, request: Request, session: SessionDep, celery: CeleryDep,
                  settings: SettingsDep) -> Response:
    """The spec's augmentation preview as the engine draws it (same augment code, the spec's seed): `images`
    rows of the image and `views` views. Drawn by a preview consumer (or an idle worker) within PREVIEW_TIMEOUT_S."""
    check_spec(body.spec, settings, ("body", "spec"))
    wait = rate(request).admit(client_address(request.scope))
    if wait:
        raise TooManyRequests(f"too many previews from this address (at most {PREVIEWS_PER_MINUTE} a minute): "
                              f"try again in {wait} s", wait)
    if why := preview_refusal(session, settings.queue, settings.worker_lost_seconds):
        raise Unavailable(f"no preview: {why}")
    result = celery.send_task(TASK_PREVIEW, args=[body.spec.model_dump(mode="json"), body.images, body.views,
                                                  body.pick_seed],
                              queue=preview_queue(settings.queue), expires=PREVIEW_TIMEOUT_S)
    try:
        reply = result.get(timeout=PREVIEW_TIMEOUT_S, propagate=False)
    except CeleryTimeout:
        raise Unavailable(f"no preview: no worker drew it within {PREVIEW_TIMEOUT_S:.0f} s (the preview consumer "
                          "may be drawing others, or loading a large dataset); try again") from None
    result.forget()  # the reply is read: its copy in the result backend can go now
    if not isinstance(reply, dict) or "png" not in reply:
        why = reply.get("error") if isinstance(reply, dict) else f"the worker failed: {reply}"
        field = reply.get("field", "dataset") if isinstance(reply, dict) else "dataset"
        raise InvalidFields([{"loc": ("body", "spec", field), "msg": why, "type": "value_error",
                              "input": getattr(body.spec, field, None)}])
    try:
        png = base64.b64decode(reply["png"], validate=True)
    except (binascii.Error, TypeError):
        raise Unavailable("no preview: the worker's reply was not an image") from None
    return Response(png, media_type="image/png", headers={"cache-control": "no-store"})
