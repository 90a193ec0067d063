"""Runs: submit (one, or one per seed as a group), list with filter/sort/pages, read, annotate, cancel, trash,
restore."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Body, Query, Request, Response
from pydantic import ValidationError
from sqlalchemy import select

from backend.access.admission import admit_submission, check_spec
from backend.api.deps import CeleryDep, NotifierDep, RunDep, SessionDep, SettingsDep
from backend.errors import InvalidFields, run_not_found
from backend.models import Run
from backend.runs import admin, annotate, dispatch, lifecycle, listing, trash
from backend.runs.annotate import AnnotationUpdate
from backend.runs.schemas import RunGroupCreate, RunGroupPublic, RunIds, RunPublic, RunsPublic, RunSubmitted
from backend.workers.waiting import submit_warnings, waiting_reason
from contrastlab.core.catalog import Status
from contrastlab.core.protocol import NoNul
from contrastlab.core.spec import RunSpec

router = APIRouter(prefix="/runs", tags=["runs"])
log = logging.getLogger(__name__)

IDS_PATTERN = r"^[0-9]{1,18}(,[0-9]{1,18})*$"  # 18 digits: always a 64-bit id
MAX_SPEC_FILTERS = 20


def _enqueue(run: Run, session: SessionDep, celery: CeleryDep, settings: SettingsDep,
             notifier: NotifierDep) -> None:
    """Send the run's task after its row is committed; a broker failure fails the run (BrokerUnavailable)."""
    dispatch.enqueue(session, celery, settings.queue, run, notifier.bump)
    log.info("run %s queued", run.id)


@router.post("", status_code=201, response_model=RunSubmitted)
def submit_run(spec: RunSpec, request: Request, session: SessionDep, celery: CeleryDep, settings: SettingsDep,
               notifier: NotifierDep) -> RunSubmitted:
    """Record the spec, then enqueue it (after the commit, so a worker always finds the row). Accepted even when
    no connected worker can take it (workers come and go); `warnings` says so."""
    check_spec(spec, settings)
    admit_submission(request, settings)
    run = lifecycle.create_run(session, spec)
    _enqueue(run, session, celery, settings, notifier)
    warnings = submit_warnings(session, spec.devices, settings.worker_lost_seconds)
    return RunSubmitted.model_validate(run).model_copy(update={"warnings": warnings})


@router.post("/group", status_code=201, response_model=RunGroupPublic)
def submit_group(body: RunGroupCreate, request: Request, session: SessionDep, celery: CeleryDep,
                 settings: SettingsDep, notifier: NotifierDep) -> RunGroupPublic:
    """The same spec once per seed; the runs share `group_id` (the first run's id)."""
    check_spec(body.spec, settings, ("body", "spec"))
    admit_submission(request, settings, len(body.seeds))
    created = admin.create_group(session, body.spec, body.seeds)
    for run in created:
        _enqueue(run, session, celery, settings, notifier)
    return RunGroupPublic(group_id=created[0].id, items=[RunPublic.model_validate(r) for r in created],
                          warnings=submit_warnings(session, body.spec.devices, settings.worker_lost_seconds))


def _csv(values: list[str]) -> tuple[str, ...]:
    """Repeated and comma-separated query values, flattened: ?status=a&status=b,c."""
    return tuple(part.strip() for value in values for part in value.split(",") if part.strip())


def _spec_filters(values: list[str]) -> tuple[tuple[str, object], ...]:
    """The `spec` filters, typed as the RunSpec fields are; a 422 that names the filter and the fix."""
    try:
        if len(values) > MAX_SPEC_FILTERS:
            raise ValueError(f"{len(values)} spec filters: give at most {MAX_SPEC_FILTERS}")
        return tuple(listing.parse_spec_filter(value) for value in values)
    except ValueError as exc:
        raise InvalidFields([{"loc": ("query", "spec"), "msg": str(exc), "type": "value_error",
                             "input": values}]) from None


def _tags(values: list[str]) -> tuple[str, ...]:
    """The `tag` filters, checked as a tag is (a 422 that names the bad one)."""
    tags = _csv(values)
    if len(tags) > annotate.MAX_TAGS:
        raise InvalidFields([{"loc": ("query", "tag"), "msg": f"{len(tags)} tags: give at most "
                              f"{annotate.MAX_TAGS}", "type": "value_error", "input": values}])
    try:
        return tuple(annotate.TAG.validate_python(t) for t in tags)
    except ValidationError as exc:
        raise InvalidFields([{"loc": ("query", "tag"), "msg": exc.errors()[0]["msg"].removeprefix("Value error, "),
                              "type": "value_error", "input": values}]) from None


