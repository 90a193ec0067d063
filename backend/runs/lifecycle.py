"""What happens to a run: created, claimed under a lease, reported on, finished.

Every transition is one guarded UPDATE, so two workers (or a worker and a
cancel) racing on the same run cannot both win, on SQLite or PostgreSQL.

A claim hands its worker a random lease secret and stores only the secret's
sha256; a worker's later calls are accepted only with that secret (compared in
constant time), so knowing a run's worker name and attempt, which are public,
writes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session

from backend.errors import Conflict, QuotaExceeded, run_not_found
from backend.models import Event, Run, utcnow
from backend.runs.ingest import insert_events
from contrastlab.core.catalog import FINAL_STATUSES, Status
from contrastlab.core.protocol import LEASE_SECRET_HEADER, EventBatch, Finish, Phase
from contrastlab.core.spec import SPEC_VERSION, RunSpec
from contrastlab.queue import spec_devices


def create_run(session: Session, spec: RunSpec) -> Run:
    """A queued run holding the spec as JSON, stamped with the contract version that validated it."""
    run = Run(name=spec.name, status=Status.QUEUED, spec=spec.model_dump(mode="json"), spec_version=SPEC_VERSION,
              summary={}, progress=0.0, attempt=0, cancel_requested=False)
    session.add(run)
    session.flush()
    _status_event(session, run.id, Status.QUEUED)
    session.commit()
    return run


def _status_event(session: Session, run_id: int, status: str, text: str | None = None) -> None:
    session.add(Event(run_id=run_id, kind="status", name=status, text=text or status, time=utcnow()))


def _reload(session: Session, run_id: int) -> Run:
    run = session.get(Run, run_id)
    assert run is not None
    session.refresh(run)
    return run


def lease_digest(secret: str) -> str:
    """What the run row keeps of a lease secret: its sha256, so a database dump cannot report on a run."""
    return hashlib.sha256(secret.encode()).hexdigest()


def claim(session: Session, run_id: int, worker: str, lease_seconds: int) -> tuple[Run, str]:
    """Take a queued run: the run and the new attempt's lease secret (returned once, to the claimer only);
    else Conflict. A run whose worker died is requeued by the reconciler first."""
    now = utcnow()
    secret = secrets.token_urlsafe(32)
    result = session.execute(
        update(Run).where(Run.id == run_id, Run.status == Status.QUEUED).values(
            status=Status.RUNNING, worker=worker, attempt=Run.attempt + 1,
            lease_expires_at=now + timedelta(seconds=lease_seconds), lease_secret_hash=lease_digest(secret),
        )
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        run = session.get(Run, run_id)
        if run is None:
            raise run_not_found(run_id)
        raise Conflict(_why_not_claimable(run))
    session.execute(update(Run).where(Run.id == run_id, Run.started_at.is_(None)).values(started_at=now))
    run = _reload(session, run_id)
    _status_event(session, run_id, Status.RUNNING, f"running (attempt {run.attempt}, worker {worker})")
    session.commit()
    return run, secret


def _why_not_claimable(run: Run) -> str:
    if run.status == Status.RUNNING:
        return f"run {run.id} is running on {run.worker} (attempt {run.attempt}) with a live lease"
    return f"run {run.id} is {run.status}"


def held(session: Session, run_id: int, secret: str | None, who: str) -> Any:
    """The guard (WHERE clause) of an UPDATE by the lease holder, once `secret` is checked against the stored
    digest in constant time; NotFound, or Conflict saying why (never echoing the secret). The guard also pins
    the attempt and digest, so a lease that ends between this check and the UPDATE updates nothing."""
    run = session.get(Run, run_id)
    if run is None:
        raise run_not_found(run_id)
    secret = (secret or "").strip()
    if not secret:
        raise Conflict(f"run {run_id} takes reports only from the worker holding its lease: send the "
                       f"{LEASE_SECRET_HEADER} header its claim returned")
    if run.status != Status.RUNNING:
        final = "" if run.status == Status.QUEUED else \
            " (a finished run's status, metrics and artifacts no longer change)"
        raise Conflict(f"{who} does not hold the lease of run {run_id}: the run is {run.status}{final}")
    stored = run.lease_secret_hash
    if stored is None or not hmac.compare_digest(lease_digest(secret), stored):
        raise Conflict(f"{who} does not hold the lease of run {run_id}: the {LEASE_SECRET_HEADER} is not "
                       f"that of its current attempt (attempt {run.attempt})")
    return and_(Run.id == run_id, Run.status == Status.RUNNING, Run.attempt == run.attempt,
                Run.lease_secret_hash == stored)


def _worker(worker: str, attempt: int) -> str:
    return f"worker {worker} (attempt {attempt})"


def _lease_ended(session: Session, run_id: int, who: str) -> Conflict:
    session.rollback()
    return Conflict(f"{who} does not hold the lease of run {run_id}: its lease ended")


def _lease_values(lease_seconds: int, progress: float | None, phase: Phase | None) -> dict[str, Any]:
    """What a report by the lease holder sets: the lease's new end, and the progress and phase it sent."""
    values: dict[str, Any] = {"lease_expires_at": utcnow() + timedelta(seconds=lease_seconds)}
    if progress is not None:
        values["progress"] = progress
    if phase is not None:
        values["phase"] = phase.model_dump()
    return values


