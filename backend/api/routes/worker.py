"""The worker's side of a run: claim it under a lease, hand it back or finish it.

Workers renew the lease with their event batches (an empty one is the heartbeat), on /events. The claim's answer
carries the attempt's lease secret; every later call sends it as X-Lease-Secret (409 without it). With
WORKER_TOKEN set, these routes take only the worker token (backend.access.security).
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, BackgroundTasks, Request

from backend.api.deps import CeleryDep, LeaseSecret, NotifierDep, RunId, SessionDep, SettingsDep
from backend.api.routes import search
from backend.runs import artifacts, lifecycle, series
from backend.runs.schemas import RunPublic
from contrastlab.core.catalog import Artifact, Status
from contrastlab.core.protocol import Claim, ClaimGranted, Finish, Release
from contrastlab.queue import send_run, spec_devices

router = APIRouter(prefix="/runs/{run_id}", tags=["worker"])
log = logging.getLogger(__name__)


@router.post("/claim", response_model=ClaimGranted)
def claim_run(run_id: RunId, body: Claim, session: SessionDep, settings: SettingsDep,
              notifier: NotifierDep) -> ClaimGranted:
    """409 unless the run is queued: never twice at once (a redelivered message does nothing). The answer holds
    the attempt's lease secret, given to this caller only and never again."""
    run, secret = lifecycle.claim(session, run_id, body.worker, settings.lease_seconds)
    notifier.bump(run_id)
    return ClaimGranted(run=RunPublic.model_validate(run).model_dump(mode="json"), attempt=run.attempt,
                        lease_seconds=settings.lease_seconds, lease_secret=secret)


@router.post("/release", response_model=RunPublic)
def release_run(run_id: RunId, body: Release, session: SessionDep, settings: SettingsDep, celery: CeleryDep,
                notifier: NotifierDep, lease_secret: LeaseSecret = None) -> RunPublic:
    """A worker shutting down hands its run back: queued again and resent (it resumes from its checkpoint)."""
    run = lifecycle.release(session, run_id, body.worker, body.attempt, body.reason, lease_secret)
    notifier.bump(run_id)
    try:
        send_run(celery, run_id, settings.queue, spec_devices(run.spec))
    except Exception as exc:  # any broker error: the reconciler resends a queued run with no message
        log.error("run %s handed back but not sent (%s); the reconciler will resend it", run_id, exc)
    return RunPublic.model_validate(run)


@router.post("/finish", response_model=RunPublic)
def finish_run(run_id: RunId, body: Finish, session: SessionDep, settings: SettingsDep, celery: CeleryDep,
               notifier: NotifierDep, request: Request, background: BackgroundTasks,
               lease_secret: LeaseSecret = None) -> RunPublic:
    """The run's final status; 409 unless the caller holds the lease (its X-Lease-Secret)."""
    run = lifecycle.finish(session, run_id, body, lease_secret)
    if run.status == Status.SUCCEEDED:  # a failed or canceled run keeps its checkpoint, to resume or inspect
        artifacts.discard(session, settings.artifacts_dir, run_id, Artifact.RESUME)
    notifier.bump(run_id)
    search.after_final(session, run, request, celery, settings, notifier)  # a search's next trials or confirmation
    # Its curves are downsampled once now, after the response, so that its first chart reads one row per metric.
    background.add_task(series.store_overviews, request.app.state.sessionmaker, run_id)
    return RunPublic.model_validate(run)
