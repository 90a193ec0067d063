"""What the page and the CLI read of a search: its trials (params, monitor values, final value, pruned when),
the best trial, and the confirmation's cells and runs apart."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.models import Event, Run, Study
from backend.studies.grid import cell_key
from backend.studies.search import optimizer
from backend.studies.search.flow import config_of, members, records
from backend.studies.search.space import baseline_values, cell_values
from contrastlab.core.catalog import FINAL_STATUSES


class TrialPublic(BaseModel):
    number: int
    run_id: int
    status: str
    params: dict[str, Any] = Field(description="What the sampler drew for each axis.")
    values: dict[str, Any] = Field(description="The axes that apply to this trial's spec (its cell's values).")
    value: float | None = Field(description="The final metric; null unless the run succeeded with it.")
    intermediate: dict[str, float] = Field(description="The k-NN monitor by epoch, as the pruner saw it.")
    pruned_epoch: int | None = Field(description="The epoch at which the pruner stopped it.")
    steps: int = Field(description="The training steps it recorded (its last point's step).")


class ConfirmationPublic(BaseModel):
    baseline: str = Field(description="The baseline's cell key (the base spec's values of the axes).")
    best: str = Field(description="The best trial's cell key (the same as baseline when they agree).")
    seeds: list[int] = Field(description="Fresh seeds: no trial ran on them.")
    runs: list[int]


class SearchPublic(BaseModel):
    config: dict[str, Any]
    state: str = Field(description="trials, confirming, done, or stopped (canceled, or no trial had a value).")
    trials: list[TrialPublic]
    best: int | None = Field(description="The number of the best completed trial so far.")
    confirmation: ConfirmationPublic | None


def _steps(session: Session, run_ids: Sequence[int]) -> dict[int, int]:
    rows = session.execute(select(Event.run_id, func.max(Event.step)).where(
        Event.run_id.in_(run_ids), Event.kind == "metric").group_by(Event.run_id)).all()
    return {int(run_id): int(step or 0) for run_id, step in rows}


def confirmation_runs(session: Session, study_id: int) -> list[Run]:
    """The confirmation's runs, baseline cell first: the only runs a search's statistics count."""
    return [run for row, run in members(session, study_id) if row.role == "confirm"]


def search_view(session: Session, study: Study) -> SearchPublic:
    config = config_of(study)
    pairs = members(session, study.id)
    steps = _steps(session, [run.id for _, run in pairs])
    known = {r.number: r for r in records(pairs, config.metric)}
    trials = [TrialPublic(number=int(row.number or 0), run_id=run.id, status=run.status, params=row.params,
                          values=cell_values(study.base, study.axes, row.params),
                          value=known[int(row.number or 0)].value, intermediate=dict(row.intermediate or {}),
                          pruned_epoch=row.pruned_epoch, steps=steps.get(run.id, 0))
              for row, run in pairs if row.role == "trial"]
    best = optimizer.best(list(known.values()), config.direction)
    confirm = [(row, run) for row, run in pairs if row.role == "confirm"]
    confirmation = None
    if confirm:
        baseline = cell_key(baseline_values(study.base, study.axes))
        keys = [run.study_cell or "" for _, run in confirm]
        winner = next((k for k in keys if k != baseline), baseline)
        seeds = sorted({int(run.spec.get("seed", 0)) for _, run in confirm})
        confirmation = ConfirmationPublic(baseline=baseline, best=winner, seeds=seeds, runs=[r.id for _, r in confirm])
    if (study.search or {}).get("stopped"):
        state = "stopped"
    elif confirm:
        state = "done" if all(run.status in FINAL_STATUSES for _, run in confirm) else "confirming"
    else:
        state = "trials"
    return SearchPublic(config=dict(study.search or {}), state=state, trials=trials,
                        best=best.number if best else None, confirmation=confirmation)
