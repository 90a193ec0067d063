"""Runs: submit, list, read, cancel."""

from __future__ import annotations

import logging

from fastapi import APIRouter, HTTPException, Query
from kombu.exceptions import OperationalError

from backend import runs
from backend.api.deps import CeleryDep, NotifierDep, RunDep, SessionDep, SettingsDep
from backend.schemas import RunPublic, RunsPublic
from worker.celery_app import TASK_RUN
from worker.spec import RunSpec

router = APIRouter(prefix="/runs", tags=["runs"])
log = logging.getLogger(__name__)


@router.post("", status_code=201, response_model=RunPublic)
def submit_run(spec: RunSpec, session: SessionDep, celery: CeleryDep, settings: SettingsDep,
               notifier: NotifierDep) -> RunPublic:
    """Record the spec, then enqueue it (after the commit, so a worker always finds the row)."""
    run = runs.create_run(session, spec)
    try:
        celery.send_task(TASK_RUN, args=[run.id], queue=settings.queue)
    except (OperationalError, OSError) as exc:
        runs.fail_unsent(session, run, f"broker unavailable: {exc}")
        notifier.bump(run.id)
        raise HTTPException(status_code=503, detail=f"broker unavailable, run {run.id} not queued: {exc}") from exc
    log.info("run %s queued", run.id)
    return RunPublic.of(run)


@router.get("", response_model=RunsPublic)
def read_runs(session: SessionDep, limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0)) -> RunsPublic:
    items, total = runs.list_runs(session, limit, offset)
    return RunsPublic(items=[RunPublic.of(r) for r in items], total=total)


@router.get("/{run_id}", response_model=RunPublic)
def read_run(run: RunDep) -> RunPublic:
    return RunPublic.of(run)


@router.post("/{run_id}/cancel", response_model=RunPublic)
def cancel_run(run: RunDep, session: SessionDep, notifier: NotifierDep) -> RunPublic:
    try:
        updated = runs.request_cancel(session, run.id)
    except runs.Conflict as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    notifier.bump(run.id)
    return RunPublic.of(updated)
