"""The worker speaks the protocol's typed messages: a malformed one is refused in the worker before it leaves, and a
well-formed one makes the same round trip through the real API (SQLite, in process) as before."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from backend.main import create_app
from backend.migrate import prestart
from contrastlab.core.catalog import Status
from contrastlab.core.protocol import Claim, EventBatch, Finish, LogIn, Phase, PointIn, Release
from contrastlab.core.settings import Settings
from worker.api import Lease, LeaseLost, NotClaimed, WorkerApi
from worker.reporting import HttpReporter

SPEC = {"method": "simclr", "dataset": "digits", "epochs": 1, "batch_size": 64}


class Lab:
    """The API in this process, a user's client of it, and a worker's WorkerApi whose every request is recorded."""

    def __init__(self, app: Any, user: TestClient) -> None:
        self.user = user
        self.sent: list[httpx.Request] = []
        worker_http = TestClient(app, base_url="http://localhost")
        worker_http.event_hooks["request"].append(self.sent.append)
        self.api = WorkerApi("http://localhost", client=worker_http)

    def claimed(self, worker: str = "w1") -> Lease:
        run_id = int(self.user.post("/api/runs", json=SPEC).raise_for_status().json()["id"])
        return Lease(self.api, run_id, worker, self.api.claim(run_id, Claim(worker=worker)))

    def run(self, run_id: int) -> dict[str, Any]:
        return dict(self.user.get(f"/api/runs/{run_id}").json())


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    settings = Settings(data_dir=tmp_path / "api", database_url="", redis_url="", broker_url="")
    prestart(settings)
    app = create_app(settings)
    with TestClient(app, base_url="http://localhost", headers={"X-Requested-With": "tests"}) as user:
        yield Lab(app, user)
    app.state.engine.dispose()


def _point(**fields: Any) -> PointIn:
    """A point as a buggy worker could hold it: built without validation."""
    return PointIn.model_construct(**{"key": "m1:loss", "name": "loss", "step": 1, "epoch": 0.1, "value": 1.0,
                                      "time": None, **fields})


MALFORMED: dict[str, Callable[[Lease], object]] = {
    # Bypassing the models' own checks (model_construct): the WorkerApi still checks what would leave.
    "a finish with a status that is not final": lambda lease: lease.finish(Finish.model_construct(
        worker=lease.worker, attempt=lease.attempt, status=Status.RUNNING, error=None, summary={})),  # type: ignore[arg-type]
    "a finish with a non-finite summary": lambda lease: lease.finish(Finish.model_construct(
        worker=lease.worker, attempt=lease.attempt, status=Status.SUCCEEDED, error=None,
        summary={"linear_acc": float("nan")})),
    "a batch with a non-finite point": lambda lease: lease.send(EventBatch.model_construct(
        worker=lease.worker, attempt=lease.attempt, points=[_point(value=float("inf"))], logs=[], progress=None,
        phase=None)),
    "a batch with a wrongly typed point": lambda lease: lease.send(EventBatch.model_construct(
        worker=lease.worker, attempt=lease.attempt, points=[_point(step="ten")], logs=[], progress=None,
        phase=None)),
    "a release without a reason": lambda lease: lease.release(Release.model_construct(
        worker=lease.worker, attempt=lease.attempt, reason="")),
    # Built the ordinary way, the model refuses at once.
    "a finish with an unknown status": lambda lease: lease.finish(Finish(
        worker=lease.worker, attempt=lease.attempt, status="done")),
    "a batch with a negative phase count": lambda lease: lease.send(EventBatch(
        worker=lease.worker, attempt=lease.attempt, phase=Phase(name="probe", done=-1))),
    "a log line too long": lambda lease: lease.send(EventBatch(
        worker=lease.worker, attempt=lease.attempt, logs=[LogIn(key="a1:1", text="x" * 2001)])),
}


def test_a_malformed_message_is_refused_in_the_worker_and_nothing_reaches_the_api(lab):
    lease = lab.claimed()
    before, sent = lab.run(lease.run_id), len(lab.sent)
    for name, send in MALFORMED.items():
        with pytest.raises(ValidationError):
            send(lease)
        assert len(lab.sent) == sent, f"{name}: sent {lab.sent[sent:]}"
    with pytest.raises(ValueError, match="sent under the lease of w1 attempt 1"):
        lease.finish(Finish(worker="w1", attempt=2, status=Status.FAILED))
    assert len(lab.sent) == sent and lab.run(lease.run_id) == before and before["status"] == Status.RUNNING


def test_the_engine_reporting_a_malformed_point_fails_in_its_own_thread_and_sends_nothing(lab):
    reporter = HttpReporter(lab.claimed())  # threads not started: only flush sends
    sent = len(lab.sent)
    with pytest.raises(ValidationError, match="name"):
        reporter.metric("m" * 121, 1.0, step=1, epoch=0.1)
    with pytest.raises(ValidationError, match="step"):
        reporter.metric("loss", 1.0, step=-1, epoch=0.1)
    reporter.metric("loss", float("nan"), step=1, epoch=0.1)  # dropped: not a point on a curve
    assert len(lab.sent) == sent
    reporter.flush()  # the heartbeat: an empty batch
    assert len(lab.sent) == sent + 1 and lab.user.get(f"/api/runs/{reporter.run_id}/metrics").json()["items"] == []


def test_typed_messages_make_the_round_trip_through_the_api(lab):
    lease = lab.claimed()
    points = [PointIn(key=f"m{s}:loss", name="loss", step=s, epoch=s / 10, value=2.0 / s) for s in (1, 2)]
    batch = EventBatch(worker="w1", attempt=lease.attempt, points=points, logs=[LogIn(key="a1:1", text="hello")],
                       progress=0.5, phase=Phase(name="pretraining", done=2, total=4))
    received = lease.send(batch)
    assert (received.received, received.cancel_requested) == (3, False)
    lab.user.post(f"/api/runs/{lease.run_id}/cancel").raise_for_status()
    assert lease.send(EventBatch(worker="w1", attempt=lease.attempt)).cancel_requested is True
    lease.finish(Finish(worker="w1", attempt=lease.attempt, status=Status.CANCELED, summary={"linear_acc": 0.5}))
    run = lab.run(lease.run_id)
    assert run["status"] == "canceled" and run["phase"]["name"] == "pretraining"
    metrics = lab.user.get(f"/api/runs/{lease.run_id}/metrics").json()["items"]
    assert [(m["step"], m["value"]) for m in metrics] == [(1, 2.0), (2, 1.0)]
    # The run is final: the attempt's calls now answer 409, which the worker reads as a lost lease.
    with pytest.raises(LeaseLost, match="HTTP 409"):
        lease.send(EventBatch(worker="w1", attempt=lease.attempt))
    with pytest.raises(NotClaimed):
        lab.api.claim(lease.run_id, Claim(worker="w2"))
