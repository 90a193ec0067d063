"""The trash: DELETE moves finished runs (one, a seed group, a selection, a study's) there; restore brings them back
untouched (every point, message and file stays where it was); emptying it, by hand or after TRASH_DAYS, removes
them for good and says how many bytes that freed."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from backend.errors import Conflict
from backend.models import Run, Study, utcnow
from backend.runs import admin
from contrastlab.core.catalog import FINAL_STATUSES


@dataclass(frozen=True)
class TrashTotals:
    """Runs and studies (in the trash, or just removed from it) and their bytes: the artifact files on disk, and
    the metric names and messages they recorded in the database."""

    runs: int = 0
    studies: int = 0
    file_bytes: int = 0
    record_bytes: int = 0


def files_bytes(artifacts_dir: Path, run_id: int) -> int:
    """Bytes of the regular files under the run's artifact folder (links are not followed)."""
    total = 0
    for folder, _, names in os.walk(artifacts_dir / str(int(run_id))):
        for name in names:
            path = Path(folder, name)
            if path.is_file() and not path.is_symlink():
                total += path.stat().st_size
    return total


def _refuse_live(runs: Sequence[Run], what: str) -> None:
    live = [run for run in runs if run.status not in FINAL_STATUSES]
    if live:
        named = ", ".join(f"run {run.id} is {run.status}" for run in live[:5]) + (" …" if len(live) > 5 else "")
        raise Conflict(f"{what}: {named}; cancel it first, then delete it once it has stopped")


def trash_runs(session: Session, runs: Sequence[Run]) -> list[int]:
    """Move final runs to the trash (all or none: Conflict naming the runs still queued or running)."""
    _refuse_live(runs, "nothing was moved to the trash")
    ids = [run.id for run in runs if run.trashed_at is None]
    if ids:
        session.execute(update(Run).where(Run.id.in_(ids), Run.trashed_at.is_(None)).values(trashed_at=utcnow()))
        session.commit()
    return ids


def restore_runs(session: Session, runs: Sequence[Run]) -> list[int]:
    """Take runs out of the trash; a restored run of a trashed study brings its study back too."""
    ids = [run.id for run in runs if run.trashed_at is not None]
    if ids:
        session.execute(update(Run).where(Run.id.in_(ids)).values(trashed_at=None))
        studies = {run.study_id for run in runs if run.study_id is not None}
        if studies:
            session.execute(update(Study).where(Study.id.in_(studies)).values(trashed_at=None))
        session.commit()
    return ids


def trash_study(session: Session, study: Study, runs: Sequence[Run]) -> None:
    """The study and its runs to the trash; Conflict while any run may still change."""
    _refuse_live(runs, f"study {study.id} was not moved to the trash")
    now = utcnow()
    session.execute(update(Run).where(Run.study_id == study.id, Run.trashed_at.is_(None)).values(trashed_at=now))
    session.execute(update(Study).where(Study.id == study.id).values(trashed_at=study.trashed_at or now))
    session.commit()


def restore_study(session: Session, study: Study) -> None:
    """The study and every run of it out of the trash."""
    session.execute(update(Run).where(Run.study_id == study.id).values(trashed_at=None))
    session.execute(update(Study).where(Study.id == study.id).values(trashed_at=None))
    session.commit()


def _trashed_runs(session: Session, before: datetime | None, ids: Sequence[int] | None) -> list[Run]:
    query = select(Run).where(Run.trashed_at.is_not(None)).order_by(Run.id)
    if before is not None:
        query = query.where(Run.trashed_at <= before)
    if ids is not None:
        query = query.where(Run.id.in_(ids))
    return list(session.scalars(query).all())


def contents(session: Session, artifacts_dir: Path) -> TrashTotals:
    """What the trash holds and the bytes emptying it would free."""
    runs = _trashed_runs(session, None, None)
    studies = session.scalar(select(func.count()).select_from(Study).where(Study.trashed_at.is_not(None))) or 0
    return TrashTotals(runs=len(runs), studies=studies,
                       file_bytes=sum(files_bytes(artifacts_dir, run.id) for run in runs),
                       record_bytes=sum(run.recorded_bytes or 0 for run in runs))


def empty(session: Session, artifacts_dir: Path, study_cache_dir: Path, before: datetime | None = None,
          ids: Sequence[int] | None = None) -> TrashTotals:
    """Remove trashed runs for good (those trashed before `before`, or those of `ids`), their events, artifact rows
    and files, then the trashed studies left with no run and their computed bodies (backend.studies.kept); returns
    what was removed and the bytes freed."""
    runs = _trashed_runs(session, before, ids)
    file_bytes = record_bytes = 0
    for run in runs:  # one run at a time, as a delete always was: a crash leaves whole runs, never half of one
        file_bytes += files_bytes(artifacts_dir, run.id)
        record_bytes += run.recorded_bytes or 0
        admin.delete_run(session, run, artifacts_dir)
    orphans = select(Study.id).where(Study.trashed_at.is_not(None),
                                     ~select(Run.id).where(Run.study_id == Study.id).exists())
    if before is not None:
        orphans = orphans.where(Study.trashed_at <= before)
    study_ids = list(session.scalars(orphans).all())
    if study_ids:
        session.execute(delete(Study).where(Study.id.in_(study_ids)))
        session.commit()
        for study_id in study_ids:
            shutil.rmtree(study_cache_dir / str(int(study_id)), ignore_errors=True)
    return TrashTotals(runs=len(runs), studies=len(study_ids), file_bytes=file_bytes, record_bytes=record_bytes)
