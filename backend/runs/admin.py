"""Dashboard actions on whole runs: launch a seed group, delete a finished run with its files."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from backend.errors import Conflict
from backend.models import Artifact, Event, Run, SeriesOverview
from backend.runs import lifecycle
from contrastlab.core.catalog import FINAL_STATUSES
from contrastlab.core.spec import RunSpec


def create_group(session: Session, spec: RunSpec, seeds: list[int]) -> list[Run]:
    """One queued run per seed, all sharing group_id = the first run's id."""
    specs = [RunSpec.model_validate({**spec.model_dump(), "seed": seed}) for seed in seeds]
    created = [lifecycle.create_run(session, one) for one in specs]
    group_id = created[0].id
    session.execute(update(Run).where(Run.id.in_([r.id for r in created])).values(group_id=group_id))
    session.commit()
    for run in created:
        session.refresh(run)
    return created


def delete_run(session: Session, run: Run, artifacts_dir: Path) -> None:
    """Remove a final run, its events, its artifact rows and its files; Conflict while it may still change."""
    if run.status not in FINAL_STATUSES:
        raise Conflict(f"run {run.id} is {run.status}: cancel it first, then delete it once it has stopped")
    session.execute(delete(SeriesOverview).where(SeriesOverview.run_id == run.id))
    session.execute(delete(Event).where(Event.run_id == run.id))
    session.execute(delete(Artifact).where(Artifact.run_id == run.id))
    session.execute(delete(Run).where(Run.id == run.id))
    session.commit()
    shutil.rmtree(artifacts_dir / str(int(run.id)), ignore_errors=True)
