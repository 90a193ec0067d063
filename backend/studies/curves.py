"""Each cell's curves as mean ± std over its runs, in one request for the whole study (the study page).

Per metric, the x range that the study's runs cover is cut into `points` equal buckets (the same for every
cell, so the cells line up). A run contributes to a bucket the mean of its finite points there; a cell gets,
per bucket where at least one of its runs has a point: x, the mean of those points' x; `mean` and `std`
(ddof 1; None for a single run) over its runs' bucket means; and `n`, the number of runs counted. So the band
is the spread between seeds, not the noise within a run.

The points come from what backend.runs.series keeps of each run: a finished run's stored overview (OVERVIEW_POINTS
min/max-preserving points per metric, one row per run and metric, all read in one query as packed float64 and
built first when missing; one stored before overviews were packed is read from its JSON lists), a live run's
events downsampled to OVERVIEW_POINTS. Where a run has at most OVERVIEW_POINTS points
the result is the exact mean over its points; past that a bucket averages the kept extremes.

Finished runs never change: their parsed points are cached per run; a study whose runs are all finished has a
body_key, under which the route keeps its body (backend.studies.kept), in memory and on disk.
"""

from __future__ import annotations

import base64
import json
import math
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import Any, Generic, TypeVar

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.models import Run, SeriesOverview, Study
from backend.runs import series
from backend.studies.store import CellRuns
from contrastlab.core.catalog import FINAL_STATUSES

RUNS_CACHE_BYTES = 64 * 2**20  # finished runs' points: a 100-run study of 3 metrics holds about 20 MiB

Points = tuple[np.ndarray, np.ndarray]  # x and value (NaN where not finite), float64, in recorded order
RunPoints = dict[str, Points]  # metric name -> points
T = TypeVar("T")


class Lru(Generic[T]):
    """Least recently used out once the items' total size passes `limit`."""

    def __init__(self, limit: int, size_of: Callable[[T], int]) -> None:
        self.limit, self.size_of, self.total = limit, size_of, 0
        self.items: OrderedDict[Hashable, T] = OrderedDict()

    def get(self, key: Hashable) -> T | None:
        if key not in self.items:
            return None
        self.items.move_to_end(key)
        return self.items[key]

    def put(self, key: Hashable, value: T) -> None:
        if key in self.items:
            self.total -= self.size_of(self.items.pop(key))
        self.items[key] = value
        self.total += self.size_of(value)
        while self.total > self.limit and len(self.items) > 1:
            self.total -= self.size_of(self.items.popitem(last=False)[1])

    def clear(self) -> None:
        self.items.clear()
        self.total = 0


def _nbytes(points: RunPoints) -> int:
    return sum(xs.nbytes + ys.nbytes for xs, ys in points.values())


class CurvesCache:
    """Finished runs' points, per run: they never change again."""

    def __init__(self, runs_bytes: int = RUNS_CACHE_BYTES) -> None:
        self.runs: Lru[RunPoints] = Lru(runs_bytes, _nbytes)

    def clear(self) -> None:
        self.runs.clear()


def _array(values: Sequence[float | None]) -> np.ndarray:
    """float64 with None as NaN."""
    return np.array(values, dtype=np.float64) if len(values) else np.zeros(0)


def _origin(run: Run, times: Sequence[float] | np.ndarray) -> float:
    return run.started_at.timestamp() if run.started_at else float(times[0])


def _overview_points(run: Run, x: series.XAxis, points: dict[str, Any]) -> Points:
    """A stored overview's (x, value), time in seconds since the run started."""
    values = _array(points["value"])
    if x == "time":
        times = points["time"]
        return (_array(times) - _origin(run, times) if times else np.zeros(0)), values
    return _array([v or 0 for v in points[x]]), values


def _unpacked(run: Run, x: series.XAxis, xs: str, values: str) -> Points:
    """A packed overview's (x, value) (backend.runs.series.pack), as _overview_points reads the lists."""
    xs_array, values_array = (np.frombuffer(base64.b64decode(text), dtype="<f8") for text in (xs, values))
    if x == "time":
        return (xs_array - _origin(run, xs_array) if len(xs_array) else xs_array), values_array
    return np.nan_to_num(xs_array, nan=0.0), values_array


def _stored(session: Session, finished: Sequence[Run], x: series.XAxis) -> dict[int, RunPoints]:
    """The finished runs' stored overviews, in one query (their packed arrays; the JSON lists of those stored
    before overviews were packed); a run that has none gets them built first."""
    by_id = {run.id: run for run in finished}
    found: dict[int, RunPoints] = {run.id: {} for run in finished}
    columns = ("time", "value") if x == "time" else (x, "value")
    unpacked: set[tuple[int, str]] = set()
    for run_id, name, packed in session.execute(  # the packed object whole: the database parses each row once
            select(SeriesOverview.run_id, SeriesOverview.name, SeriesOverview.points["packed"])
            .where(SeriesOverview.run_id.in_(list(by_id)))):
        if not packed:
            unpacked.add((run_id, name))
        else:
            found[run_id][name] = _unpacked(by_id[run_id], x, packed[columns[0]], packed["value"])
    if unpacked:
        rows = session.execute(select(SeriesOverview.run_id, SeriesOverview.name,
                                      *(SeriesOverview.points[c] for c in columns))
                               .where(SeriesOverview.run_id.in_(sorted({run_id for run_id, _ in unpacked})))).all()
        for run_id, name, xs, values in rows:
            if (run_id, name) in unpacked:
                found[run_id][name] = _overview_points(by_id[run_id], x, {columns[0]: xs or [], "value": values or []})
    for run_id in [i for i, metrics in found.items() if not metrics]:
        run = by_id[run_id]  # finished before overviews existed, or their build failed: as a first view does
        for name in series.metric_names(session, run_id):
            overview = series.stored_overview(session, run, name)
            if overview is not None:
                found[run_id][name] = _overview_points(run, x, overview.points)
    return found


