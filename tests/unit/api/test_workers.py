"""Workers as rows, on SQLite and PostgreSQL: their heartbeat and list, the lost ones, the bound on rows, who may
beat, why a queued run waits, a submit's warnings, and no second send of a run a worker holds."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from backend.main import create_app
from backend.migrate import prestart
from backend.models import Worker, utcnow
from backend.operations.reconciler import Reconciler
from contrastlab.core.settings import Settings
from tests.unit.api.conftest import FakeWorker

USER, WORKER = {"Authorization": "Bearer user-token"}, {"Authorization": "Bearer worker-token"}


@pytest.fixture
def make_api(tmp_path: Path, migrated_database_url: str) -> Iterator:
    apps = []

    def make(**overrides: object) -> TestClient:
        config = Settings(data_dir=tmp_path / "data", database_url=migrated_database_url, redis_url="",
                          broker_url="", requeue_after_seconds=0.5, **overrides)  # type: ignore[arg-type]
        prestart(config)
        app = create_app(config)
        apps.append(app)
        return TestClient(app, base_url="http://localhost", headers={"X-Requested-With": "tests"})

    yield make
    for app in apps:
        app.state.engine.dispose()


@pytest.fixture
def api(make_api) -> TestClient:
    return make_api()


def beat(api: TestClient, name: str, headers: dict[str, str] | None = None, **fields: object) -> dict:
    body = {"name": name, "host": "gpu-box", "devices": 1, "queues": ["contrastlab"], "version": "0.1.0", **fields}
    response = api.post("/api/workers/heartbeat", json=body, headers=headers or {})
    assert response.status_code == 200, response.text
    return response.json()


def workers(api: TestClient) -> dict[str, dict]:
    return {w["name"]: w for w in api.get("/api/workers").json()["items"]}


def silence(api: TestClient, name: str, seconds: float) -> None:
    """As if the worker's last beat came `seconds` ago."""
    with api.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        session.execute(update(Worker).where(Worker.name == name)
                        .values(last_seen=utcnow() - timedelta(seconds=seconds)))
        session.commit()


def reconciler(api: TestClient) -> Reconciler:
    return api.app.state.reconciler  # type: ignore[attr-defined]


def test_a_worker_beats_and_is_listed_with_what_it_offers_and_holds(api: TestClient) -> None:
    assert api.get("/api/workers").json()["items"] == []
    answer = beat(api, "worker1@gpu-box", devices=2, slots=["0", "1"], gpu=True,
                  queues=["contrastlab", "contrastlab.devices-2"])
    assert answer == {"heartbeat_seconds": 10.0, "lost_after_seconds": 60.0}
    listed = workers(api)["worker1@gpu-box"]
    assert {k: listed[k] for k in ("status", "activity", "devices", "slots", "gpu", "run_id", "host", "version")} == \
        {"status": "online", "activity": "idle", "devices": 2, "slots": ["0", "1"], "gpu": True, "run_id": None,
         "host": "gpu-box", "version": "0.1.0"}
    assert listed["last_seen"].endswith("Z") and listed["first_seen"] <= listed["last_seen"]

    run_id = api.post("/api/runs", json={"epochs": 1}).json()["id"]
    beat(api, "worker1@gpu-box", devices=2, slots=["0", "1"], gpu=True, run_id=run_id)
    assert workers(api)["worker1@gpu-box"]["activity"] == "waiting"  # holds its message, the run still queued
    FakeWorker(api, run_id, "worker1@gpu-box").claim()
    assert workers(api)["worker1@gpu-box"]["activity"] == "busy"
    assert len(workers(api)) == 1  # one row per name, refreshed
    beat(api, "worker1@gpu-box", stopping=True)
    assert workers(api)["worker1@gpu-box"]["status"] == "stopped"


def test_a_silent_worker_is_marked_lost_and_its_runs_lease_is_left_to_the_lease(api: TestClient) -> None:
    run_id = api.post("/api/runs", json={"epochs": 1}).json()["id"]
    beat(api, "quiet@box", run_id=run_id)
    fake = FakeWorker(api, run_id, "quiet@box")
    fake.claim()
    beat(api, "chatty@box")
    silence(api, "quiet@box", 61)
    assert workers(api)["quiet@box"]["status"] == "lost"  # judged on read, before the reconciler passes
    assert reconciler(api).tick().lost_workers == ["quiet@box"]
    assert reconciler(api).tick().lost_workers == []  # once
    listed = workers(api)
    assert listed["quiet@box"]["status"] == "lost" and listed["quiet@box"]["run_id"] is None
    assert listed["chatty@box"]["status"] == "online"
    run = api.get(f"/api/runs/{run_id}").json()
    assert run["status"] == "running" and run["lost_leases"] == 0  # its lease, still alive, decides
    assert fake.send([("loss", 1, 0.0, 1.0)]).status_code == 200
    beat(api, "quiet@box")
    assert workers(api)["quiet@box"]["status"] == "online"  # back


def test_a_users_token_cannot_register_a_worker(make_api) -> None:
    api = make_api(api_token="user-token", worker_token="worker-token")
    refused = api.post("/api/workers/heartbeat", json={"name": "forged@box"}, headers=USER)
    assert refused.status_code == 403 and "WORKER_TOKEN" in refused.json()["detail"]
    assert api.post("/api/workers/heartbeat", json={"name": "forged@box"}).status_code == 401
    assert api.get("/api/workers", headers=USER).json()["items"] == []
    beat(api, "real@box", WORKER)
    assert api.get("/api/workers", headers=WORKER).status_code == 403  # a worker token only acts as a worker
    assert [w["name"] for w in api.get("/api/workers", headers=USER).json()["items"]] == ["real@box"]