@router.get("", response_model=RunsPublic)
def read_runs(
    session: SessionDep,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=2**62),
    after: Annotated[str | None, Query(max_length=400, pattern="^[A-Za-z0-9_-]*$", description="A page's "
                                       "next_after: the page after it, by an index however deep.")] = None,
    sort: Annotated[listing.SortKey, Query(description="Column to order by.")] = "id",
    order: Annotated[str, Query(pattern="^(asc|desc)$")] = "desc",
    status: Annotated[list[NoNul], Query(description="Keep these statuses (repeat or comma-separate).")] = [],  # noqa: B006
    method: Annotated[list[NoNul], Query()] = [],  # noqa: B006
    dataset: Annotated[list[NoNul], Query()] = [],  # noqa: B006
    encoder: Annotated[list[NoNul], Query()] = [],  # noqa: B006
    q: Annotated[NoNul, Query(max_length=120, description="Name contains this (case-insensitive), or a run id.")] = "",
    group_id: int | None = Query(None, ge=1, le=2**63 - 1),
    study_id: int | None = Query(None, ge=1, le=2**63 - 1, description="Only the runs of this study."),
    ids: Annotated[str | None, Query(pattern=IDS_PATTERN, max_length=4000,
                                     description="Only these run ids: 1,2,3.")] = None,
    spec: Annotated[list[str], Query(description="field=value: only runs whose spec has this value "
                                     "(optimizer=sgd, lr=0.001, image_size=none); repeat for several.")] = [],  # noqa: B006
    tag: Annotated[list[NoNul], Query(description="Only runs with every one of these tags (repeat or "
                                      "comma-separate); a bare key matches it with any value.")] = [],  # noqa: B006
    trashed: Annotated[bool | None, Query(description="true: only the runs in the trash; false: only the others; "
                                          "default: the others, or with `ids` both.")] = None,
) -> RunsPublic:
    """A page of runs, filtered and sorted by the server, with the total that match."""
    where = listing.RunFilter(statuses=_csv(status), methods=_csv(method), datasets=_csv(dataset),
                              encoders=_csv(encoder), text=q, group_id=group_id, study_id=study_id,
                              ids=tuple(int(i) for i in ids.split(",")) if ids else (), spec=_spec_filters(spec),
                              tags=_tags(tag), trashed=trashed if trashed is not None or ids else False)
    try:
        page = listing.list_runs(session, where, sort, order == "desc", limit, offset, after)
    except ValueError as exc:
        raise InvalidFields([{"loc": ("query", "after"), "msg": str(exc), "type": "value_error",
                              "input": after}]) from None
    return RunsPublic(items=[RunPublic.model_validate(r) for r in page.runs], total=page.total,
                      total_exact=page.total_exact, next_after=page.next_after)


@router.get("/{run_id}", response_model=RunPublic)
def read_run(run: RunDep, session: SessionDep, settings: SettingsDep) -> RunPublic:
    """The run; a queued one also says its place in the queue, how many runs are running, and why it waits."""
    public = RunPublic.model_validate(run)
    if run.status == Status.QUEUED:
        public.queue_position, public.runs_running = lifecycle.queue_place(session, run)
        public.waiting_reason = waiting_reason(session, run, settings.worker_lost_seconds)
    return public


@router.post("/{run_id}/cancel", response_model=RunPublic)
def cancel_run(run: RunDep, session: SessionDep, notifier: NotifierDep) -> RunPublic:
    """Queued: canceled at once. Running: the worker stops at its next report. 409 once it is final."""
    updated = lifecycle.request_cancel(session, run.id)
    notifier.bump(run.id)
    return RunPublic.model_validate(updated)


@router.patch("/{run_id}", response_model=RunPublic)
def annotate_run(run: RunDep, update: AnnotationUpdate, session: SessionDep, notifier: NotifierDep) -> RunPublic:
    """Rename the run, set its tags or its notes (at any status: these are the user's words, not its results)."""
    annotate.apply(run, update)
    session.commit()
    notifier.bump(run.id)
    return RunPublic.model_validate(run)


@router.delete("/{run_id}", status_code=204, response_class=Response)
def delete_run(run: RunDep, session: SessionDep, notifier: NotifierDep) -> Response:
    """Move a finished run to the trash (restore brings it back whole); 409 while it is queued or running."""
    trash.trash_runs(session, [run])
    notifier.bump(run.id)
    return Response(status_code=204)


def _selection(session: SessionDep, ids: list[int]) -> list[Run]:
    runs = list(session.scalars(select(Run).where(Run.id.in_(ids))).all())
    missing = sorted(set(ids) - {run.id for run in runs})
    if missing:
        raise run_not_found(missing[0])
    return runs


@router.delete("", response_model=RunIds)
def delete_runs(session: SessionDep, notifier: NotifierDep,
                ids: Annotated[str | None, Query(pattern=IDS_PATTERN, max_length=4000,
                                                 description="These runs: 1,2,3.")] = None,
                group_id: int | None = Query(None, ge=1, le=2**63 - 1, description="The runs of this seed group.")
                ) -> RunIds:
    """Move a selection (`ids`) or a seed group (`group_id`) to the trash, all or none; returns the ids moved."""
    if not ids and group_id is None:
        raise InvalidFields([{"loc": ("query", "ids"), "msg": "give ids=1,2,3 or group_id=N: the runs to move to the "
                              "trash", "type": "missing", "input": None}])
    wanted = [int(i) for i in ids.split(",")] if ids else []
    runs = _selection(session, wanted) if wanted else []
    if group_id is not None:
        chosen = {run.id for run in runs}
        # In id order: without ORDER BY, PostgreSQL returns the rows as they lie, and an update moves a row.
        runs += [run for run in session.scalars(select(Run).where(Run.group_id == group_id).order_by(Run.id))
                 if run.id not in chosen]
        if not runs:
            raise run_not_found(group_id)
    moved = trash.trash_runs(session, runs)
    for run_id in moved:
        notifier.bump(run_id)
    return RunIds(ids=[run.id for run in runs])


@router.post("/restore", response_model=RunIds)
def restore_runs(body: Annotated[RunIds, Body()], session: SessionDep, notifier: NotifierDep) -> RunIds:
    """Bring a selection back from the trash with every point and file; returns the ids."""
    runs = _selection(session, body.ids)
    for run_id in trash.restore_runs(session, runs):
        notifier.bump(run_id)
    return RunIds(ids=[run.id for run in runs])


@router.post("/{run_id}/restore", response_model=RunPublic)
def restore_run(run: RunDep, session: SessionDep, notifier: NotifierDep) -> RunPublic:
    """Bring the run back from the trash with every point and file."""
    trash.restore_runs(session, [run])
    session.refresh(run)
    notifier.bump(run.id)
    return RunPublic.model_validate(run)
