"""Workers: each says it is alive (the worker token, as for claims); users list them with when each was last heard."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from backend.api.deps import SessionDep, SettingsDep
from backend.models import Run, utcnow
from backend.workers import registry
from backend.workers.schemas import WorkerPublic, WorkersPublic
from contrastlab.core.protocol import WorkerBeat, WorkerSeen

router = APIRouter(prefix="/workers", tags=["workers"])


@router.post("/heartbeat", response_model=WorkerSeen)
def heartbeat(beat: WorkerBeat, session: SessionDep, settings: SettingsDep) -> WorkerSeen:
    """Record the worker as it describes itself; 429 when MAX_WORKERS rows are all online."""
    registry.record_beat(session, beat, settings.max_workers, settings.worker_lost_seconds)
    return WorkerSeen(heartbeat_seconds=settings.worker_heartbeat_seconds,
                      lost_after_seconds=settings.worker_lost_seconds)


@router.get("", response_model=WorkersPublic)
def read_workers(session: SessionDep, settings: SettingsDep) -> WorkersPublic:
    """Every recorded worker, the most recently heard first: online, lost (silent) or stopped."""
    workers = registry.all_workers(session)
    held = {worker.run_id for worker in workers if worker.run_id is not None}
    statuses = {run_id: status for run_id, status in session.execute(select(Run.id, Run.status)
                                                                      .where(Run.id.in_(held)))} if held else {}
    now = utcnow()
    return WorkersPublic(items=[WorkerPublic.of(worker, statuses.get(worker.run_id or 0), settings.worker_lost_seconds,
                                                now) for worker in workers],
                         heartbeat_seconds=settings.worker_heartbeat_seconds,
                         lost_after_seconds=settings.worker_lost_seconds)
