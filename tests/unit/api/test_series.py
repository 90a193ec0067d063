"""Downsampling in the database keeps extremes and endpoints (SQLite and PostgreSQL); the endpoint serves it."""

from __future__ import annotations

import base64
import math
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import event, insert, select
from sqlalchemy.orm import Session

from backend.db import make_engine, make_sessionmaker
from backend.migrate import prestart
from backend.models import Event, Run, SeriesOverview
from backend.runs.series import (
    MAX_SERIES_NAMES,
    OVERVIEW_POINTS,
    chart_series,
    downsampled,
    metric_names,
    pack,
    stored_overview,
)
from contrastlab.core.settings import Settings
from tests.unit.api.conftest import FakeWorker


@pytest.fixture
def session(settings: Settings) -> Iterator[Session]:
    """A migrated database of the parametrised kind (SQLite, PostgreSQL) and a session on it."""
    prestart(settings)
    engine = make_engine(settings.resolved_database_url)
    with make_sessionmaker(engine)() as db:
        yield db
    engine.dispose()


def add_run(session: Session, metrics: dict[str, list[float | None]]) -> Run:
    """A finished run whose metrics are recorded interleaved (step by step), with a status event midway."""
    start = datetime.now(UTC) - timedelta(hours=1)
    run = Run(name="r", status="succeeded", spec={"dataset": "digits"}, summary={}, progress=1.0, attempt=1,
              cancel_requested=False, started_at=start)
    session.add(run)
    session.flush()
    steps = max(map(len, metrics.values()))
    rows = [{"run_id": run.id, "kind": "metric", "key": f"{name}:{i}", "name": name, "step": i, "epoch": i / 10,
             "value": values[i], "text": None, "time": start + timedelta(milliseconds=i)}
            for i in range(steps) for name, values in metrics.items() if i < len(values)]
    rows.insert(len(rows) // 2, {"run_id": run.id, "kind": "status", "key": None, "name": "running", "step": None,
                                 "epoch": None, "value": None, "text": "running", "time": start})
    session.execute(insert(Event), rows)
    session.commit()
    return run


def test_short_series_are_returned_unchanged(session: Session) -> None:
    run = add_run(session, {"loss": [3.0, 1.0, 2.0]})
    assert downsampled(session, run, "loss", "step", 100) == (([0.0, 1.0, 2.0], [3.0, 1.0, 2.0]), 3)
    assert downsampled(session, run, "missing", "step", 100) == (([], []), 0)
    assert metric_names(session, run.id) == ["loss"]  # the status event named "running" is not a metric


