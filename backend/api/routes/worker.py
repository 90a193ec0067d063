"""The worker's side of a run: claim it under a lease, keep the lease, hand it back or finish it."""

from __future__ import annotations

import logging

from fastapi import APIRouter, BackgroundTasks, HTTPException, Request

from backend import artifacts, runs, series
from backend.api.deps import CeleryDep, NotifierDep, RunId, SessionDep, SettingsDep
from backend.schemas import Claim, ClaimGranted, Finish, Heartbeat, LeaseState, Release, RunPublic
from contrastlab.core.catalog import RESUME_ARTIFACT
from contrastlab.queue import send_run

router = APIRouter(prefix="/runs/{run_id}", tags=["worker"])
log = logging.getLogger(__name__)


def _conflict(exc: runs.Conflict) -> HTTPException:
    return HTTPException(status_code=409, detail=str(exc))


def _missing(run_id: int) -> HTTPException:
    return HTTPException(status_code=404, detail=f"run {run_id} not found")


@router.post("/claim", response_model=ClaimGranted)
def claim_run(run_id: RunId, body: Claim, session: SessionDep, settings: SettingsDep,
              notifier: NotifierDep) -> ClaimGranted:
    """409 unless the run is queued: never twice at once (a redelivered message does nothing)."""
    try:
        run = runs.claim(session, run_id, body.worker, settings.lease_seconds)
    except LookupError as exc:
        raise _missing(run_id) from exc
    except runs.Conflict as exc:
        raise _conflict(exc) from exc
    notifier.bump(run_id)
    return ClaimGranted(run=RunPublic.of(run), attempt=run.attempt, lease_seconds=settings.lease_seconds)


@router.post("/heartbeat", response_model=LeaseState)
def heartbeat(run_id: RunId, body: Heartbeat, session: SessionDep, settings: SettingsDep) -> LeaseState:
    try:
        run = runs.renew_lease(session, run_id, body.worker, body.attempt, settings.lease_seconds, body.progress)
    except LookupError as exc:
        raise _missing(run_id) from exc
    except runs.Conflict as exc:
        raise _conflict(exc) from exc
    return LeaseState(cancel_requested=run.cancel_requested, lease_seconds=settings.lease_seconds)


@router.post("/release", response_model=RunPublic)
def release_run(run_id: RunId, body: Release, session: SessionDep, settings: SettingsDep, celery: CeleryDep,
                notifier: NotifierDep) -> RunPublic:
    """A worker shutting down hands its run back: queued again and resent (it resumes from its checkpoint)."""
    try:
        run = runs.release(session, run_id, body.worker, body.attempt, body.reason)
    except runs.Conflict as exc:
        raise _conflict(exc) from exc
    notifier.bump(run_id)
    try:
        send_run(celery, run_id, settings.queue)
    except Exception as exc:  # noqa: BLE001 - the reconciler resends a queued run with no message
        log.error("run %s handed back but not sent (%s); the reconciler will resend it", run_id, exc)
    return RunPublic.of(run)


@router.post("/finish", response_model=RunPublic)
def finish_run(run_id: RunId, body: Finish, session: SessionDep, settings: SettingsDep,
               notifier: NotifierDep, request: Request, background: BackgroundTasks) -> RunPublic:
    try:
        run = runs.finish(session, run_id, body)
    except runs.Conflict as exc:
        raise _conflict(exc) from exc
    if run.status == "succeeded":  # a failed or canceled run keeps its checkpoint, to resume or inspect
        artifacts.discard(session, settings.artifacts_dir, run_id, RESUME_ARTIFACT)
    notifier.bump(run_id)
    # Its curves are downsampled once now, after the response, so that its first chart reads one row per metric.
    background.add_task(series.store_overviews, request.app.state.sessionmaker, run_id)
    return RunPublic.of(run)
