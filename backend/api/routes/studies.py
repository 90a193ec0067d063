"""Studies: launch a grid of runs (axes × seeds), list, read, annotate, cancel, trash and restore, and the statistics
with a verdict."""

from __future__ import annotations

import json
import logging
import math
import pathlib
import sys
from collections.abc import Hashable
from typing import Annotated, Any

from celery import Celery
from fastapi import APIRouter, BackgroundTasks, Depends, Path, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session, sessionmaker

from backend.access.admission import admit_submission
from backend.api.deps import CeleryDep, NotifierDep, SessionDep, SettingsDep
from backend.api.routes import search
from backend.errors import InvalidFields, NotFound
from backend.models import Run, Study
from backend.runs import annotate, dispatch, series, trash
from backend.runs.annotate import AnnotationUpdate
from backend.runs.schemas import RunPublic
from backend.streams.notifier import Notifier
from backend.studies import curves, grid, kept, stats, store
from backend.studies.schemas import (
    StudiesPublic,
    StudyCell,
    StudyCreate,
    StudyCreated,
    StudyCurvesPublic,
    StudyExtend,
    StudyPublic,
    StudySummary,
)
from contrastlab.core import catalog
from contrastlab.core.catalog import FINAL_STATUSES, METRICS, Status
from contrastlab.core.protocol import NoNul
from contrastlab.core.settings import Settings
from contrastlab.queue import spec_devices

router = APIRouter(prefix="/studies", tags=["studies"])
log = logging.getLogger(__name__)

StudyId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The study's id.")]
# The metrics a study can compare: the catalogue's with a better direction.
DIRECTED = tuple(name for name, info in METRICS.items() if info.direction is not None)
_curves_cache = curves.CurvesCache()
# Stats and curves bodies by what they are computed from (_stats_key, curves.body_key), on disk once the study is
# finished: a few KB of stats (~0.3 s of scipy cold), ~1 MB of curves (~1 s: 100 runs' overviews read and merged).
_kept = kept.Kept(kept.code_digest([stats, curves, store, catalog, sys.modules[__name__]]), 48 * 2**20)


def _study(study_id: StudyId, session: SessionDep) -> Study:
    study = session.get(Study, study_id)
    if study is None:
        raise NotFound(f"study {study_id} not found")
    return study


StudyDep = Annotated[Study, Depends(_study)]


def kept_folder(settings: Settings, study_id: int) -> pathlib.Path:
    """Where a study's computed bodies are kept (backend.studies.kept)."""
    return settings.study_cache_dir / str(int(study_id))


def _fail_unsent(sessions: sessionmaker[Session], notifier: Notifier, unsent: list[int], exc: Exception) -> None:
    with sessions() as session:
        store.fail_unsent(session, unsent, f"broker unavailable: {exc}")
    for run_id in unsent:
        notifier.bump(run_id)


def _send_rest(study_id: int, runs: list[tuple[int, int]], celery: Celery, queue: str,
               sessions: sessionmaker[Session], notifier: Notifier) -> None:
    """After the answer: the study's other tasks; a broker that fails midway fails the runs it did not take."""
    unsent, exc = dispatch.send_all(celery, queue, runs)
    if exc is not None:
        log.error("study %s: broker failed after the answer, %d runs not queued: %s", study_id, len(unsent), exc)
        _fail_unsent(sessions, notifier, unsent, exc)
    else:
        log.info("study %s: %d runs queued", study_id, len(runs) + 1)


@router.post("", status_code=201, response_model=StudyCreated)
def create_study(body: StudyCreate, request: Request, background: BackgroundTasks, session: SessionDep,
                 celery: CeleryDep, settings: SettingsDep, notifier: NotifierDep) -> StudyCreated:
    """Validate every cell, store the study and its runs in one transaction, then enqueue them.

    The first task is sent before the answer, so a broker that is down is a BrokerUnavailable (every run failed,
    as a run's submit does); the others are sent right after the answer, so 500 runs answer in well under a second.
    With `search`, Optuna samples the first trials instead (backend.api.routes.search).
    """
    if body.search is not None:
        return search.launch(body, request, session, celery, settings, notifier)
    admit_submission(request, settings, grid.run_count(body, settings))  # cheap: no cell is made yet
    cells = grid.expand(body, settings)
    study, created = store.create_study(session, body, cells)
    ids = [run.id for run in created]
    sends = [(run.id, spec_devices(run.spec)) for run in created]
    _, error = dispatch.send_all(celery, settings.queue, sends[:1])
    if error is not None:
        _fail_unsent(request.app.state.sessionmaker, notifier, ids, error)
        raise dispatch.BrokerUnavailable(f"broker unavailable: study {study.id} is stored but its {len(ids)} runs "
                                         f"were not queued and are marked failed: {error}") from error
    background.add_task(_send_rest, study.id, sends[1:], celery, settings.queue, request.app.state.sessionmaker,
                        notifier)
    return StudyCreated(id=study.id, name=study.name, runs=[RunPublic.model_validate(r) for r in created],
                        cells=len(cells))


