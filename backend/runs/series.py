"""Downsampled metric series: min/max-preserving buckets sized to the chart, so 100 000 points draw fast.

A chart `points` wide gets the metric's first and last point and, for each of
(points - 2) / 2 buckets, that bucket's minimum and maximum in recorded order:
every spike and dip that a pixel column could show survives, and the curve's ends
stay put. Buckets are equal ranges of the event id (the order points were
recorded, whatever the x axis; a resumed run's repeated steps stay apart), and
the database does the bucketing, so only the points kept leave it: one indexed
pass over (run_id, name, id), plain GROUP BY, the same SQL on SQLite and PostgreSQL.

A finished run's metrics never change, so each is downsampled once more, to
OVERVIEW_POINTS, and stored (SeriesOverview): when the run finishes, by the reconciler
for runs that have none, or on a first view. A chart asking for up to OVERVIEW_POINTS
points (2048 px wide) is then served from that row, re-bucketed by
the same event-id ranges, without reading the run's events: a compare page of 20
runs × 100 000 points reads 60 rows. Where the run has at most OVERVIEW_POINTS points
the result equals the direct query's; past that, a bucket may show a neighbour's
extreme instead of its own when the two lie within 1/OVERVIEW_POINTS of the run apart.

Beside its JSON lists an overview keeps its x columns and values packed (little-endian float64, base64, None as
NaN): a study's curves read 100 runs × 3 metrics at once, and decoding those is ~5 times faster than parsing
the lists' 2.4 million numbers.
"""

from __future__ import annotations

import base64
import logging
import math
import sys
from array import array
from collections import OrderedDict
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, case, func, literal, select, union
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from backend.errors import Unprocessable
from backend.models import Event, Run, SeriesOverview
from contrastlab.core.catalog import FINAL_STATUSES, METRICS

XAxis = Literal["step", "epoch", "time"]
Series = tuple[list[float], list[float | None]]
CACHE_SIZE = 512
MAX_SERIES_NAMES = max(32, len(METRICS))  # distinct names one series request may ask for (each costs queries)
OVERVIEW_POINTS = 4096  # per stored metric: charts up to 2048 px wide (two points per pixel column)
log = logging.getLogger(__name__)
# Extremes are taken over |value| <= this: NULL, ±inf and PostgreSQL's NaN (above every number) are left out.
FINITE = sys.float_info.max
PACKED = ("step", "epoch", "time", "value")  # an overview's columns kept packed too: what a study's curves read


def _of_metric(run_id: int, name: str, table: Any = Event) -> tuple[ColumnElement[bool], ...]:
    """One metric's rows. `kind` is compared through an expression so that no planner prefers
    (run_id, kind, id), which holds every metric of the run, to (run_id, name, id)."""
    return table.run_id == run_id, table.name == name, func.coalesce(table.kind, "") == "metric"


class TooManyNames(Unprocessable):
    """A series request asked for more distinct metrics than MAX_SERIES_NAMES."""


def requested_names(names: str) -> list[str]:
    """The distinct names of a comma-separated list, in their first order: a name asked twice is read once.
    Raises TooManyNames past MAX_SERIES_NAMES, so that one request cannot cost hundreds of queries."""
    wanted = list(dict.fromkeys(name for name in names.split(",") if name))
    if len(wanted) > MAX_SERIES_NAMES:
        raise TooManyNames(f"names lists {len(wanted)} distinct metrics; ask for at most {MAX_SERIES_NAMES} "
                           "per request (split the list, or leave names empty for all of the run's metrics)")
    return wanted


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
    return _kept_rows(run_id, name, (_x_column(x), Event.value), points, bounds)


