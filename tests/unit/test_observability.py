"""/metrics in Prometheus format and JSON log lines, against the real app (SQLite, embedded broker, no worker)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from backend.main import create_app
from backend.migrate import prestart
from contrastlab.core.logs import JsonFormatter, current_run_id
from contrastlab.core.settings import Settings
from tests.conftest import migrated_sqlite
from tests.unit.api.conftest import FakeWorker

SPEC = {"method": "simclr", "dataset": "digits", "epochs": 2, "batch_size": 128}


def make_client(tmp_path: Path, api_token: str = "") -> Iterator[TestClient]:
    config = Settings(data_dir=tmp_path / "data", database_url="", redis_url="", broker_url="", api_token=api_token)
    migrated_sqlite(config.data_dir)
    prestart(config)
    app = create_app(config)
    with TestClient(app, base_url="http://localhost", headers={"X-Requested-With": "tests"}) as client:
        yield client
    app.state.engine.dispose()


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    yield from make_client(tmp_path)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_count_runs_queue_points_and_latency(client):
    ids = [client.post("/api/runs", json=SPEC).json()["id"] for _ in range(3)]
    worker = FakeWorker(client, ids[0])
    worker.claim()
    assert worker.send([("loss", step, 0.5, 1.0) for step in range(7)], logs=["hello"]).status_code == 200
    assert worker.send([("loss", 0, 0.5, 1.0)]).status_code == 200  # a retried point: received, not stored
    assert client.post(f"/api/runs/{ids[2]}/cancel").status_code == 200

    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    found = samples(response.text)
    assert found[("contrastlab_runs", (("status", "queued"),))] == 1
    assert found[("contrastlab_runs", (("status", "running"),))] == 1
    assert found[("contrastlab_runs", (("status", "canceled"),))] == 1
    assert found[("contrastlab_runs", (("status", "failed"),))] == 0
    assert found[("contrastlab_queue_length", ())] == 3  # no worker took a message
    assert found[("contrastlab_broker_up", ())] == 1
    assert found[("contrastlab_metric_points_received_total", ())] == 8
    route = (("method", "POST"), ("route", "/api/runs/{run_id}/events"), ("status", "200"))
    assert found[("contrastlab_http_request_duration_seconds_count", route)] == 2
    submits = (("method", "POST"), ("route", "/api/runs"), ("status", "201"))
    assert found[("contrastlab_http_request_duration_seconds_count", submits)] == 3
    # A run's own metrics keep their path: /metrics does not shadow /api/runs/{id}/metrics.
    assert len(client.get(f"/api/runs/{ids[0]}/metrics").json()["items"]) == 7


def test_metrics_need_the_token_when_the_api_does(tmp_path):
    for client in make_client(tmp_path, api_token="s3cret"):
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        ok = client.get("/metrics", headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200 and "contrastlab_runs" in ok.text


def test_json_log_lines_carry_the_run_id():
    record = logging.LogRecord("backend.x", logging.WARNING, __file__, 1, "lease of %s expired", ("w1",), None)
    token = current_run_id.set(42)
    try:
        line = json.loads(JsonFormatter().format(record))
    finally:
        current_run_id.reset(token)
    assert line["run_id"] == 42 and line["message"] == "lease of w1 expired" and line["level"] == "warning"
    assert "run_id" not in json.loads(JsonFormatter().format(record))


def test_unknown_paths_share_one_label_and_metrics_stay_small(client):
    """Hostile 404s under mounts and outside them must not add a label each (issue 15, finding 5)."""
    probes = [f"/{prefix}/{'x' * 400}-{i}" for i in range(200) for prefix in ("static", "docs-assets", "nope")][:200]
    probes += [f"/static/a{i}/b" for i in range(50)] + [f"/docs-assets/z{i}.js" for i in range(50)]
    for path in probes:
        assert client.get(path).status_code == 404
    for i in range(20):  # an id with leading zeros is the same route, not a new label
        assert client.get(f"/api/runs/{'0' * 30}{i + 900}/series").status_code == 404
    for i in range(20):  # invented methods are as unbounded as invented paths
        assert client.request(f"BREW{i}", "/api/runs").status_code == 405
    assert client.get("/static/index.html").status_code == 200  # a real file still counts under its mount

    text = client.get("/metrics").text
    routes = {dict(labels)["route"] for (name, labels) in samples(text)
              if name == "contrastlab_http_request_duration_seconds_count"}
    leaked = ("x" * 50, "/a1/", "z1.js", "000")
    assert not any(part in route for part in leaked for route in routes), routes
    assert "unmatched" in routes
    assert {"/static/{path}", "/docs-assets/{path}", "/api/runs/{run_id}/series", "/api/runs"} <= routes, routes
    methods = {dict(labels)["method"] for (name, labels) in samples(text)
               if name == "contrastlab_http_request_duration_seconds_count"}
    assert methods == {"GET", "OTHER"}, methods
    assert len(text) < 50_000, len(text)
