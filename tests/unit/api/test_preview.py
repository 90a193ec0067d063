"""POST /api/preview/augmentations on SQLite and PostgreSQL, without a worker: the checks before a worker is asked
(fields named, server caps, auth, rate) and the 503 that says why no preview came. tests/integration/test_preview.py
has a real worker draw one."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from backend.api.routes import preview
from backend.main import create_app
from backend.migrate import prestart
from contrastlab.core.settings import Settings

URL = "/api/preview/augmentations"
FASHION = {"spec": {"method": "simclr", "dataset": "fashion_mnist"}}


def beat(client: TestClient, name: str = "w1@box", **fields: object) -> None:
    body = {"name": name, "host": "box", "devices": 1, "queues": ["contrastlab"], **fields}
    assert client.post("/api/workers/heartbeat", json=body).status_code == 200


def test_no_worker_is_a_503_that_says_so(client: TestClient) -> None:
    response = client.post(URL, json=FASHION)
    assert response.status_code == 503
    assert "no worker is connected" in response.json()["detail"]


def test_every_worker_busy_is_a_503_that_says_so(client: TestClient, submit) -> None:
    run = submit()
    beat(client, run_id=run["id"])
    response = client.post(URL, json=FASHION)
    assert response.status_code == 503
    assert "every connected worker (1) is busy with a run" in response.json()["detail"]


def test_an_idle_worker_that_never_answers_is_a_503_after_the_timeout(client: TestClient,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preview, "PREVIEW_TIMEOUT_S", 1.0)
    beat(client)  # a row, but no Celery worker consumes the preview queue
    response = client.post(URL, json=FASHION)
    assert response.status_code == 503
    assert "no worker drew it within 1 s" in response.json()["detail"]


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
