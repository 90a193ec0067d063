"""A study's report for a paper: the results table as Markdown, LaTeX or HTML, and its figure as SVG, both written
from the body of GET /api/studies/{id}/stats (the same function answers both), so they never disagree."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from backend.api.deps import SessionDep, SettingsDep
from backend.api.routes.studies import StudyDep, query_error, stats_body
from backend.studies import report
from contrastlab.core.catalog import METRICS

router = APIRouter(prefix="/studies", tags=["studies"])
MetricQuery = Annotated[str, Query(description="The metric, as for /stats.")]
BaselineQuery = Annotated[str | None, Query(max_length=4000, description="A cell's key, as for /stats.")]


def _stats(study: StudyDep, session: SessionDep, settings: SettingsDep, metric: str,
           baseline: str | None) -> tuple[dict[str, Any], str]:
    body = json.loads(stats_body(study, session, settings, metric, baseline, None))
    return body, METRICS[body["metric"]].label


def _headers(study_id: int, ext: str) -> dict[str, str]:
    return {"Content-Disposition": f'inline; filename="study-{study_id}-report.{ext}"'}


@router.get("/{study_id}/report", response_class=Response,
            responses={200: {"content": {t.split(";")[0]: {} for t in report.MEDIA_TYPES.values()}}})
def study_report(study: StudyDep, session: SessionDep, settings: SettingsDep,
                 format: Annotated[str, Query(description=f"One of: {', '.join(report.FORMATS)}.")] = "md",
                 metric: MetricQuery = "linear_acc", baseline: BaselineQuery = None) -> Response:
    """The results table (each cell's n, mean with its Student-t 95 % interval, IQM with its bootstrap interval,
    difference to the baseline, Holm-corrected Welch p and verdict) with the statistics named in its caption, and
    the figure: inline in html; md and tex reference figure.svg beside them (GET .../report/figure.svg)."""
    if format not in report.FORMATS:
        raise query_error("format", f"{format!r} is not a report format; choose one of "
                                    f"{', '.join(report.FORMATS)}", format)
    body, label = _stats(study, session, settings, metric, baseline)
    title = f"{study.name} (study #{study.id})"
    text = report.render(format, title, label, body, lambda: report.mean_interval_svg(body, label))
    return Response(text, media_type=report.MEDIA_TYPES[format], headers=_headers(study.id, format))


@router.get("/{study_id}/report/figure.svg", response_class=Response,
            responses={200: {"content": {"image/svg+xml": {}}}})
def study_report_figure(study: StudyDep, session: SessionDep, settings: SettingsDep,
                        metric: MetricQuery = "linear_acc", baseline: BaselineQuery = None) -> Response:
    """Each cell's mean with its 95 % interval (dot and whisker), the baseline's mean dashed: SVG written here,
    offline (no plotting library in the API process)."""
    body, label = _stats(study, session, settings, metric, baseline)
    return Response(report.mean_interval_svg(body, label), media_type="image/svg+xml",
                    headers={"Content-Disposition": f'inline; filename="study-{study.id}-figure.svg"'})