def _renew(session: Session, run_id: int, secret: str | None, who: str, values: dict[str, Any],
           counted: tuple[Any, dict[str, Any]] | None = None) -> bool:
    """Extend the lease of the worker holding it (`values`: _lease_values); the UPDATE also locks the run's row
    (PostgreSQL) until commit, so a run's events commit in id order and a stream never skips one. With `counted`
    (a bound on the run's counters and their new values) the same UPDATE counts a batch: True when it did, False
    when the bound held it back (the lease is renewed all the same)."""
    guard = held(session, run_id, secret, who)
    if counted is not None:  # one UPDATE a batch, as long as the run stays within its bounds
        bound, counters = counted
        if session.execute(update(Run).where(guard, bound).values(**values, **counters)).rowcount == 1:  # type: ignore[attr-defined]
            return True
    result = session.execute(update(Run).where(guard).values(**values))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise _lease_ended(session, run_id, who)
    return False


class Recorded(NamedTuple):
    """What a batch's answer needs of its run: a pending cancel, and its study (a search's trial may be pruned)."""

    cancel_requested: bool
    study_id: int | None


def _renew_held(session: Session, run_id: int, secret: str | None, values: dict[str, Any],
                counted: tuple[Any, dict[str, Any]] | None) -> Recorded | None:
    """_renew's common case in one statement, with no read before it: the UPDATE matches the running run by the
    digest of `secret` (as `held` checks it, the digest pinning the attempt) and within its bounds, and returns what
    the answer needs. None when it matched nothing (no such run, not the holder, past a bound): `held` and _renew
    then say which. The database compares digests, not secrets: timing there tells nothing about a secret."""
    secret = (secret or "").strip()
    if not secret:
        return None
    guard = and_(Run.id == run_id, Run.status == Status.RUNNING, Run.lease_secret_hash == lease_digest(secret))
    if counted is not None:
        guard, values = and_(guard, counted[0]), {**values, **counted[1]}
    row = session.execute(update(Run).where(guard).values(**values).returning(Run.cancel_requested, Run.study_id),
                          execution_options={"synchronize_session": False}).first()
    return Recorded(bool(row.cancel_requested), row.study_id) if row is not None else None


ROW_BYTES = 24  # what a stored point or message weighs besides its strings: its step, epoch and value


def event_bytes(batch: EventBatch) -> int:
    """The bytes a batch asks to store (MAX_RUN_BYTES): its keys, names and texts in UTF-8, and ROW_BYTES a row."""
    words = [p.key for p in batch.points] + [p.name for p in batch.points] + [m.key for m in batch.logs] + \
        [m.text for m in batch.logs]
    return len("".join(words).encode()) + ROW_BYTES * (len(batch.points) + len(batch.logs))


def record_events(session: Session, run_id: int, batch: EventBatch, secret: str | None, lease_seconds: int,
                  max_points: int, max_bytes: int | None = None) -> Recorded:
    """Store the lease holder's batch; a retried batch stores nothing twice (unique run_id+key). A batch that
    would take the run past `max_points` (MAX_RUN_POINTS) or `max_bytes` (MAX_RUN_BYTES) fails the run instead,
    keeping what it stored. Three statements in the common case: the renewal that counts the batch, the insert,
    the commit."""
    count = len(batch.points) + len(batch.logs)
    size = event_bytes(batch) if count else 0
    counted = (_within(count, size, max_points, max_bytes), {
        "recorded_points": Run.recorded_points + count, "recorded_bytes": Run.recorded_bytes + size}) if count else None
    values = _lease_values(lease_seconds, batch.progress, batch.phase)
    recorded = _renew_held(session, run_id, secret, values, counted)
    if recorded is None and not _renew(session, run_id, secret, _worker(batch.worker, batch.attempt), values,
                                       counted) and count:
        _count_points(session, run_id, count, size, max_points, max_bytes)  # past a bound: fails the run
    if count:
        insert_events(session, run_id, batch, utcnow())
    session.commit()
    if recorded is None:
        run = _reload(session, run_id)
        recorded = Recorded(run.cancel_requested, run.study_id)
    return recorded