def test_buckets_keep_every_extreme_and_both_endpoints(session: Session) -> None:
    rng = random.Random(1)
    n, points = 20_000, 400
    ys: list[float | None] = [math.sin(i / 100) + rng.gauss(0, 0.1) for i in range(n)]
    ys[6_337], ys[15_001] = 25.0, -25.0  # one spike up, one down, in the middle of buckets
    run = add_run(session, {"loss": ys, "lr": [0.1] * n})  # a constant curve: every value ties
    (out_x, out_y), count = downsampled(session, run, "loss", "step", points)
    assert count == n and len(out_x) <= points and len(out_x) == len(out_y)
    assert (out_x[0], out_y[0]) == (0, ys[0]) and (out_x[-1], out_y[-1]) == (n - 1, ys[-1])
    assert max(out_y) == 25.0 and min(out_y) == -25.0  # type: ignore[type-var]
    assert out_x == sorted(out_x)  # min and max of a bucket stay in their recorded order
    # Buckets are equal ranges of the event id; each one's minimum and maximum are in the output.
    ids = session.scalars(select(Event.id).where(Event.run_id == run.id, Event.name == "loss")
                          .order_by(Event.id)).all()
    buckets, span = (points - 2) // 2, ids[-1] - ids[0] + 1
    by_bucket: dict[int, list[float]] = {}
    for i, event_id in enumerate(ids):
        by_bucket.setdefault((event_id - ids[0]) * buckets // span, []).append(ys[i])  # type: ignore[arg-type]
    kept = dict(zip(out_x, out_y, strict=True))
    assert len(by_bucket) == buckets
    for values in by_bucket.values():
        assert min(values) in kept.values() and max(values) in kept.values()
    (lr_x, lr_y), _ = downsampled(session, run, "lr", "epoch", points)
    assert lr_y == [0.1] * len(lr_y) and lr_x[0] == 0 and lr_x[-1] == (n - 1) / 10 and len(lr_x) <= points


def test_non_finite_values_become_gaps_and_do_not_hide_extremes(session: Session) -> None:
    ys: list[float | None] = [1.0, float("nan"), 5.0, float("inf"), -3.0, None, 2.0] * 100
    ys[300:500] = [None] * 200  # whole buckets with no value: kept as a gap
    run = add_run(session, {"loss": ys})
    (out_x, out_y), _ = downsampled(session, run, "loss", "time", 20)
    finite = [y for y in out_y if y is not None]
    assert max(finite) == 5.0 and min(finite) == -3.0 and out_y[-1] == 2.0
    assert None in out_y and len(out_y) <= 20
    assert out_x == sorted(out_x) and out_x[0] == 0 and out_x[-1] == round((len(ys) - 1) / 1000, 3)


def test_series_endpoint_by_step_epoch_and_time(client, submit) -> None:
    run = submit()
    worker = FakeWorker(client, run["id"])
    worker.claim()
    points = [("loss", s, s / 100, 10.0 - s / 100 + (5.0 if s == 555 else 0.0)) for s in range(1, 1001)]
    points += [("knn_acc", 100 * e, float(e), 0.5 + e / 100) for e in range(1, 11)]
    assert worker.send(points).status_code == 200
    worker.finish(summary={"linear_acc": 0.9})
    with client.app.state.sessionmaker() as db:  # downsampled once when it finished, after the response
        stored = {o.name: o.count for o in db.scalars(select(SeriesOverview).where(SeriesOverview.run_id == run["id"]))}
    assert stored == {"loss": 1000, "knn_acc": 10}

    body = client.get(f"/api/runs/{run['id']}/series", params={"points": 100}).json()
    assert body["x_axis"] == "step" and set(body["series"]) == {"loss", "knn_acc"}
    loss = body["series"]["loss"]
    assert loss["count"] == 1000 and len(loss["x"]) <= 100
    assert loss["x"][0] == 1 and loss["x"][-1] == 1000
    assert loss["y"][loss["x"].index(555)] == 10.0 - 5.55 + 5.0  # the spike survives
    assert body["series"]["knn_acc"]["x"] == [100.0 * e for e in range(1, 11)]

    by_epoch = client.get(f"/api/runs/{run['id']}/series", params={"names": "knn_acc", "x": "epoch"}).json()
    assert list(by_epoch["series"]) == ["knn_acc"] and by_epoch["series"]["knn_acc"]["x"][-1] == 10.0
    by_time = client.get(f"/api/runs/{run['id']}/series", params={"names": "loss", "x": "time"}).json()
    seconds = by_time["series"]["loss"]["x"]
    assert seconds == sorted(seconds) and 0 <= seconds[0] < 60
    assert client.get(f"/api/runs/{run['id']}/series", params={"x": "wall"}).status_code == 422
    assert client.get("/api/runs/424242/series").status_code == 404


def test_a_finished_run_with_few_points_reads_the_same_from_its_overview(session: Session) -> None:
    ys: list[float | None] = [math.cos(i / 50) for i in range(3000)]
    ys[1234], ys[2000], ys[2001] = 9.0, float("nan"), None
    run = add_run(session, {"loss": ys, "lr": [0.1] * 3000})
    for x in ("step", "epoch", "time"):
        for points in (20, 400, 4000):
            assert chart_series(session, run, "loss", x, points) == downsampled(session, run, "loss", x, points)
    stored = session.get(SeriesOverview, (run.id, "loss"))
    assert stored is not None and stored.count == 3000
    assert chart_series(session, run, "missing", "step", 100) == (([], []), 0)


def test_an_overview_keeps_its_x_columns_and_values_packed_as_its_lists(session: Session) -> None:
    """What a study's curves decode instead of parsing the lists: the same float64 numbers, None as NaN."""
    ys: list[float | None] = [math.cos(i / 50) for i in range(5000)]
    ys[10], ys[4999] = None, float("inf")
    run = add_run(session, {"loss": ys})
    stored = stored_overview(session, run, "loss")
    assert stored is not None and OVERVIEW_POINTS - 10 <= len(stored.points["value"]) <= OVERVIEW_POINTS
    assert set(stored.points["packed"]) == {"step", "epoch", "time", "value"}
    for column, packed in stored.points["packed"].items():
        unpacked = np.frombuffer(base64.b64decode(packed), dtype="<f8")
        lists = np.array([math.nan if v is None else v for v in stored.points[column]], dtype=np.float64)
        np.testing.assert_array_equal(unpacked, lists)
    assert math.isnan(np.frombuffer(base64.b64decode(stored.points["packed"]["value"]), dtype="<f8")[-1])
    assert pack([1, None, 2.5, 1e300]) == base64.b64encode(
        np.array([1.0, math.nan, 2.5, 1e300], dtype="<f8").tobytes()).decode()


def test_a_long_finished_run_is_charted_from_one_row_with_every_spike(session: Session) -> None:
    rng = random.Random(2)
    n = 30_000
    ys: list[float | None] = [math.sin(i / 300) + rng.gauss(0, 0.1) for i in range(n)]
    ys[7_777], ys[22_222] = 30.0, -30.0
    run = add_run(session, {"loss": ys})
    chart_series(session, run, "loss", "step", 1000)  # first view: builds and stores the overview
    stored = session.get(SeriesOverview, (run.id, "loss"))
    assert stored is not None and stored.count == n and len(stored.points["id"]) <= OVERVIEW_POINTS

    statements: list[str] = []

    def record(connection, cursor, sql, *rest) -> None:  # noqa: ANN001
        statements.append(sql)

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", record)
    try:
        (xs, out), count = chart_series(session, run, "loss", "step", 1000)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert statements and not any("GROUP BY" in sql.upper() for sql in statements)  # no pass over the events
    assert count == n and len(xs) <= 1000 and xs == sorted(xs)
    assert (xs[0], out[0]) == (0, ys[0]) and (xs[-1], out[-1]) == (n - 1, ys[-1])
    assert max(out) == 30.0 and min(out) == -30.0  # type: ignore[type-var]
    # Each 1/250 of the run (a pixel column of a 250 px chart) shows about the extremes its raw points have.
    width = n // 250
    for lo in range(0, n, width):
        raw = [y for y in ys[lo:lo + width] if y is not None]
        shown = [y for x, y in zip(xs, out, strict=True) if lo <= x < lo + width and y is not None]
        assert shown and max(shown) >= max(raw) - 0.3 and min(shown) <= min(raw) + 0.3


def test_an_outdated_overview_is_rebuilt(session: Session) -> None:
    run = add_run(session, {"loss": [1.0, 2.0, 3.0]})
    assert chart_series(session, run, "loss", "step", 100)[0] == ([0.0, 1.0, 2.0], [1.0, 2.0, 3.0])
    session.execute(insert(Event), [{"run_id": run.id, "kind": "metric", "key": "late", "name": "loss", "step": 3,
                                     "epoch": 0.3, "value": 0.5, "text": None, "time": datetime.now(UTC)}])
    session.commit()
    assert chart_series(session, run, "loss", "step", 100) == (([0.0, 1.0, 2.0, 3.0], [1.0, 2.0, 3.0, 0.5]), 4)


def test_deleting_a_run_deletes_its_overviews(client, submit) -> None:
    run = submit()
    worker = FakeWorker(client, run["id"])
    worker.claim()
    assert worker.send([("loss", s, s / 10, 1.0 / s) for s in range(1, 50)]).status_code == 200
    worker.finish(summary={})
    assert client.get(f"/api/runs/{run['id']}/series").json()["series"]["loss"]["count"] == 49
    assert client.delete(f"/api/runs/{run['id']}").status_code == 204
    assert client.delete("/api/trash").status_code == 200
    with client.app.state.sessionmaker() as db:
        assert db.scalars(select(SeriesOverview).where(SeriesOverview.run_id == run["id"])).all() == []


def test_repeated_names_cost_one_query_each_and_too_many_names_are_refused(client, submit) -> None:
    """`names=loss,loss,…` is read once, not once per copy (issue 15, finding 9); past the cap, a 422 names it."""
    run = submit()
    worker = FakeWorker(client, run["id"])
    worker.claim()  # still running: nothing cached, every request reads the events
    assert worker.send([("loss", s, s / 10, 1.0 / s) for s in range(1, 201)]).status_code == 200
    statements: list[str] = []

    def count(conn, cursor, statement, *args) -> None:
        statements.append(statement)

    engine = client.app.state.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        once = client.get(f"/api/runs/{run['id']}/series", params={"names": "loss"})
        single = len(statements)
        statements.clear()
        repeated = client.get(f"/api/runs/{run['id']}/series", params={"names": ",".join(["loss"] * 399)})
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert repeated.status_code == 200 and repeated.json() == once.json()
    assert list(repeated.json()["series"]) == ["loss"] and repeated.json()["series"]["loss"]["count"] == 200
    assert len(statements) == single, (len(statements), single)

    names = ",".join(f"m{i}" for i in range(MAX_SERIES_NAMES + 1))
    refused = client.get(f"/api/runs/{run['id']}/series", params={"names": names})
    assert refused.status_code == 422, refused.text
    assert str(MAX_SERIES_NAMES) in refused.json()["detail"] and "names" in refused.json()["detail"]
    at_cap = ",".join(f"m{i}" for i in range(MAX_SERIES_NAMES)) + ",m0"  # duplicates do not count against it
    assert client.get(f"/api/runs/{run['id']}/series", params={"names": at_cap}).status_code == 200