def test_the_rows_are_bounded_a_new_name_replaces_a_lost_one_or_is_refused(make_api) -> None:
    api = make_api(max_workers=3)
    for name in ("a", "b", "c"):
        beat(api, name)
    refused = api.post("/api/workers/heartbeat", json={"name": "d"})
    assert refused.status_code == 429 and "MAX_WORKERS=3" in refused.json()["detail"]
    beat(api, "a")  # a known name is always refreshed
    silence(api, "b", 120)
    beat(api, "d")
    assert sorted(workers(api)) == ["a", "c", "d"]
    bad = api.post("/api/workers/heartbeat", json={"name": "x\u0000y"})
    assert bad.status_code == 422


def test_a_queued_run_says_why_it_waits(api: TestClient) -> None:
    def reason(run_id: int) -> str:
        return api.get(f"/api/runs/{run_id}").json()["waiting_reason"]

    lonely = api.post("/api/runs", json={"epochs": 1}).json()
    assert lonely["warnings"] == ["no worker is connected; it starts when one is (`make run`, or "
                                  "`contrastlab worker`)."]
    assert reason(lonely["id"]).startswith("no worker is connected")

    beat(api, "small@box", devices=1)
    two = api.post("/api/runs", json={"epochs": 1, "devices": 2, "method": "supcon"})
    assert two.status_code == 201  # accepted: workers come and go
    assert two.json()["warnings"][0].startswith("needs 2 devices; the largest connected worker has 1: the run waits")
    assert reason(two.json()["id"]) == "needs 2 devices; the largest connected worker has 1"

    others = [api.post("/api/runs", json={"epochs": 1}).json() for _ in range(3)]
    assert all(run["warnings"] == [] for run in others)
    assert reason(others[2]["id"]) == "3 runs ahead of it"  # lonely, others[0] and others[1]
    assert reason(lonely["id"]) == "next in line; a worker takes it in a moment"
    beat(api, "small@box", run_id=lonely["id"])
    assert reason(lonely["id"]) == "worker small@box holds it and waits for 1 device of its host's 1 to be free"
    assert reason(others[0]["id"]) == "1 run ahead of it"
    assert api.get("/api/runs").json()["items"][0]["waiting_reason"] is None  # only a run read alone


def test_a_run_held_by_a_worker_waiting_for_slots_is_not_sent_again(api: TestClient, tmp_path: Path) -> None:
    """The worker took the message (it is gone from the broker) and waits for device slots: the reconciler must
    not send the run again. Before workers were rows, it did, and a second worker waited for nothing."""
    run_id = api.post("/api/runs", json={"epochs": 1, "devices": 2, "method": "supcon"}).json()["id"]
    for message in (tmp_path / "data" / "broker" / "queue").glob("*.msg"):
        message.unlink()  # taken by the worker
    beat(api, "slots@box", devices=2, slots=["cpu0", "cpu1"], run_id=run_id)
    time.sleep(0.6)
    assert reconciler(api).tick().resent == []
    texts = [e["text"] for e in api.get(f"/api/runs/{run_id}/log").json()["items"]]
    assert not any("sent to the broker again" in text for text in texts)
    silence(api, "slots@box", 61)  # the worker died holding it: now the run is sent again
    time.sleep(0.6)
    assert reconciler(api).tick().resent == [run_id]


def test_the_workers_own_heartbeat_is_recorded_and_its_last_beat_says_stopped(api: TestClient) -> None:
    """worker/heartbeat.py's Heartbeat through worker/api.py's WorkerApi, against the app: the typed protocol
    on both ends."""
    from worker.api import WorkerApi
    from worker.heartbeat import Heartbeat, describe

    heartbeat = Heartbeat(WorkerApi("http://localhost", client=api), lambda stopping: describe(
        "celery@box", ["contrastlab"], None, stopping))
    heartbeat.start()
    deadline = time.monotonic() + 30
    while "celery@box" not in workers(api) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert workers(api)["celery@box"]["status"] == "online"
    heartbeat.stop()
    assert heartbeat.interval == 10.0  # the API's WORKER_HEARTBEAT_SECONDS
    assert workers(api)["celery@box"]["status"] == "stopped"


def test_a_preview_consumer_is_listed_as_one_and_never_counts_as_a_worker_for_runs(api: TestClient) -> None:
    """It beats like a worker (its queues: the preview queue only) but offers no device slot: a run waits for a
    worker all the same, and the reconciler sees no holder in it."""
    beat(api, "preview-worker@gpu-box", queues=["contrastlab.preview"])
    beat(api, "worker-gpu0@gpu-box", devices=2, slots=["0", "1"], gpu=True,
         queues=["contrastlab", "contrastlab.devices-2"])
    listed = workers(api)
    assert listed["preview-worker@gpu-box"]["role"] == "previews" and listed["worker-gpu0@gpu-box"]["role"] == "runs"
    run = api.post("/api/runs", json={"epochs": 1, "devices": 2, "method": "supcon"}).json()
    assert run["warnings"] == []
    beat(api, "worker-gpu0@gpu-box", stopping=True)
    alone = api.post("/api/runs", json={"epochs": 1}).json()
    assert alone["warnings"] == ["no worker is connected; it starts when one is (`make run`, or "
                                 "`contrastlab worker`)."]
    assert api.get(f"/api/runs/{alone['id']}").json()["waiting_reason"].startswith("no worker is connected")