def _within(count: int, size: int, max_points: int, max_bytes: int | None) -> Any:
    """The run can record `count` more rows of `size` bytes in all (MAX_RUN_POINTS, MAX_RUN_BYTES)."""
    within = Run.recorded_points + count <= max_points
    return within if max_bytes is None else within & (Run.recorded_bytes + size <= max_bytes)


def _count_points(session: Session, run_id: int, count: int, size: int, max_points: int,
                  max_bytes: int | None) -> None:
    """Add `count` rows and `size` bytes to what the run recorded (as sent: a retried batch counts again), or fail
    the run when either bound would be passed."""
    counted = session.execute(update(Run).where(Run.id == run_id, _within(count, size, max_points, max_bytes)).values(
        recorded_points=Run.recorded_points + count, recorded_bytes=Run.recorded_bytes + size))
    if counted.rowcount == 1:  # type: ignore[attr-defined]
        return
    points = session.scalar(select(Run.recorded_points).where(Run.id == run_id)) or 0
    if points + count > max_points:
        reason = (f"run {run_id} reached MAX_RUN_POINTS={max_points} (metric points and messages it may record): "
                  "report less often, or ask the server's operator to raise MAX_RUN_POINTS")
    else:
        reason = (f"run {run_id} reached MAX_RUN_BYTES={max_bytes} (bytes of metric names and messages it may "
                  "record): log shorter or fewer messages, or ask the server's operator to raise MAX_RUN_BYTES")
    session.execute(update(Run).where(Run.id == run_id, Run.status == Status.RUNNING).values(
        status=Status.FAILED, error=reason, finished_at=utcnow(), lease_expires_at=None, lease_secret_hash=None))
    _status_event(session, run_id, Status.FAILED, f"failed: {reason}")
    session.commit()
    raise QuotaExceeded(reason + "; the run is failed, and everything it recorded is kept")


def finish(session: Session, run_id: int, report: Finish, secret: str | None) -> Run:
    """The lease holder's final status; the secret dies with the lease."""
    who = _worker(report.worker, report.attempt)
    guard = held(session, run_id, secret, who)
    status = report.status
    if status == Status.CANCELED:  # a stop the API asked for ends as it said (`pruned` by a search's pruner)
        status = session.scalar(select(Run.stop_as).where(Run.id == run_id)) or status
    values: dict[str, Any] = {"status": status, "finished_at": utcnow(), "lease_expires_at": None,
                              "lease_secret_hash": None, "error": report.error, "summary": report.summary}
    if status == Status.SUCCEEDED:
        values["progress"] = 1.0
    if session.execute(update(Run).where(guard).values(**values)).rowcount != 1:  # type: ignore[attr-defined]
        raise _lease_ended(session, run_id, who)
    text = f"{status}: {report.error}" if report.error else status
    _status_event(session, run_id, status, text)
    session.commit()
    return _reload(session, run_id)


def release(session: Session, run_id: int, worker: str, attempt: int, reason: str, secret: str | None) -> Run:
    """The worker holding the lease hands the run back (warm shutdown): queued again, to be resent."""
    who = _worker(worker, attempt)
    guard = held(session, run_id, secret, who)
    text = f"worker {worker} handed attempt {attempt} back: {reason}"
    if session.execute(update(Run).where(guard).values(**_requeued(text))).rowcount != 1:  # type: ignore[attr-defined]
        raise _lease_ended(session, run_id, who)
    _status_event(session, run_id, Status.QUEUED, f"queued again: {text}")
    session.commit()
    return _reload(session, run_id)


def _requeued(reason: str) -> dict[str, Any]:
    return {"status": Status.QUEUED, "worker": None, "lease_expires_at": None, "lease_secret_hash": None,
            "requeue_reason": reason, "phase": None}


