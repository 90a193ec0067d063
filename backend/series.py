"""Downsampled metric series: min/max-preserving buckets sized to the chart, so 100 000 points draw fast.

A chart `points` wide gets the metric's first and last point and, for each of
(points - 2) / 2 buckets, that bucket's minimum and maximum in recorded order:
every spike and dip that a pixel column could show survives, and the curve's ends
stay put. Buckets are equal ranges of the event id (the order points were
recorded, whatever the x axis; a resumed run's repeated steps stay apart), and
the database does the bucketing, so only the points kept leave it: one indexed
pass over (run_id, name, id), plain GROUP BY, the same SQL on SQLite and PostgreSQL.
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, case, func, literal, select, union
from sqlalchemy.orm import Session, aliased

from backend.models import FINAL_STATUSES, Event, Run

XAxis = Literal["step", "epoch", "time"]
Series = tuple[list[float], list[float | None]]
CACHE_SIZE = 512
# Extremes are taken over |value| <= this: NULL, ±inf and PostgreSQL's NaN (above every number) are left out.
FINITE = sys.float_info.max


def _of_metric(run_id: int, name: str, table: Any = Event) -> tuple[ColumnElement[bool], ...]:
    """One metric's rows. `kind` is compared through an expression so that no planner prefers
    (run_id, kind, id), which holds every metric of the run, to (run_id, name, id)."""
    return table.run_id == run_id, table.name == name, func.coalesce(table.kind, "") == "metric"


def _x_column(x: XAxis) -> Any:
    return {"step": Event.step, "epoch": Event.epoch, "time": Event.time}[x]


def metric_names(session: Session, run_id: int) -> list[str]:
    """The names of a run's metrics, sorted: a walk over the (run_id, name, id) index, one seek per
    distinct name, instead of a DISTINCT over every event of the run."""
    names: list[str] = []
    after = ""
    while (name := session.scalar(select(func.min(Event.name)).where(Event.run_id == run_id,
                                                                     Event.name > after))) is not None:
        if session.scalar(select(Event.id).where(*_of_metric(run_id, name)).limit(1)) is not None:
            names.append(name)
        after = name
    return names


def _kept_ids(run_id: int, name: str, first: int, last: int, buckets: int) -> Any:
    """The ids to keep: first, last, and per bucket the first row holding its min and its max
    (a bucket without a finite value keeps its first row, drawn as a gap)."""
    finite = case((Event.value.between(-FINITE, FINITE), Event.value))
    ranges = (select(func.min(Event.id).label("lo_id"), func.max(Event.id).label("hi_id"),
                     func.min(finite).label("low"), func.max(finite).label("high"))
              .where(*_of_metric(run_id, name))
              .group_by((Event.id - first) * buckets // (last - first + 1)).cte("buckets"))
    inner = aliased(Event)

    def first_with(value: Any) -> Any:
        """The first row of a bucket holding `value`: an index range scan of that bucket alone."""
        return (select(func.min(inner.id)).where(*_of_metric(run_id, name, inner),
                                                 inner.id.between(ranges.c.lo_id, ranges.c.hi_id), inner.value == value)
                .correlate(ranges).scalar_subquery())

    return union(select(first_with(ranges.c.low)).select_from(ranges),
                 select(first_with(ranges.c.high)).select_from(ranges),
                 select(ranges.c.lo_id).where(ranges.c.low.is_(None)),
                 select(literal(first, Event.id.type)), select(literal(last, Event.id.type)))


def series_query(run_id: int, name: str, x: XAxis, points: int, bounds: tuple[int, int, int]) -> Select[Any]:
    """(x, value) rows of one metric, in recorded order: all of them, or the kept ones past `points`."""
    count, first, last = bounds
    rows: tuple[ColumnElement[bool], ...] = _of_metric(run_id, name)
    if count > points:  # primary-key look-ups of the kept ids only
        rows = (Event.id.in_(_kept_ids(run_id, name, first, last, max(1, (points - 2) // 2))),)
    return select(_x_column(x), Event.value).where(*rows).order_by(Event.id)


def downsampled(session: Session, run: Run, name: str, x: XAxis, points: int) -> tuple[Series, int]:
    """(at most `points` points of one metric, the number of points recorded); time in seconds since start."""
    count, first, last = session.execute(
        select(func.count(), func.min(Event.id), func.max(Event.id)).where(*_of_metric(run.id, name))).one()
    if not count:
        return ([], []), 0
    rows = session.execute(series_query(run.id, name, x, max(points, 4), (count, first, last))).all()
    ys = [float(v) if v is not None and abs(v) <= FINITE else None for _, v in rows]
    if x != "time":
        return ([float(v or 0) for v, _ in rows], ys), count
    origin = run.started_at or rows[0][0]
    return ([_seconds(t, origin) for t, _ in rows], ys), count


def _seconds(value: datetime, origin: datetime) -> float:
    return round((value - origin).total_seconds(), 3)


class SeriesCache:
    """Downsampled series of finished runs (they never change); keyed by the run's creation time too,
    so a reused id after a delete never sees another run's points."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._items: OrderedDict[tuple[object, ...], tuple[Series, int]] = OrderedDict()

    def clear(self) -> None:
        self._items.clear()

    def get(self, session: Session, run: Run, name: str, x: XAxis, points: int) -> tuple[Series, int]:
        """(downsampled series, number of raw points)."""
        key = (run.id, run.created_at, name, x, points)
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = downsampled(session, run, name, x, points)
        if run.status in FINAL_STATUSES:
            self._items[key] = value
            if len(self._items) > self.size:
                self._items.popitem(last=False)
        return value
