"""POST /api/preview/augmentations on SQLite and PostgreSQL, without a worker: the checks before a worker is asked
(fields named, server caps, auth, rate), who is asked (a preview consumer, busy workers or not; an idle worker only
if it takes the preview queue) and the 503 that says why no preview came. tests/integration/test_preview.py has a
real preview consumer draw one while the only worker trains."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from backend.api.routes import preview
from backend.main import create_app
from backend.migrate import prestart
from contrastlab.core.settings import Settings
from tests.unit.api.conftest import FakeWorker

URL = "/api/preview/augmentations"
FASHION = {"spec": {"method": "simclr", "dataset": "fashion_mnist"}}


RUNS, PREVIEWS = ["contrastlab"], ["contrastlab.preview"]  # a worker's queues (it trains), a preview consumer's


def beat(client: TestClient, name: str = "w1@box", **fields: object) -> None:
    body = {"name": name, "host": "box", "devices": 1, "queues": RUNS, **fields}
    assert client.post("/api/workers/heartbeat", json=body).status_code == 200


def sent(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Whether the route sent the preview (no Celery worker consumes it here: a 503 after the timeout) rather than
    refusing it at once; the refusal's 503 otherwise."""
    monkeypatch.setattr(preview, "PREVIEW_TIMEOUT_S", 1.0)
    response = client.post(URL, json=FASHION)
    assert response.status_code == 503
    return "no worker drew it within 1 s" in response.json()["detail"]


def test_no_worker_is_a_503_that_says_so(client: TestClient) -> None:
    response = client.post(URL, json=FASHION)
    assert response.status_code == 503
    assert "no worker is connected" in response.json()["detail"]


def test_every_worker_busy_and_no_preview_consumer_is_a_503_that_says_so(client: TestClient, submit) -> None:
    run = submit()
    beat(client, run_id=run["id"])
    response = client.post(URL, json=FASHION)
    assert response.status_code == 503
    detail = response.json()["detail"]
    assert "every connected worker (1) is busy with a run, and no preview consumer is connected" in detail
    assert "celery -A worker.main worker --pool solo --queues contrastlab.preview" in detail


def test_a_preview_consumer_draws_while_every_worker_is_busy(client: TestClient, submit,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    run = submit()
    beat(client, run_id=run["id"])
    FakeWorker(client, run["id"], "w1@box").claim()
    beat(client, "preview-w1@box", queues=PREVIEWS)
    assert sent(client, monkeypatch)
    behind = submit()  # the preview consumer is not a worker that could take it
    assert client.get(f"/api/runs/{behind['id']}").json()["waiting_reason"] == \
        "next in line; the 1 connected worker that can take it is busy"


def test_a_preview_consumer_alone_draws_and_is_no_worker_for_runs(client: TestClient, submit,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    beat(client, "preview-w1@box", queues=PREVIEWS)
    assert sent(client, monkeypatch)
    run = submit()
    assert run["warnings"] == ["no worker is connected; it starts when one is (`make run`, or `contrastlab worker`)."]
    assert client.get(f"/api/runs/{run['id']}").json()["waiting_reason"].startswith("no worker is connected")


def test_a_preview_consumer_of_another_queue_or_a_stopped_one_draws_nothing(client: TestClient,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    beat(client, "preview-other@box", queues=["other.preview"])
    beat(client, "preview-w1@box", queues=PREVIEWS, stopping=True)
    assert not sent(client, monkeypatch)


def test_an_idle_worker_draws_only_if_it_takes_the_preview_queue(client: TestClient,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    beat(client)
    assert not sent(client, monkeypatch)
    assert "no preview consumer is connected, and the idle workers take runs only" in \
        client.post(URL, json=FASHION).json()["detail"]
    beat(client, queues=[*RUNS, *PREVIEWS])  # started by hand with it, or of a version before preview consumers
    assert sent(client, monkeypatch)


@pytest.mark.parametrize(("body", "loc"), [
    ({**FASHION, "images": 17}, ["body", "images"]),
    ({**FASHION, "views": 0}, ["body", "views"]),
    ({"spec": {"dataset": "fashion_mnist", "crop_scale_min": 1.5}}, ["body", "spec", "crop_scale_min"]),
    ({"spec": {"dataset": "fashion_mnist", "jitter_strength": -1}}, ["body", "spec", "jitter_strength"]),
    ({"spec": {"dataset": "no_such_set"}}, ["body", "spec", "dataset"]),
])
def test_invalid_fields_are_named(client: TestClient, body: dict, loc: list[str]) -> None:
    response = client.post(URL, json=body)
    assert response.status_code == 422, response.text
    assert loc in [error["loc"] for error in response.json()["detail"]]


def test_server_caps_and_data_roots_apply(client: TestClient) -> None:
    response = client.post(URL, json={"spec": {"dataset": "image_folder", "data_path": "/etc"}})
    assert response.status_code == 422
    assert ["body", "spec", "data_path"] in [error["loc"] for error in response.json()["detail"]]


def test_previews_are_rate_limited_per_address(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preview, "PREVIEWS_PER_MINUTE", 2)
    assert [client.post(URL, json=FASHION).status_code for _ in range(3)] == [503, 503, 429]


def test_a_token_is_needed_when_the_server_has_tokens(tmp_path: Path, migrated_database_url: str) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=migrated_database_url, redis_url="",
                        broker_url="", api_token="user-token")
    prestart(settings)
    app = create_app(settings)
    with TestClient(app, base_url="http://localhost", headers={"X-Requested-With": "tests"}) as api:
        assert api.post(URL, json=FASHION).status_code == 401
        signed = api.post(URL, json=FASHION, headers={"Authorization": "Bearer user-token"})
        assert signed.status_code == 503  # past the token check: no worker
    app.state.engine.dispose()