def _summary(study: Study, counts: dict[str, int]) -> StudySummary:
    return StudySummary(id=study.id, name=study.name, created_at=study.created_at, base=study.base,
                        axes=study.axes, seeds=study.seeds, search=study.search, status_counts=counts,
                        tags=study.tags or [], notes=study.notes or "", trashed_at=study.trashed_at)


@router.get("", response_model=StudiesPublic)
def read_studies(session: SessionDep, limit: int = Query(50, ge=1, le=500),
                 offset: int = Query(0, ge=0, le=2**62),
                 trashed: bool = Query(False, description="true: the studies in the trash instead.")
                 ) -> StudiesPublic:
    """A page of studies, newest first, each with its runs counted by status."""
    page, total = store.list_studies(session, limit, offset, trashed)
    counts = store.status_counts(session, [s.id for s in page])
    return StudiesPublic(items=[_summary(s, counts[s.id]) for s in page], total=total)


def _judged(session: Session, study: Study, members: list[Run] | None = None) -> list[Run]:
    """The runs a study's cells, statistics and curves are made of: every run of a grid; a search's confirmation
    runs only (its trials are read at /search), so its verdict never counts a trial."""
    if study.search:
        return search.confirmation_runs(session, study.id)
    return members if members is not None else store.study_runs(session, study.id)


def _public(session: SessionDep, study: Study) -> StudyPublic:
    members = store.study_runs(session, study.id)
    counts = store.count_statuses(members)
    cells = [StudyCell(key=c.key, values=c.values, runs=[r.id for r in c.runs])
             for c in store.cells_of(study, _judged(session, study, members))]
    return StudyPublic(**_summary(study, counts).model_dump(), run_ids=[r.id for r in members], cells=cells)


@router.get("/{study_id}", response_model=StudyPublic)
def read_study(study: StudyDep, session: SessionDep) -> StudyPublic:
    """The study's base, axes, seeds, runs per status, run ids, and cells with their runs."""
    return _public(session, study)


@router.post("/{study_id}/cancel", response_model=StudyPublic)
def cancel_study(study: StudyDep, session: SessionDep, notifier: NotifierDep) -> StudyPublic:
    """Cancel every queued or running run (queued ones at once, running ones at their next check); a search
    samples no more trials."""
    search.flow.stop(session, study)
    for run_id in store.cancel_study(session, store.study_runs(session, study.id)):
        notifier.bump(run_id)
    return _public(session, study)


@router.post("/{study_id}/extend", status_code=201, response_model=StudyCreated)
def extend_study(study: StudyDep, body: StudyExtend, request: Request, session: SessionDep, celery: CeleryDep,
                 settings: SettingsDep, notifier: NotifierDep) -> StudyCreated:
    """Add `seeds` new runs to each chosen cell (every cell by default): new rows of the same study, queued and
    sent now; the statistics count them as they finish, so the verdict updates. Not for a search (yet)."""
    if study.search:
        raise InvalidFields([{"loc": ["path", "study_id"], "msg": f"study {study.id} is a search: its verdict comes "
                              "from its confirmation runs; set confirm_seeds when launching it", "type": "value_error",
                              "input": study.id}])
    members = store.study_runs(session, study.id)
    cells = store.cells_of(study, members)
    keys = [c.key for c in cells]
    wanted = body.cells if body.cells is not None else keys
    unknown = [key for key in wanted if key not in keys]
    if unknown:
        raise InvalidFields([{"loc": ["body", "cells"], "msg": f"{unknown[0]!r} is not a cell of study {study.id}; "
                              f"choose among {', '.join(keys)}", "type": "value_error", "input": unknown[0]}])
    chosen = [c for c in cells if c.key in set(wanted)]
    total = len(members) + body.seeds * len(chosen)
    if total > settings.study_max_runs:
        raise InvalidFields([{"loc": ["body", "seeds"], "msg": f"the study would hold {total} runs; at most "
                              f"{settings.study_max_runs} are allowed (STUDY_MAX_RUNS)", "type": "value_error",
                              "input": body.seeds}])
    admit_submission(request, settings, body.seeds * len(chosen))
    created = store.extend_study(session, study, chosen, body.seeds)
    _kept.forget(kept_folder(settings, study.id))  # bodies of the runs it had: never read again
    unsent, error = dispatch.send_all(celery, settings.queue, [(run.id, spec_devices(run.spec)) for run in created])
    if error is not None:
        _fail_unsent(request.app.state.sessionmaker, notifier, unsent, error)
        raise dispatch.BrokerUnavailable(f"broker unavailable: {len(unsent)} new runs of study {study.id} were not "
                                         f"queued and are marked failed: {error}") from error
    return StudyCreated(id=study.id, name=study.name, runs=[RunPublic.model_validate(r) for r in created],
                        cells=len(chosen))