def _live(session: Session, run: Run, x: series.XAxis) -> RunPoints:
    """A running run's metrics, downsampled from its events as the series endpoint does."""
    out: RunPoints = {}
    for name in series.metric_names(session, run.id):
        (xs, ys), count = series.downsampled(session, run, name, x, series.OVERVIEW_POINTS)
        if count:
            out[name] = _array(xs), _array(ys)
    return out


def runs_points(session: Session, runs: Sequence[Run], x: series.XAxis, cache: CurvesCache) -> dict[int, RunPoints]:
    """Every run's metrics as (x, value) arrays; finished runs' from the cache or their stored overviews."""
    out: dict[int, RunPoints] = {}
    missing: list[Run] = []
    for run in runs:
        if run.status not in FINAL_STATUSES:
            out[run.id] = _live(session, run, x)
        elif (hit := cache.runs.get((run.id, run.created_at, x))) is not None:
            out[run.id] = hit
        else:
            missing.append(run)
    if missing:
        stored = _stored(session, missing, x)
        for run in missing:
            out[run.id] = stored[run.id]
            cache.runs.put((run.id, run.created_at, x), stored[run.id])
    return out


def _buckets(xs: np.ndarray, lo: float, hi: float, points: int) -> np.ndarray:
    """Bucket index of each x: `points` equal ranges of [lo, hi], hi in the last."""
    if hi <= lo:
        return np.zeros(len(xs), dtype=np.int64)
    return np.clip(((xs - lo) * points / (hi - lo)).astype(np.int64), 0, points - 1)


def _finite(points: Points) -> Points:
    xs, ys = points
    keep = np.isfinite(xs) & np.isfinite(ys)
    return xs[keep], ys[keep]


def cell_curve(members: Sequence[Points], lo: float, hi: float, points: int) -> dict[str, list[Any]]:
    """One cell's {x, mean, std, n} over the buckets where some member has a finite point."""
    sums = np.zeros((len(members), points))
    counts = np.zeros((len(members), points))
    x_sum = np.zeros(points)
    for i, (xs, ys) in enumerate(members):
        index = _buckets(xs, lo, hi, points)
        sums[i] = np.bincount(index, weights=ys, minlength=points)
        counts[i] = np.bincount(index, minlength=points)
        x_sum += np.bincount(index, weights=xs, minlength=points)
    has = counts > 0
    run_means = np.divide(sums, counts, out=np.zeros_like(sums), where=has)
    n = has.sum(axis=0)
    kept = n > 0
    mean = run_means.sum(axis=0)[kept] / n[kept]
    squares = np.where(has[:, kept], (run_means[:, kept] - mean) ** 2, 0.0).sum(axis=0)
    n_kept = n[kept]
    std = np.sqrt(squares / np.maximum(n_kept - 1, 1))
    return {"x": _numbers(x_sum[kept] / counts.sum(axis=0)[kept]), "mean": _numbers(mean),
            "std": _numbers(np.where(n_kept > 1, std, np.nan)), "n": n_kept.tolist()}


def _numbers(values: np.ndarray) -> list[float | None]:
    """JSON numbers: None where not finite (a single run's std, or an overflow)."""
    return [v if math.isfinite(v) else None for v in values.tolist()]


def metric_curves(cells: Sequence[CellRuns], by_run: dict[int, RunPoints], name: str,
                  points: int) -> list[dict[str, Any]] | None:
    """Every cell's curve of one metric on the study's common grid; None when no run has a finite point."""
    finite = {run_id: _finite(metrics[name]) for run_id, metrics in by_run.items() if name in metrics}
    finite = {run_id: p for run_id, p in finite.items() if len(p[0])}
    if not finite:
        return None
    lo = min(float(xs.min()) for xs, _ in finite.values())
    hi = max(float(xs.max()) for xs, _ in finite.values())
    out = []
    for cell in cells:
        members = [finite[run.id] for run in cell.runs if run.id in finite]
        curve = cell_curve(members, lo, hi, points) if members else {"x": [], "mean": [], "std": [], "n": []}
        out.append({"key": cell.key, **curve})
    return out


def body_key(study: Study, cells: Sequence[CellRuns], x: series.XAxis, points: int,
             names: Sequence[str]) -> Hashable | None:
    """What a finished study's curves are computed from: the query, the study, and each cell's runs (their
    created_at too, since their stored points are read by id); None while a run is unfinished (its curves grow)."""
    if any(run.status not in FINAL_STATUSES for cell in cells for run in cell.runs):
        return None
    return ("curves", study.id, study.created_at, x, points, tuple(names),
            tuple((cell.key, tuple((r.id, r.created_at, r.status) for r in cell.runs)) for cell in cells))


def study_curves(session: Session, cells: Sequence[CellRuns], x: series.XAxis, points: int,
                 names: Sequence[str], cache: CurvesCache) -> bytes:
    """The JSON body {x_axis, points, finished, curves: {metric: [{key, x, mean, std, n} per cell]}};
    `names` empty: every metric."""
    runs = [run for cell in cells for run in cell.runs]
    finished = all(run.status in FINAL_STATUSES for run in runs)
    by_run = runs_points(session, runs, x, cache)
    wanted = list(names) or sorted({name for metrics in by_run.values() for name in metrics})
    curves = {}
    for name in wanted:
        if (curve := metric_curves(cells, by_run, name, points)) is not None:
            curves[name] = curve
    return json.dumps({"x_axis": x, "points": points, "finished": finished, "curves": curves},
                      allow_nan=False, separators=(",", ":")).encode()
