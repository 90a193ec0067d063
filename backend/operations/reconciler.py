"""The reconciler: a background task in the API process that notices dead workers and lost messages.

Every RECONCILE_SECONDS it (1) requeues runs whose worker stopped renewing its
lease, or fails them after MAX_ATTEMPTS such losses, and sends them to the
broker again; (2) resends runs that have sat in `queued` for
REQUEUE_AFTER_SECONDS with no message for them in the broker (Redis restarted
without its data, a send that failed), unless a connected worker says it holds
the message (it waits for device slots: a resend would keep another worker
waiting for nothing); (3) marks workers silent for WORKER_LOST_SECONDS lost
(their runs' leases are judged on their own, as ever); (4) stores the series overviews of finished
runs that have none (runs from before they existed, runs it failed itself), newest
first, for at most OVERVIEW_SECONDS a pass; (4) removes what has been in the trash for
TRASH_DAYS. Duplicates are harmless: a claim only takes a queued run. Several API
processes may each run one; every transition is a guarded UPDATE, so only one of
them acts on a run.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta

from celery import Celery
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from backend.models import Run, utcnow
from backend.operations.broker_scan import pending_run_ids
from backend.runs import lifecycle, series, trash
from backend.streams.notifier import Notifier
from backend.workers import registry
from contrastlab.core.protocol import RETRY_CAP_S as WORKER_RETRY_CAP_S
from contrastlab.core.settings import Settings
from contrastlab.queue import send_run, spec_devices

log = logging.getLogger(__name__)
OVERVIEW_SECONDS = 0.5  # of overview building per pass, so the other duties keep their pace
OVERVIEW_IDLE_SECONDS = 600.0  # after a pass that found every finished run with its overviews


@dataclass
class Pass:
    """What one pass did: runs requeued after a lost lease, queued runs sent again, workers found lost, overviews
    stored."""

    requeued: list[int] = field(default_factory=list)
    resent: list[int] = field(default_factory=list)
    lost_workers: list[str] = field(default_factory=list)
    overviews: list[int] = field(default_factory=list)
    emptied: trash.TrashTotals | None = None  # what TRASH_DAYS removed from the trash


class Reconciler:
    """One per API process; `run_forever` is its lifespan task, `tick` one pass (tests call it directly)."""

    def __init__(self, settings: Settings, factory: sessionmaker[Session], celery: Celery,
                 notifier: Notifier) -> None:
        self.settings, self.factory, self.celery, self.notifier = settings, factory, celery, notifier
        self._last_checked: dict[int, float] = {}  # when a queued run was last looked for in the broker
        # Leases are judged only after this process has served for a full lease plus a worker's longest
        # wait between retries: workers whose renewals failed while the API was down renew first.
        self.judge_leases_after = time.monotonic() + settings.lease_seconds + WORKER_RETRY_CAP_S
        self._overviews_idle_until = 0.0
        self._overviews_failed: set[int] = set()

    def tick(self) -> Pass:
        """One pass; safe to call at any time and from several processes."""
        done = Pass()
        if time.monotonic() >= self.judge_leases_after:
            with self.factory() as session:
                done.requeued = lifecycle.expire_leases(session, self.settings.max_attempts)
        for run_id in done.requeued:
            log.warning("run %s: lease expired; requeued", run_id)
            self.notifier.bump(run_id)
            self._send(run_id)
        for run_id in self._stuck_in_queue():
            log.warning("run %s: queued with no message in the broker; sending it again", run_id)
            with self.factory() as session:
                lifecycle.note(session, run_id, "sent to the broker again: no message for this run was waiting")
            self.notifier.bump(run_id)
            done.resent.append(run_id)
            self._send(run_id)
        with self.factory() as session:
            done.lost_workers = registry.mark_lost(session, self.settings.worker_lost_seconds)
        for name in done.lost_workers:
            log.warning("worker %s: not heard from for %.0f s; marked lost", name, self.settings.worker_lost_seconds)
        done.overviews = self._store_missing_overviews()
        done.emptied = self._empty_old_trash()
        return done

    def _empty_old_trash(self) -> trash.TrashTotals | None:
        """Runs and studies in the trash for TRASH_DAYS leave it for good (0: never by themselves)."""
        if not self.settings.trash_days:
            return None
        with self.factory() as session:
            emptied = trash.empty(session, self.settings.artifacts_dir, self.settings.study_cache_dir,
                                  before=utcnow() - timedelta(days=self.settings.trash_days))
        if emptied.runs or emptied.studies:
            log.info("trash: %d runs and %d studies older than TRASH_DAYS=%s removed, %d bytes of files freed",
                     emptied.runs, emptied.studies, self.settings.trash_days, emptied.file_bytes)
        return emptied

    def _store_missing_overviews(self) -> list[int]:
        now = time.monotonic()
        if now < self._overviews_idle_until:
            return []
        stored: list[int] = []
        deadline = now + OVERVIEW_SECONDS
        while time.monotonic() < deadline:
            with self.factory() as session:
                missing = series.runs_missing_overviews(session, 1, skip=self._overviews_failed)
            if not missing:
                self._overviews_idle_until = time.monotonic() + OVERVIEW_IDLE_SECONDS
                break
            if series.store_overviews(self.factory, missing[0]):
                stored.append(missing[0])
            else:
                self._overviews_failed.add(missing[0])  # not again in this process; its first view builds it
        return stored

    def _stuck_in_queue(self) -> list[int]:
        wait = self.settings.requeue_after_seconds
        with self.factory() as session:
            waiting = lifecycle.queued_before(session, utcnow() - timedelta(seconds=wait))
            held = registry.held_runs(session, self.settings.worker_lost_seconds) if waiting else set()
        waiting = [r for r in waiting if r not in held]  # a worker holds its message, waiting for device slots
        now = time.monotonic()
        still = set(waiting)
        self._last_checked = {r: t for r, t in self._last_checked.items() if r in still}  # forget the others
        waiting = [r for r in waiting if now - self._last_checked.get(r, -wait) >= wait]
        if not waiting:
            return []
        pending = pending_run_ids(self.settings.resolved_broker_url, self.settings.queue,
                                  dict(self.celery.conf.broker_transport_options or {}))
        for run_id in waiting:  # each waiting run is looked for once per REQUEUE_AFTER_SECONDS
            self._last_checked[run_id] = now
        return [r for r in waiting if r not in pending]

    def _send(self, run_id: int) -> None:
        """Send; on a broker error the run stays queued and a later pass sends it again."""
        self._last_checked[run_id] = time.monotonic()
        try:
            with self.factory() as session:
                run = session.get(Run, run_id)
                devices = spec_devices(run.spec) if run is not None else 1
            send_run(self.celery, run_id, self.settings.queue, devices)
        except Exception as exc:  # the broker may be down; the next pass retries
            log.error("run %s: could not send to the broker (%s); will retry", run_id, exc)

    async def run_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.reconcile_seconds)
            try:
                await run_in_threadpool(self.tick)
            except Exception:  # a database or broker outage must not end the loop
                log.exception("reconciler pass failed; retrying in %.1f s", self.settings.reconcile_seconds)
