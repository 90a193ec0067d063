"""A study that searches: its creation, its trials and confirmation (GET /api/studies/{id}/search), and the
decisions the worker routes trigger (a k-NN monitor point may prune its trial; a trial's end samples the next or
starts the confirmation). Every decision is retaken from the rows, so GET also catches up on runs ended by the
reconciler or a cancel."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Annotated

from celery import Celery
from fastapi import APIRouter, Path, Request
from sqlalchemy.orm import Session, sessionmaker

from backend.access.admission import admit_submission
from backend.api.deps import CeleryDep, NotifierDep, SessionDep, SettingsDep
from backend.errors import NotFound
from backend.models import Run, Study
from backend.runs import dispatch
from backend.runs.schemas import RunPublic
from backend.streams.notifier import Notifier
from backend.studies import store
from backend.studies.schemas import StudyCreate, StudyCreated
from backend.studies.search import create, flow
from backend.studies.search.views import SearchPublic, confirmation_runs, search_view
from contrastlab.core.protocol import EventBatch
from contrastlab.core.settings import Settings
from contrastlab.queue import spec_devices

router = APIRouter(prefix="/studies", tags=["studies"])
__all__ = ["confirmation_runs", "flow", "router"]
log = logging.getLogger(__name__)


def send(runs: Sequence[Run], celery: Celery, settings: Settings, sessions: sessionmaker[Session],
         notifier: Notifier) -> Exception | None:
    """Send the new runs' tasks; a broker that fails fails the runs it did not take (and says so)."""
    unsent, error = dispatch.send_all(celery, settings.queue, [(run.id, spec_devices(run.spec)) for run in runs])
    if error is not None:
        log.error("search: %d runs not queued: %s", len(unsent), error)
        with sessions() as session:
            store.fail_unsent(session, unsent, f"broker unavailable: {error}")
    for run in runs:
        notifier.bump(run.id)
    return error


def launch(body: StudyCreate, request: Request, session: Session, celery: Celery, settings: Settings,
           notifier: Notifier) -> StudyCreated:
    """Check the search, store the study, sample and send its first trials (a broker that is down: 503, the
    study stored with those trials failed)."""
    most = create.check(body, settings)
    admit_submission(request, settings, most)
    study = create.store(session, body)
    created = flow.advance(session, study, settings)
    error = send(created, celery, settings, request.app.state.sessionmaker, notifier)
    if error is not None:
        flow.stop(session, study)
        raise dispatch.BrokerUnavailable(f"broker unavailable: search {study.id} is stored but its first trials "
                                         f"were not queued and are marked failed: {error}") from error
    return StudyCreated(id=study.id, name=study.name, runs=[RunPublic.model_validate(r) for r in created],
                        cells=body.search.trials if body.search else 0)


def after_points(session: Session, run_id: int, study_id: int | None, batch: EventBatch) -> bool:
    """A trial's k-NN monitor points go to its pruner; True when it was told to stop. The run is read only for
    a study's run that sent some."""
    if study_id is None:
        return False
    points = [(round(p.epoch), p.value) for p in batch.points if p.name == flow.MONITOR and p.epoch is not None
              and p.value is not None and float(p.epoch).is_integer()]  # the monitor runs at whole epochs
    run = session.get(Run, run_id) if points else None
    return flow.on_points(session, run, points) if run is not None else False


def after_final(session: Session, run: Run, request: Request, celery: Celery, settings: Settings,
                notifier: Notifier) -> None:
    """A search's run ended: its next decision (more trials, or the confirmation), sent at once."""
    study = session.get(Study, run.study_id) if run.study_id is not None else None
    if study is None or not study.search:
        return
    send(flow.advance(session, study, settings), celery, settings, request.app.state.sessionmaker, notifier)


@router.get("/{study_id}/search", response_model=SearchPublic)
def read_search(study_id: Annotated[int, Path(ge=1, le=2**63 - 1)], request: Request, session: SessionDep,
                celery: CeleryDep, settings: SettingsDep, notifier: NotifierDep) -> SearchPublic:
    """The search's trials (params, k-NN monitor by epoch, final value, when pruned), its best trial and its
    confirmation; 404 for a grid study."""
    study = session.get(Study, study_id)
    if study is None or not study.search:
        raise NotFound(f"study {study_id} not found" if study is None else f"study {study_id} is a grid, not a search")
    send(flow.advance(session, study, settings), celery, settings, request.app.state.sessionmaker, notifier)
    return search_view(session, study)