@router.patch("/{study_id}", response_model=StudyPublic)
def annotate_study(study: StudyDep, update: AnnotationUpdate, session: SessionDep) -> StudyPublic:
    """Rename the study, set its tags or its notes (its runs keep their own)."""
    annotate.apply(study, update)
    session.commit()
    return _public(session, study)


@router.delete("/{study_id}", status_code=204, response_class=Response)
def delete_study(study: StudyDep, session: SessionDep, notifier: NotifierDep) -> Response:
    """Move the study and its runs to the trash; 409 while any run is queued or running."""
    members = store.study_runs(session, study.id)
    trash.trash_study(session, study, members)
    for run in members:
        notifier.bump(run.id)
    return Response(status_code=204)


@router.post("/{study_id}/restore", response_model=StudyPublic)
def restore_study(study: StudyDep, session: SessionDep, notifier: NotifierDep) -> StudyPublic:
    """Bring the study and its runs back from the trash."""
    trash.restore_study(session, study)
    session.refresh(study)
    for run_id in store.study_runs(session, study.id):
        notifier.bump(run_id.id)
    return _public(session, study)


def query_error(name: str, msg: str, value: Any) -> InvalidFields:
    return InvalidFields([{"loc": ["query", name], "msg": msg, "type": "value_error", "input": value}])


def _sample(run: Run, metric: str) -> float | None:
    """The run's final value of the metric, or None when its summary has no finite number for it."""
    value = (run.summary or {}).get(metric)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _samples(cells: list[store.CellRuns], metric: str
             ) -> tuple[list[stats.CellStats], dict[str, list[float]], dict[str, int], set[str]]:
    """Each cell's stats over its succeeded runs, its samples by key, the runs left out by reason, and the cells
    whose succeeded runs never recorded the metric (a supervised cell has no head to probe)."""
    excluded = {Status.FAILED: 0, Status.CANCELED: 0, Status.PRUNED: 0, "no_value": 0}
    summaries, samples, unrecorded = [], {}, set()
    for cell in cells:
        ids, values, missing = [], [], 0
        for run in cell.runs:
            value = _sample(run, metric) if run.status == Status.SUCCEEDED else None
            if run.status in excluded:
                excluded[run.status] += 1
            elif run.status == Status.SUCCEEDED and value is None:
                excluded["no_value"] += 1
                missing += 1
            elif value is not None:
                ids.append(run.id)
                values.append(value)
        if missing and not values:
            unrecorded.add(cell.key)
        summaries.append(stats.cell_stats(cell.key, cell.values, values, ids))
        samples[cell.key] = values
    return summaries, samples, excluded, unrecorded


def _pairs(cells: list[store.CellRuns], metric: str, paired: str) -> list[stats.PairedCell]:
    """Per cell, the succeeded runs that recorded both metrics; a cell whose succeeded runs never did is said so."""
    out = []
    for cell in cells:
        done = [run for run in cell.runs if run.status == Status.SUCCEEDED]
        pairs = [(run.id, a, b) for run in done
                 if (a := _sample(run, metric)) is not None and (b := _sample(run, paired)) is not None]
        out.append(stats.PairedCell(cell.key, pairs, recorded=bool(pairs) or not done))
    return out


def _metric(name: str, value: str) -> tuple[str, Any]:
    info = METRICS.get(value)
    if info is None or info.direction is None:
        raise query_error(name, f"{value!r} is not a metric a study can compare; choose one of "
                                 f"{', '.join(DIRECTED)}", value)
    return value, info


