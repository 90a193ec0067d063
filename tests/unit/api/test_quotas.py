"""What one client or one run may grow: spec caps, submissions per minute, points and artifacts per run, and the
free-disk floor. Each refusal names its setting and loses nothing stored."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from backend.main import create_app
from backend.migrate import prestart
from contrastlab.core.settings import Settings
from tests.unit.api.conftest import FakeWorker

SPEC = {"method": "simclr", "dataset": "digits", "epochs": 2, "batch_size": 128}


def serve(settings: Settings, **limits: object) -> TestClient:
    settings = settings.model_copy(update=limits)
    prestart(settings)
    return TestClient(create_app(settings), base_url="http://localhost", headers={"X-Requested-With": "tests"})


@pytest.fixture
def tight(settings: Settings) -> Iterator[TestClient]:
    with serve(settings, max_epochs=50, max_batch_size=512, max_image_size=64, submissions_per_minute=3,
               max_run_points=1000, max_run_artifacts=2, max_run_artifact_bytes=3000) as client:
        yield client


def running(client: TestClient) -> FakeWorker:
    run = client.post("/api/runs", json=SPEC).json()
    worker = FakeWorker(client, run["id"])
    worker.claim()
    return worker


def test_specs_beyond_the_caps_are_a_422_naming_each_cap(tight: TestClient) -> None:
    response = tight.post("/api/runs", json={**SPEC, "epochs": 51, "batch_size": 4096, "image_size": 96})
    assert response.status_code == 422
    detail = {e["loc"][-1]: e["msg"] for e in response.json()["detail"]}
    assert set(detail) == {"epochs", "batch_size", "image_size"}
    assert "MAX_EPOCHS=50" in detail["epochs"] and "at most 50" in detail["epochs"]
    assert "MAX_BATCH_SIZE=512" in detail["batch_size"] and "MAX_IMAGE_SIZE=64" in detail["image_size"]
    group = tight.post("/api/runs/group", json={"spec": {**SPEC, "epochs": 60}, "seeds": [0, 1]})
    assert [e["loc"] for e in group.json()["detail"]] == [["body", "spec", "epochs"]]
    study = tight.post("/api/studies", json={"name": "s", "base": SPEC, "axes": {"epochs": [2, 500]}, "seeds": [0]})
    assert study.status_code == 422
    assert study.json()["detail"][0]["loc"] == ["body", "axes", "epochs"]
    assert "cell epochs=500: epochs:" in study.json()["detail"][0]["msg"]
    assert tight.get("/api/runs").json()["total"] == 0  # nothing stored


def test_a_client_past_its_submissions_per_minute_gets_429_and_others_do_not(tight: TestClient) -> None:
    for _ in range(3):
        assert tight.post("/api/runs", json=SPEC).status_code == 201
    refused = tight.post("/api/studies", json={"name": "s", "base": SPEC, "axes": {"lr": [0.1, 0.2]}, "seeds": [0]})
    assert refused.status_code == 429
    assert "SUBMISSIONS_PER_MINUTE=3" in refused.json()["detail"] and int(refused.headers["retry-after"]) >= 1
    other = TestClient(tight.app, base_url="http://localhost",
                       headers={"X-Requested-With": "tests"}, client=("10.1.2.3", 4000))
    assert other.post("/api/runs", json=SPEC).status_code == 201
    assert tight.get("/api/runs").json()["total"] == 4


def test_a_run_past_max_run_points_fails_with_its_points_kept(tight: TestClient) -> None:
    worker = running(tight)
    assert worker.send([("loss", s, 0.0, 1.0) for s in range(600)]).status_code == 200
    refused = worker.send([("loss", s, 0.0, 1.0) for s in range(600, 1200)], first_seq=601)
    assert refused.status_code == 413 and "MAX_RUN_POINTS=1000" in refused.json()["detail"]
    run = tight.get(f"/api/runs/{worker.run_id}").json()
    assert run["status"] == "failed" and "MAX_RUN_POINTS" in run["error"]
    kept = tight.get(f"/api/runs/{worker.run_id}/metrics", params={"limit": 5000}).json()["items"]
    assert len(kept) == 600
    assert worker.send([], first_seq=2000).status_code == 409  # the worker learns its lease is gone


def test_artifacts_are_bounded_in_bytes_and_count_per_run(tight: TestClient) -> None:
    worker = running(tight)
    url = f"/api/runs/{worker.run_id}/artifacts"
    assert tight.put(f"{url}/a.bin", content=b"a" * 2000, headers=worker.headers).status_code == 201
    too_big = tight.put(f"{url}/b.bin", content=b"b" * 1500, headers=worker.headers)
    assert too_big.status_code == 413 and "MAX_RUN_ARTIFACT_BYTES" in too_big.json()["detail"]
    assert tight.put(f"{url}/a.bin", content=b"A" * 2500, headers=worker.headers).status_code == 201  # replaces
    assert tight.put(f"{url}/b.bin", content=b"b" * 400, headers=worker.headers).status_code == 201
    third = tight.put(f"{url}/c.bin", content=b"c", headers=worker.headers)
    assert third.status_code == 409 and "MAX_RUN_ARTIFACTS" in third.json()["detail"]
    stored = {a["name"]: a["size"] for a in tight.get(url).json()["items"]}
    assert stored == {"a.bin": 2500, "b.bin": 400}
    assert tight.get(f"{url}/a.bin").content == b"A" * 2500


def test_under_the_free_disk_floor_new_runs_and_uploads_are_503(settings: Settings) -> None:
    with serve(settings) as client:
        worker = running(client)
    with serve(settings, min_free_disk_bytes=2**60) as full:
        refused = full.post("/api/runs", json=SPEC)
        assert refused.status_code == 503 and "MIN_FREE_DISK_BYTES" in refused.json()["detail"]
        upload = full.put(f"/api/runs/{worker.run_id}/artifacts/a.bin", content=b"x", headers=worker.headers)
        assert upload.status_code == 503 and "MIN_FREE_DISK_BYTES" in upload.json()["detail"]
        assert full.get("/api/runs").json()["total"] == 1  # what was stored stays readable
        worker.client = full
        assert worker.send([("loss", 1, 0.0, 1.0)]).status_code == 200  # a running run still reports


def test_submissions_per_minute_counts_the_runs_of_studies_and_seed_groups(tight: TestClient) -> None:
    """A 500-run study counted as one submission let one address queue 30,000 runs a minute; runs count now."""
    group = tight.post("/api/runs/group", json={"spec": SPEC, "seeds": [0, 1]})
    assert group.status_code == 201, group.text
    refused = tight.post("/api/studies", json={"name": "s", "base": SPEC, "axes": {"lr": [0.1, 0.2]}, "seeds": [0]})
    assert refused.status_code == 429
    detail = refused.json()["detail"]
    assert "2 runs" in detail and "SUBMISSIONS_PER_MINUTE=3" in detail and "try again in" in detail
    assert int(refused.headers["retry-after"]) >= 1
    assert tight.post("/api/runs", json=SPEC).status_code == 201  # the third run of the minute
    assert tight.post("/api/runs", json=SPEC).status_code == 429
    assert tight.get("/api/runs").json()["total"] == 3


def test_a_study_larger_than_the_limit_waits_for_a_quiet_minute(tight: TestClient) -> None:
    other = TestClient(tight.app, base_url="http://localhost",
                       headers={"X-Requested-With": "tests"}, client=("10.1.2.4", 4000))
    big = {"name": "s", "base": SPEC, "axes": {"lr": [0.1, 0.2, 0.3]}, "seeds": [0, 1]}
    assert other.post("/api/studies", json=big).status_code == 201  # 6 runs, past 3: the address was quiet
    refused = other.post("/api/runs", json=SPEC)
    assert refused.status_code == 429 and "1 run" in refused.json()["detail"]


def test_a_run_past_max_run_bytes_fails_with_its_messages_kept(settings: Settings) -> None:
    """MAX_RUN_POINTS counts rows: 2 KB log lines let a run store about 10 GB under it. Bytes are bounded too."""
    with serve(settings, max_run_bytes=20_000) as client:
        worker = running(client)
        line = "x" * 2000
        assert worker.send([], logs=[line] * 5).status_code == 200  # about 10 KB
        refused = worker.send([("loss", 1, 0.0, 1.0)], logs=[line] * 5, first_seq=10)
        assert refused.status_code == 413, refused.text
        assert "MAX_RUN_BYTES=20000" in refused.json()["detail"]
        run = client.get(f"/api/runs/{worker.run_id}").json()
        assert run["status"] == "failed" and "MAX_RUN_BYTES" in run["error"]
        kept = [e for e in client.get(f"/api/runs/{worker.run_id}/log").json()["items"] if e.get("text") == line]
        assert len(kept) == 5
        assert worker.send([], first_seq=20).status_code == 409
