"""A search study's creation: its axes, metric and size checked, the study row stored (its first trials are
sampled by flow.advance in the same request)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from backend.models import Study, utcnow
from backend.studies.grid import StudyInvalid, _error
from backend.studies.schemas import AxisRange, SearchConfig, StudyCreate
from backend.studies.search import space
from contrastlab.core.catalog import METRICS
from contrastlab.core.settings import Settings


def run_count(config: SearchConfig) -> int:
    """The most runs the search launches: its trials, and the baseline and the winner on each fresh seed."""
    return config.trials + 2 * config.confirm_seeds


def check(body: StudyCreate, settings: Settings) -> int:
    """StudyInvalid naming what is wrong (axes, metric, direction, size); else the most runs it launches."""
    config = body.search
    assert config is not None
    most = run_count(config)
    if most > settings.study_max_runs:
        raise StudyInvalid([_error(("search", "trials"), f"this search would launch up to {most} runs ({config.trials} "
                                   f"trials and 2 × {config.confirm_seeds} confirmation runs); at most "
                                   f"{settings.study_max_runs} are allowed (STUDY_MAX_RUNS): lower trials or "
                                   "confirm_seeds", config.trials)])
    space.check(body.base, body.axes, config.metric, config.sampler, settings)
    info = METRICS[config.metric]
    wanted = "max" if info.direction == "higher" else "min"
    if config.direction != wanted:
        raise StudyInvalid([_error(("search", "direction"), f"{config.metric} is better {info.direction}: "
                                   f"direction must be {wanted!r}", config.direction)])
    if config.pruner == "asha" and wanted != "max":
        raise StudyInvalid([_error(("search", "pruner"), "ASHA prunes on the k-NN monitor (higher is better): rank "
                                   "by a metric that is better higher, or set pruner to none", config.pruner)])
    return most


def _stored_axes(body: StudyCreate) -> dict[str, Any]:
    return {f: v.model_dump() if isinstance(v, AxisRange) else list(v) for f, v in body.axes.items()}


def store(session: Session, body: StudyCreate) -> Study:
    """The study row, its search settings beside it (committed; it has no run yet)."""
    assert body.search is not None
    study = Study(name=body.name, base=body.base, axes=_stored_axes(body), seeds=body.seeds[:1], created_at=utcnow(),
                  search=body.search.model_dump(), search_version=0)
    session.add(study)
    session.commit()
    return study