def expire_leases(session: Session, max_attempts: int) -> list[int]:
    """Runs whose worker stopped renewing its lease: requeued, or failed after max_attempts such losses,
    or canceled when a cancel was pending. Returns the ids to send to the broker again."""
    now = utcnow()
    expired = session.execute(select(Run.id, Run.worker, Run.attempt, Run.lost_leases, Run.cancel_requested,
                                     Run.stop_as).where(Run.status == Status.RUNNING, Run.lease_expires_at < now)).all()
    requeued: list[int] = []
    values: dict[str, Any]
    for run_id, worker, attempt, lost, cancel, stop_as in expired:
        lost = (lost or 0) + 1
        what = f"worker {worker} stopped renewing its lease during attempt {attempt}"
        final = {"finished_at": now, "lease_expires_at": None, "lease_secret_hash": None, "lost_leases": lost}
        if cancel:
            stopped = stop_as or Status.CANCELED
            values, status, text = {**final, "status": stopped}, stopped, f"{stopped}: {what}"
        elif lost >= max_attempts:
            error = f"{what}; gave up after {lost} lost attempts (MAX_ATTEMPTS={max_attempts})"
            values, status, text = {**final, "status": Status.FAILED, "error": error}, Status.FAILED, f"failed: {error}"
        else:
            reason = f"{what}; requeued (lost attempt {lost} of at most {max_attempts})"
            values, status, text = {**_requeued(reason), "lost_leases": lost}, Status.QUEUED, f"queued again: {reason}"
        guard = and_(Run.id == run_id, Run.status == Status.RUNNING, Run.attempt == attempt, Run.lease_expires_at < now)
        if session.execute(update(Run).where(guard).values(**values)).rowcount == 1:  # type: ignore[attr-defined]
            _status_event(session, run_id, status, text)
            if status == Status.QUEUED:
                requeued.append(run_id)
        session.commit()
    return requeued


def queue_place(session: Session, run: Run) -> tuple[int, int]:
    """A queued run's place in its queue (1: next to start), counting the runs queued before it on the queue of
    its device count, and how many runs are running now: one query."""
    devices = spec_devices(run.spec)
    same_queue = func.coalesce(Run.spec["devices"].as_integer(), 1) == devices
    ahead = func.count().filter(Run.status == Status.QUEUED, Run.id < run.id, same_queue)
    running = func.count().filter(Run.status == Status.RUNNING)
    before, busy = session.execute(select(ahead, running).where(Run.status.in_((Status.QUEUED, Status.RUNNING)))).one()
    return before + 1, busy


def queued_before(session: Session, cutoff: datetime) -> list[int]:
    """Runs that have been waiting in `queued` since before cutoff (their last `queued` status event)."""
    since = (select(func.max(Event.time)).where(Event.run_id == Run.id, Event.kind == "status",
                                                Event.name == Status.QUEUED).correlate(Run).scalar_subquery())
    waiting = select(Run.id).where(Run.status == Status.QUEUED, since < cutoff).order_by(Run.id)
    return list(session.scalars(waiting).all())


def note(session: Session, run_id: int, text: str) -> None:
    """A line in the run's log from the service itself (e.g. the reconciler)."""
    session.add(Event(run_id=run_id, kind="log", text=text, time=utcnow()))
    session.commit()


def fail_unsent(session: Session, run: Run, reason: str) -> None:
    """A run whose task could not be sent must not sit in `queued` forever."""
    session.execute(update(Run).where(Run.id == run.id, Run.status == Status.QUEUED).values(
        status=Status.FAILED, error=reason, finished_at=utcnow()))
    _status_event(session, run.id, Status.FAILED, f"failed: {reason}")
    session.commit()
    session.refresh(run)


def request_cancel(session: Session, run_id: int) -> Run:
    """Queued: canceled at once. Running: flagged; the worker stops at its next check."""
    run = session.get(Run, run_id)
    if run is None:
        raise run_not_found(run_id)
    if run.status in FINAL_STATUSES:
        raise Conflict(f"run {run_id} is already {run.status}")
    now: datetime = utcnow()
    done = session.execute(update(Run).where(Run.id == run_id, Run.status == Status.QUEUED).values(
        status=Status.CANCELED, cancel_requested=True, finished_at=now))
    if done.rowcount == 1:  # type: ignore[attr-defined]
        _status_event(session, run_id, Status.CANCELED, "canceled before it started")
    else:
        session.execute(update(Run).where(Run.id == run_id).values(cancel_requested=True))
        session.add(Event(run_id=run_id, kind="log", text="cancel requested", time=now))
    session.commit()
    session.refresh(run)
    return run


def request_prune(session: Session, run_id: int, reason: str) -> bool:
    """Stop a running run as a cancel stops it, to end `pruned`; False when it is no longer running."""
    done = session.execute(update(Run).where(Run.id == run_id, Run.status == Status.RUNNING).values(
        cancel_requested=True, stop_as=Status.PRUNED))
    if done.rowcount != 1:  # type: ignore[attr-defined]
        return False
    session.add(Event(run_id=run_id, kind="log", text=f"prune requested: {reason}", time=utcnow()))
    return True


def events_after(session: Session, run_id: int, after: int, limit: int,
                 kinds: tuple[str, ...] | None = None) -> list[Event]:
    query = select(Event).where(Event.run_id == run_id, Event.id > after)
    if kinds is not None:
        query = query.where(Event.kind.in_(kinds))
    return list(session.scalars(query.order_by(Event.id).limit(limit)).all())
