"""A study's rows: store its grid of runs in one transaction, read it back by cell, cancel it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import case, func, insert, select, update
from sqlalchemy.orm import Session

from backend.errors import Conflict
from backend.models import Event, Run, Study, utcnow
from backend.runs import lifecycle
from backend.studies.grid import Cell, applies, run_label, run_name
from backend.studies.schemas import StudyCreate
from contrastlab.core.catalog import STATUSES, Status
from contrastlab.core.spec import SPEC_VERSION


def create_study(session: Session, body: StudyCreate, cells: list[Cell]) -> tuple[Study, list[Run]]:
    """The study row and one queued run per cell and seed, inserted in bulk in one transaction."""
    now = utcnow()
    study = Study(name=body.name, base=body.base, axes=body.axes, seeds=body.seeds, created_at=now)
    session.add(study)
    session.flush()
    rows = []
    for cell in cells:
        for seed in body.seeds:
            name = run_name(body.name, cell, seed)
            spec = cell.spec.model_copy(update={"seed": seed, "name": name}).model_dump(mode="json")
            rows.append({"name": name, "status": Status.QUEUED, "spec": spec, "spec_version": SPEC_VERSION,
                         "summary": {}, "progress": 0.0, "attempt": 0, "cancel_requested": False, "created_at": now,
                         "method": spec["method"], "dataset": spec["dataset"], "encoder": spec["encoder"],
                         "study_id": study.id, "study_cell": cell.key})
    session.execute(insert(Run), rows)  # one executemany; RETURNING in order would cost a statement per row on SQLite
    created = study_runs(session, study.id)  # ids ascend in insertion order
    if len(body.seeds) > 1:  # a cell's seeds are a seed group (group_id: its first run's), as a run's seeds are
        first = {run.id: created[i - i % len(body.seeds)].id for i, run in enumerate(created)}
        session.execute(update(Run).where(Run.study_id == study.id).values(group_id=case(first, value=Run.id)))
    session.execute(insert(Event), [{"run_id": run.id, "kind": "status", "name": Status.QUEUED, "text": Status.QUEUED,
                                     "time": now} for run in created])
    session.commit()
    return study, created


def extend_study(session: Session, study: Study, cells: Sequence[CellRuns], more: int) -> list[Run]:
    """`more` new runs in each of `cells`, on the seeds after the largest the cell has used, each a copy of the
    cell's first spec with its seed and name, in the cell's seed group; the study's seeds list grows to cover them.
    One transaction; the new runs are queued, as a study's first runs are."""
    now = utcnow()
    rows = []
    for cell in cells:
        first = cell.runs[0]
        start = max(int(run.spec.get("seed", 0)) for run in cell.runs) + 1
        for seed in range(start, start + more):
            name = run_label(study.name, cell.values, seed)
            spec = {**first.spec, "seed": seed, "name": name}
            rows.append({"name": name, "status": Status.QUEUED, "spec": spec, "spec_version": first.spec_version,
                         "summary": {}, "progress": 0.0, "attempt": 0, "cancel_requested": False, "created_at": now,
                         "method": first.method, "dataset": first.dataset, "encoder": first.encoder,
                         "study_id": study.id, "study_cell": cell.key, "group_id": first.group_id or first.id})
    before = session.scalar(select(func.max(Run.id)).where(Run.study_id == study.id)) or 0
    session.execute(insert(Run), rows)
    created = list(session.scalars(select(Run).where(Run.study_id == study.id, Run.id > before).order_by(Run.id)))
    session.execute(update(Run).where(Run.id.in_([c.runs[0].id for c in cells]), Run.group_id.is_(None))
                    .values(group_id=Run.id))  # a one-seed cell becomes a seed group with its first run
    seeds = sorted({*study.seeds, *(int(run.spec["seed"]) for run in created)})
    session.execute(update(Study).where(Study.id == study.id).values(seeds=seeds))
    session.execute(insert(Event), [{"run_id": run.id, "kind": "status", "name": Status.QUEUED, "text": Status.QUEUED,
                                     "time": now} for run in created])
    session.commit()
    return created


def fail_unsent(session: Session, run_ids: Sequence[int], reason: str) -> None:
    """Runs whose task could not be sent must not sit in `queued` forever (lifecycle.fail_unsent, in bulk)."""
    now = utcnow()
    session.execute(update(Run).where(Run.id.in_(run_ids), Run.status == Status.QUEUED).values(
        status=Status.FAILED, error=reason, finished_at=now))
    session.execute(insert(Event), [{"run_id": i, "kind": "status", "name": Status.FAILED, "text": f"failed: {reason}",
                                     "time": now} for i in run_ids])
    session.commit()


def list_studies(session: Session, limit: int, offset: int, trashed: bool = False) -> tuple[list[Study], int]:
    """A page of studies (those in the trash, or the others), newest first, and how many there are."""
    where = Study.trashed_at.is_not(None) if trashed else Study.trashed_at.is_(None)
    total = session.scalar(select(func.count()).select_from(Study).where(where)) or 0
    page = session.scalars(select(Study).where(where).order_by(Study.created_at.desc(), Study.id.desc())
                           .limit(limit).offset(offset)).all()
    return list(page), total


def _zero_counts() -> dict[str, int]:
    return {str(status): 0 for status in STATUSES}


def status_counts(session: Session, study_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Runs per status of each study, every status listed (0 where none)."""
    counts = {i: _zero_counts() for i in study_ids}
    rows = session.execute(select(Run.study_id, Run.status, func.count()).where(Run.study_id.in_(study_ids))
                           .group_by(Run.study_id, Run.status)).all()
    for study_id, status, count in rows:
        counts[cast(int, study_id)][status] = count  # never None: the query keeps these ids only
    return counts


def count_statuses(members: Sequence[Run]) -> dict[str, int]:
    """Runs per status, every status listed (0 where none)."""
    counts = _zero_counts()
    for run in members:
        counts[run.status] += 1
    return counts


def study_runs(session: Session, study_id: int) -> list[Run]:
    """The study's runs in the order they were created: cell by cell, seed by seed."""
    return list(session.scalars(select(Run).where(Run.study_id == study_id).order_by(Run.id)).all())


@dataclass(frozen=True)
class CellRuns:
    key: str
    values: dict[str, Any]
    runs: list[Run]


def cells_of(study: Study, study_runs: Sequence[Run]) -> list[CellRuns]:
    """The study's cells in grid order, each with its values (read from its first run's spec) and runs."""
    grouped: dict[str, list[Run]] = {}
    for run in study_runs:
        grouped.setdefault(run.study_cell or "", []).append(run)
    return [CellRuns(key, {f: members[0].spec.get(f) for f in study.axes if applies(f, members[0].spec)}, members)
            for key, members in grouped.items()]


def cancel_study(session: Session, study_runs: Sequence[Run]) -> list[int]:
    """Cancel each queued or running run as a run's cancel does; returns the ids whose cancel was recorded."""
    canceled = []
    for run in study_runs:
        if run.status in (Status.QUEUED, Status.RUNNING):
            try:
                lifecycle.request_cancel(session, run.id)
            except Conflict:  # it finished in the meantime
                continue
            canceled.append(run.id)
    return canceled
