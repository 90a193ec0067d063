"""Downsampled metric series for charts, sized to the chart's width."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from backend.api.deps import RunDep, SessionDep
from backend.runs import series
from backend.runs.schemas import RunSeriesPublic, SeriesPublic
from contrastlab.core.protocol import NoNul

router = APIRouter(prefix="/runs/{run_id}", tags=["metrics"])
_cache = series.SeriesCache()


@router.get("/series", response_model=RunSeriesPublic)
def read_series(
    run: RunDep,
    session: SessionDep,
    names: Annotated[NoNul, Query(max_length=2000, description="Comma-separated metric names, each read once; "
                                 f"empty: all. At most {series.MAX_SERIES_NAMES} distinct names.")] = "",
    x: Annotated[series.XAxis, Query(description="step, epoch, or time (seconds since the run started).")] = "step",
    points: Annotated[int, Query(ge=4, le=20_000, description="At most this many points per metric: "
                                 "about twice the chart's width in pixels (a min and a max per column).")] = 2000,
) -> Response:
    """Each metric with its endpoints and every bucket's min and max kept, so spikes stay visible.
    Serialised once here (not validated again by FastAPI): 20 runs × thousands of floats add up."""
    wanted = series.requested_names(names) or series.metric_names(session, run.id)
    out: dict[str, SeriesPublic] = {}
    for name in wanted:
        (xs, ys), count = _cache.get(session, run, name, x, points)
        if count:
            out[name] = SeriesPublic(x=xs, y=ys, count=count)
    body = RunSeriesPublic(run_id=run.id, x_axis=x, series=out).model_dump_json()
    return Response(body, media_type="application/json")