def _kept_rows(run_id: int, name: str, columns: Sequence[Any], points: int,
               bounds: tuple[int, int, int]) -> Select[Any]:
    count, first, last = bounds
    rows: tuple[ColumnElement[bool], ...] = _of_metric(run_id, name)
    if count > points:  # primary-key look-ups of the kept ids only
        rows = (Event.id.in_(_kept_ids(run_id, name, first, last, max(1, (points - 2) // 2))),)
    return select(*columns).where(*rows).order_by(Event.id)


def _bounds(session: Session, run_id: int, name: str) -> tuple[int, int, int]:
    """(number of points, first event id, last event id) of one metric."""
    count, first, last = session.execute(
        select(func.count(), func.min(Event.id), func.max(Event.id)).where(*_of_metric(run_id, name))).one()
    return count, first, last


def downsampled(session: Session, run: Run, name: str, x: XAxis, points: int) -> tuple[Series, int]:
    """(at most `points` points of one metric, the number of points recorded); time in seconds since start.
    Straight from the events, whatever the run's state."""
    count, first, last = _bounds(session, run.id, name)
    if not count:
        return ([], []), 0
    rows = session.execute(series_query(run.id, name, x, max(points, 4), (count, first, last))).all()
    ys = [float(v) if v is not None and abs(v) <= FINITE else None for _, v in rows]
    if x != "time":
        return ([float(v or 0) for v, _ in rows], ys), count
    origin = run.started_at or rows[0][0]
    return ([_seconds(t, origin) for t, _ in rows], ys), count


def chart_series(session: Session, run: Run, name: str, x: XAxis, points: int) -> tuple[Series, int]:
    """What a chart `points` wide shows of one metric: from the stored overview when the run is finished."""
    if run.status not in FINAL_STATUSES or points > OVERVIEW_POINTS:
        return downsampled(session, run, name, x, points)
    overview = stored_overview(session, run, name)
    if overview is None:
        return ([], []), 0
    ids, values = overview.points["id"], overview.points["value"]
    kept = rebucket(ids, values, max(points, 4))
    ys = [values[i] for i in kept]
    if x == "time":
        times = overview.points["time"]
        origin = run.started_at.timestamp() if run.started_at else times[0]
        return ([round(times[i] - origin, 3) for i in kept], ys), overview.count
    xs = overview.points[x]
    return ([float(xs[i] or 0) for i in kept], ys), overview.count


def rebucket(ids: Sequence[int], values: Sequence[float | None], points: int) -> list[int]:
    """Indices kept of an id-ordered series, as the SQL does it: first, last, and per equal range of
    ids the first index of its minimum and of its maximum (the first index where none is finite)."""
    if len(ids) <= points:
        return list(range(len(ids)))
    buckets = max(1, (points - 2) // 2)
    first, span = ids[0], ids[-1] - ids[0] + 1
    kept = {0, len(ids) - 1}
    low: dict[int, int] = {}
    high: dict[int, int] = {}
    start: dict[int, int] = {}
    for i, (event_id, value) in enumerate(zip(ids, values, strict=True)):
        bucket = (event_id - first) * buckets // span
        start.setdefault(bucket, i)
        if value is None:
            continue
        if bucket not in low or value < values[low[bucket]]:  # type: ignore[operator]
            low[bucket] = i
        if bucket not in high or value > values[high[bucket]]:  # type: ignore[operator]
            high[bucket] = i
    kept.update(low.values(), high.values(), (i for bucket, i in start.items() if bucket not in low))
    return sorted(kept)


def stored_overview(session: Session, run: Run, name: str) -> SeriesOverview | None:
    """The overview of a finished run's metric, built and stored first when missing or outdated;
    None when the metric has no points."""
    overview = session.get(SeriesOverview, (run.id, name))
    if overview is not None and not _newer_points(session, run.id, name, overview.last_id):
        return overview
    count, first, last = _bounds(session, run.id, name)
    if not count:
        return None
    rows = session.execute(_kept_rows(run.id, name, (Event.id, Event.step, Event.epoch, Event.time, Event.value),
                                      OVERVIEW_POINTS, (count, first, last))).all()
    points: dict[str, Any] = {
        "id": [r[0] for r in rows],
        "step": [r[1] for r in rows],
        "epoch": [r[2] for r in rows],
        "time": [r[3].timestamp() for r in rows],
        "value": [float(v) if v is not None and math.isfinite(v) else None for v in (r[4] for r in rows)],
    }
    points["packed"] = {column: pack(points[column]) for column in PACKED}
    if overview is None:
        overview = SeriesOverview(run_id=run.id, name=name, count=count, last_id=last, points=points)
        session.add(overview)
    else:
        overview.count, overview.last_id, overview.points = count, last, points
    try:
        session.commit()
    except IntegrityError:  # built at the same time by another request: theirs is as good
        session.rollback()
        return session.get(SeriesOverview, (run.id, name))
    return overview


def pack(values: Sequence[float | None]) -> str:
    """Numbers as little-endian float64, base64 (None as NaN): numpy reads them back with frombuffer."""
    packed = array("d", (math.nan if v is None else float(v) for v in values))
    if sys.byteorder == "big":
        packed.byteswap()
    return base64.b64encode(packed.tobytes()).decode("ascii")


def _newer_points(session: Session, run_id: int, name: str, last_id: int) -> bool:
    return session.scalar(select(Event.id).where(*_of_metric(run_id, name), Event.id > last_id).limit(1)) is not None


def store_overviews(make_session: Callable[[], Session], run_id: int) -> bool:
    """Build the overviews of a finished run (after its finish response, or by the reconciler);
    False when that failed (its first view builds what is missing)."""
    try:
        with make_session() as session:
            run = session.get(Run, run_id)
            if run is not None and run.status in FINAL_STATUSES:
                for name in metric_names(session, run_id):
                    stored_overview(session, run, name)
        return True
    except Exception:  # a failed build only costs the first view its speed
        log.exception("run %s: could not store the series overviews", run_id)
        return False


def runs_missing_overviews(session: Session, limit: int, skip: Collection[int] = ()) -> list[int]:
    """Finished runs with metric points and no stored overview (they finished before overviews existed,
    or the reconciler ended them), newest first."""
    has_points = select(Event.id).where(Event.run_id == Run.id, Event.kind == "metric").exists()
    has_overview = select(SeriesOverview.run_id).where(SeriesOverview.run_id == Run.id).exists()
    query = select(Run.id).where(Run.status.in_(FINAL_STATUSES), ~has_overview, has_points)
    if skip:
        query = query.where(Run.id.not_in(list(skip)))
    return list(session.scalars(query.order_by(Run.id.desc()).limit(limit)))


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
        value = chart_series(session, run, name, x, points)
        if run.status in FINAL_STATUSES:
            self._items[key] = value
            if len(self._items) > self.size:
                self._items.popitem(last=False)
        return value
