"""Each worker process's row, refreshed by its heartbeat (protocol.WorkerBeat); silent ones are lost.

A preview consumer (it consumes only the preview queue, contrastlab.queue.is_preview_consumer) beats as a worker
does, and has its row; it never counts as a worker that trains (`connected`), only as one that draws previews
(`preview_consumers`).

A worker's status is `online` while it beats, `lost` once it has been silent for WORKER_LOST_SECONDS (the
reconciler marks it; a read judges by `last_seen` too, so a page never shows a silent worker as online),
`stopped` after its last beat. Leases are not touched here: a lost worker's run is requeued by its lease, as
before. The rows are bounded (MAX_WORKERS): a client with the worker token could invent names without end, so a
new name replaces the longest-silent worker that is not online, or is refused while every row is online.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.errors import TooManyRequests
from backend.models import Worker, utcnow
from contrastlab.core.protocol import WorkerBeat
from contrastlab.queue import is_preview_consumer

ONLINE, LOST, STOPPED = "online", "lost", "stopped"
TOO_MANY = ("{count} workers are recorded, all online (MAX_WORKERS={limit}): a new worker is taken once one of "
            "them stops or falls silent; raise MAX_WORKERS for a larger fleet")


def _cutoff(lost_seconds: float, now: datetime | None = None) -> datetime:
    return (now or utcnow()) - timedelta(seconds=lost_seconds)


def is_online(worker: Worker, lost_seconds: float, now: datetime | None = None) -> bool:
    """Online and heard from within lost_seconds."""
    return worker.status == ONLINE and worker.last_seen >= _cutoff(lost_seconds, now)


def record_beat(session: Session, beat: WorkerBeat, max_workers: int, lost_seconds: float) -> None:
    """Insert or refresh the beat's worker; TooManyRequests when the rows are at their bound and all online."""
    now = utcnow()
    values = {"host": beat.host, "devices": beat.devices, "slots": list(beat.slots), "gpu": beat.gpu,
              "queues": list(beat.queues), "version": beat.version, "run_id": beat.run_id,
              "status": STOPPED if beat.stopping else ONLINE, "last_seen": now}
    refreshed = session.execute(update(Worker).where(Worker.name == beat.name).values(**values))
    if refreshed.rowcount:  # type: ignore[attr-defined]
        session.commit()
        return
    _make_room(session, max_workers, lost_seconds, now)
    session.add(Worker(name=beat.name, first_seen=now, **values))
    try:
        session.commit()
    except IntegrityError:  # another process inserted the same name meanwhile: refresh that row instead
        session.rollback()
        session.execute(update(Worker).where(Worker.name == beat.name).values(**values))
        session.commit()


def _make_room(session: Session, max_workers: int, lost_seconds: float, now: datetime) -> None:
    """Delete the longest-silent rows that are not online until one more fits; refuse if none can go."""
    excess = (session.scalar(select(func.count()).select_from(Worker)) or 0) - max_workers + 1
    if excess <= 0:
        return
    gone = or_(Worker.status != ONLINE, Worker.last_seen < _cutoff(lost_seconds, now))
    oldest = list(session.scalars(select(Worker.id).where(gone).order_by(Worker.last_seen).limit(excess)))
    if len(oldest) < excess:
        session.rollback()
        raise TooManyRequests(TOO_MANY.format(count=max_workers + excess - 1, limit=max_workers),
                              max(1, int(lost_seconds)))
    session.execute(delete(Worker).where(Worker.id.in_(oldest)))


def mark_lost(session: Session, lost_seconds: float) -> list[str]:
    """Mark the online workers silent for lost_seconds as lost (a guarded UPDATE); their names."""
    silent = (Worker.status == ONLINE, Worker.last_seen < _cutoff(lost_seconds))
    names = list(session.scalars(select(Worker.name).where(*silent).order_by(Worker.name)))
    if names:
        session.execute(update(Worker).where(*silent, Worker.name.in_(names)).values(status=LOST))
        session.commit()
    return names


def _online(session: Session, lost_seconds: float) -> list[Worker]:
    fresh = (Worker.status == ONLINE, Worker.last_seen >= _cutoff(lost_seconds))
    return list(session.scalars(select(Worker).where(*fresh).order_by(Worker.name)))


def connected(session: Session, lost_seconds: float) -> list[Worker]:
    """The workers that train runs online now, by name (preview consumers are not among them)."""
    return [worker for worker in _online(session, lost_seconds) if not is_preview_consumer(worker.queues or [])]


def preview_consumers(session: Session, lost_seconds: float) -> list[Worker]:
    """The preview consumers online now, by name."""
    return [worker for worker in _online(session, lost_seconds) if is_preview_consumer(worker.queues or [])]


def held_runs(session: Session, lost_seconds: float) -> set[int]:
    """The runs whose message a connected worker holds (waiting for device slots, or training)."""
    fresh = (Worker.status == ONLINE, Worker.last_seen >= _cutoff(lost_seconds), Worker.run_id.is_not(None))
    return {run_id for run_id in session.scalars(select(Worker.run_id).where(*fresh)) if run_id is not None}


def all_workers(session: Session) -> list[Worker]:
    """Every recorded worker (at most MAX_WORKERS), the most recently heard first."""
    return list(session.scalars(select(Worker).order_by(Worker.last_seen.desc(), Worker.name)))
