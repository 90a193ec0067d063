"""The worker's side of a run: claim it under a lease, keep the lease, finish it."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from backend import runs
from backend.api.deps import NotifierDep, SessionDep, SettingsDep
from backend.schemas import Claim, ClaimGranted, Finish, Heartbeat, LeaseState, RunPublic

router = APIRouter(prefix="/runs/{run_id}", tags=["worker"])


def _conflict(exc: runs.Conflict) -> HTTPException:
    return HTTPException(status_code=409, detail=str(exc))


def _missing(run_id: int) -> HTTPException:
    return HTTPException(status_code=404, detail=f"run {run_id} not found")


@router.post("/claim", response_model=ClaimGranted)
def claim_run(run_id: int, body: Claim, session: SessionDep, settings: SettingsDep,
              notifier: NotifierDep) -> ClaimGranted:
    """409 unless the run is queued or its last worker's lease ran out: never twice at once."""
    try:
        run = runs.claim(session, run_id, body.worker, settings.lease_seconds)
    except LookupError as exc:
        raise _missing(run_id) from exc
    except runs.Conflict as exc:
        raise _conflict(exc) from exc
    notifier.bump(run_id)
    return ClaimGranted(run=RunPublic.of(run), attempt=run.attempt, lease_seconds=settings.lease_seconds)


@router.post("/heartbeat", response_model=LeaseState)
def heartbeat(run_id: int, body: Heartbeat, session: SessionDep, settings: SettingsDep) -> LeaseState:
    try:
        run = runs.renew_lease(session, run_id, body.worker, body.attempt, settings.lease_seconds, body.progress)
    except runs.Conflict as exc:
        raise _conflict(exc) from exc
    return LeaseState(cancel_requested=run.cancel_requested, lease_seconds=settings.lease_seconds)


@router.post("/finish", response_model=RunPublic)
def finish_run(run_id: int, body: Finish, session: SessionDep, notifier: NotifierDep) -> RunPublic:
    try:
        run = runs.finish(session, run_id, body)
    except runs.Conflict as exc:
        raise _conflict(exc) from exc
    notifier.bump(run_id)
    return RunPublic.of(run)