@router.get("/{study_id}/stats", response_model=dict[str, Any])
def study_stats(study: StudyDep, session: SessionDep, settings: SettingsDep,
                metric: Annotated[str, Query(description=f"One of: {', '.join(DIRECTED)}.")] = "linear_acc",
                baseline: Annotated[str | None, Query(max_length=4000, description="A cell's key; default: the "
                                                      "supervised cell, else the first.")] = None,
                paired: Annotated[str | None, Query(description="A second metric of the same runs, e.g. "
                                                    "linear_acc_head or random_linear_acc: each cell's metric "
                                                    "against it, run by run (paired t, bootstrap, Wilcoxon).")
                                  ] = None) -> Response:
    """Per-cell mean ± Student-t interval and IQM ± stratified bootstrap over the succeeded runs, each cell against
    the baseline cell with power and the seeds for 80 %, aggregates over datasets when the study varies it, and
    with `paired`, each cell's metric against the paired metric on the same runs."""
    return Response(stats_body(study, session, settings, metric, baseline, paired), media_type="application/json")


def stats_body(study: Study, session: Session, settings: Settings, metric: str, baseline: str | None,
               paired: str | None) -> bytes:
    """The /stats body as sent; computed once per inputs (_stats_key), kept on disk once the study is finished."""
    _, info = _metric("metric", metric)
    if paired is not None:
        _, other = _metric("paired", paired)
        if paired == metric or other.unit != info.unit or other.direction != info.direction:
            raise query_error("paired", f"{paired!r} cannot be paired with {metric!r}: choose another metric with "
                                         f"the same unit ({info.unit}) and direction", paired)
    cells = store.cells_of(study, _judged(session, study))
    if baseline is not None and baseline not in [c.key for c in cells]:
        raise query_error("baseline", f"{baseline!r} is not a cell of study {study.id}; choose one of "
                                       f"{', '.join(c.key for c in cells)}", baseline)
    key, folder = _stats_key(cells, metric, baseline, paired), kept_folder(settings, study.id)
    if (hit := _kept.get(folder, key)) is not None:
        return hit
    summaries, samples, excluded, unrecorded = _samples(cells, metric)
    bounds = (0.0, 1.0) if info.unit == "fraction" else None
    body = stats.study_stats(metric, info.direction, summaries, samples, baseline, excluded, unrecorded, bounds)
    for row, cell in zip(body["cells"], cells, strict=True):
        row["status_counts"] = store.count_statuses(cell.runs)
    body["paired"] = (stats.paired_body(metric, paired, info.direction, _pairs(cells, metric, paired))
                      if paired is not None else None)
    content = bytes(JSONResponse(jsonable_encoder(body)).body)  # as FastAPI would send the dict
    _kept.put(folder, key, content, durable=all(run.status in FINAL_STATUSES for c in cells for run in c.runs))
    return content


def _stats_key(cells: list[store.CellRuns], metric: str, baseline: str | None, paired: str | None) -> Hashable:
    """Everything a stats body is computed from: the query, and per cell its values and each run's id, status and
    values of the two metrics. The bootstraps are seeded, so the same key gives the same body, finished or not."""
    return "stats", metric, baseline, paired, tuple(
        (cell.key, json.dumps(cell.values, sort_keys=True, default=str),
         tuple((run.id, run.status, _sample(run, metric), _sample(run, paired) if paired else None)
               for run in cell.runs))
        for cell in cells)


@router.get("/{study_id}/curves", response_model=StudyCurvesPublic)
def read_study_curves(
    study: StudyDep,
    session: SessionDep,
    settings: SettingsDep,
    names: Annotated[NoNul, Query(max_length=2000, description="Comma-separated metric names; empty: all.")] = "",
    x: Annotated[series.XAxis, Query(description="step, epoch, or time (seconds since each run started).")] = "step",
    points: Annotated[int, Query(ge=2, le=series.OVERVIEW_POINTS,
                                 description="Buckets of the common x grid: about the chart's width in pixels.")] = 300,
) -> Response:
    """Each cell's curves as mean ± std over its runs, in one request for the whole study (backend.studies.curves).
    Serialised once there, and kept (on disk too) once every run is finished."""
    try:
        wanted = series.requested_names(names)  # a name asked twice is computed once
    except series.TooManyNames as exc:
        raise query_error("names", str(exc), names) from exc
    cells = store.cells_of(study, _judged(session, study))
    key, folder = curves.body_key(study, cells, x, points, wanted), kept_folder(settings, study.id)
    body = _kept.get(folder, key) if key is not None else None
    if body is None:
        body = curves.study_curves(session, cells, x, points, wanted, _curves_cache)
        if key is not None:
            _kept.put(folder, key, body, durable=True)
    return Response(body, media_type="application/json")
