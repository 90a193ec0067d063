"""The reconciler's decisions, pass by pass, on a real database and the embedded broker (no worker process).

The real-stack tests show it end to end; here each rule is pinned: a lost lease is requeued and sent again,
the MAX_ATTEMPTS-th loss fails the run with its reason, a pending cancel ends it canceled, and a live
lease or a handed-back run is left alone.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select

from backend.main import create_app
from backend.migrate import prestart
from backend.models import SeriesOverview
from backend.operations import reconciler as reconciler_module
from backend.operations.broker_scan import pending_run_ids
from backend.operations.reconciler import Reconciler
from backend.runs import series
from contrastlab.core.settings import Settings
from tests.unit.api.conftest import FakeWorker


@pytest.fixture
def api(tmp_path: Path, migrated_database_url: str) -> Iterator[TestClient]:
    config = Settings(data_dir=tmp_path / "data", database_url=migrated_database_url, redis_url="", broker_url="",
                      lease_seconds=2, max_attempts=2, requeue_after_seconds=0.5)
    prestart(config)
    app = create_app(config)
    app.state.reconciler.judge_leases_after = 0.0
    yield TestClient(app, base_url="http://localhost", headers={"X-Requested-With": "tests"})
    app.state.engine.dispose()


def reconciler(api: TestClient) -> Reconciler:
    return api.app.state.reconciler  # type: ignore[attr-defined]


def waiting(api: TestClient) -> set[int]:
    state = api.app.state  # type: ignore[attr-defined]
    return pending_run_ids(state.settings.resolved_broker_url, state.settings.queue,
                           dict(state.celery.conf.broker_transport_options))


def test_lost_lease_is_requeued_then_the_last_allowed_loss_fails_the_run(api: TestClient) -> None:
    run_id = api.post("/api/runs", json={"epochs": 1}).json()["id"]
    FakeWorker(api, run_id, "w1").claim()
    assert reconciler(api).tick().requeued == []  # the lease is alive
    time.sleep(2.2)
    assert reconciler(api).tick().requeued == [run_id]
    run = api.get(f"/api/runs/{run_id}").json()
    assert run["status"] == "queued" and run["lost_leases"] == 1
    assert run["requeue_reason"].startswith("worker w1 stopped renewing its lease during attempt 1")
    assert run_id in waiting(api)

    FakeWorker(api, run_id, "w2").claim()
    time.sleep(2.2)
    assert reconciler(api).tick().requeued == []
    run = api.get(f"/api/runs/{run_id}").json()
    assert run["status"] == "failed" and run["attempt"] == 2 and run["lost_leases"] == 2
    assert run["error"] == ("worker w2 stopped renewing its lease during attempt 2; gave up after 2 lost "
                            "attempts (MAX_ATTEMPTS=2)")
    texts = [e["text"] for e in api.get(f"/api/runs/{run_id}/log").json()["items"]]
    assert texts[-1].startswith("failed: worker w2") and any(t.startswith("queued again: worker w1") for t in texts)


def test_a_dead_worker_with_a_pending_cancel_ends_canceled(api: TestClient) -> None:
    run_id = api.post("/api/runs", json={"epochs": 1}).json()["id"]
    FakeWorker(api, run_id).claim()
    api.post(f"/api/runs/{run_id}/cancel")
    time.sleep(2.2)
    reconciler(api).tick()
    assert api.get(f"/api/runs/{run_id}").json()["status"] == "canceled"


def test_handed_back_run_is_requeued_without_counting_as_lost(api: TestClient) -> None:
    run_id = api.post("/api/runs", json={"epochs": 1}).json()["id"]
    worker = FakeWorker(api, run_id, "w1")
    worker.claim()
    body = {"worker": "w1", "attempt": 1, "reason": "worker shutting down (SIGTERM)"}
    run = api.post(f"/api/runs/{run_id}/release", json=body, headers=worker.headers).json()
    assert run["status"] == "queued" and run["lost_leases"] == 0 and "shutting down" in run["requeue_reason"]
    assert api.post(f"/api/runs/{run_id}/release", json=body, headers=worker.headers).status_code == 409  # once
    assert FakeWorker(api, run_id, "w2").claim()["attempt"] == 2


def test_queued_run_whose_message_vanished_is_sent_again_once(api: TestClient, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # The reconciler's clock is the test's: on a loaded machine two passes may be REQUEUE_AFTER_SECONDS apart.
    clock = SimpleNamespace(now=time.monotonic())
    monkeypatch.setattr(reconciler_module, "time", SimpleNamespace(monotonic=lambda: clock.now))
    run_id = api.post("/api/runs", json={"epochs": 1}).json()["id"]
    assert run_id in waiting(api)
    time.sleep(0.6)  # queued longer than REQUEUE_AFTER_SECONDS (0.5 s) by the database's clock
    assert reconciler(api).tick().resent == []  # its message is still there
    for message in (tmp_path / "data" / "broker" / "queue").glob("*.msg"):
        message.unlink()  # the broker lost it
    clock.now += 0.4
    assert reconciler(api).tick().resent == []  # looked for at most once per REQUEUE_AFTER_SECONDS
    clock.now += 0.2
    assert reconciler(api).tick().resent == [run_id]
    assert run_id in waiting(api)
    clock.now += 0.4
    assert reconciler(api).tick().resent == []  # not again before REQUEUE_AFTER_SECONDS


def test_finished_runs_without_overviews_get_them_newest_first(api: TestClient) -> None:
    """Runs that finished before series overviews existed, or that the reconciler failed, are downsampled
    in the background, a bounded amount per pass; then the passes stop looking for a while."""
    ids = []
    for _ in range(3):
        run_id = api.post("/api/runs", json={"epochs": 1}).json()["id"]
        worker = FakeWorker(api, run_id)
        worker.claim()
        assert worker.send([("loss", s, s / 10, 1.0 / s) for s in range(1, 200)]).status_code == 200
        worker.finish(summary={})
        ids.append(run_id)
    empty = api.post("/api/runs", json={"epochs": 1}).json()["id"]  # no points: nothing to store
    worker = FakeWorker(api, empty)
    worker.claim()
    worker.finish(summary={})
    state = api.app.state  # type: ignore[attr-defined]
    with state.sessionmaker() as session:
        assert series.runs_missing_overviews(session, 10) == []  # the finish route stored them
        session.execute(delete(SeriesOverview))
        session.commit()
        assert series.runs_missing_overviews(session, 10) == ids[::-1]

    assert reconciler(api).tick().overviews == ids[::-1]
    with state.sessionmaker() as session:
        assert sorted(session.scalars(select(SeriesOverview.run_id))) == ids
    assert reconciler(api).tick().overviews == []  # idle now
