"""The Python client: its retry policy, its errors, and every call against the real API (SQLite, no worker)."""

from __future__ import annotations

import csv
import hashlib
import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from backend.main import create_app
from backend.migrate import prestart
from contrastlab import ApiError, Client
from contrastlab.client.api import env_token, env_url
from contrastlab.client.export import write_csv
from contrastlab.client.models import MetricPoint
from contrastlab.core.protocol import RETRY_CAP_S
from contrastlab.core.settings import Settings
from tests.conftest import migrated_sqlite
from tests.unit.api.conftest import FakeWorker

ROOT = Path(__file__).resolve().parents[2]
SPEC = {"method": "simclr", "dataset": "digits", "epochs": 2, "batch_size": 128}


def scripted(answers: list[int | type[httpx.TransportError]], seen: list[httpx.Request]) -> httpx.Client:
    """An httpx client whose server answers each request with the next status (or raises the next error)."""

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers.pop(0)
        if isinstance(answer, type):
            raise answer("scripted failure", request=request)
        return httpx.Response(answer, json={"id": 1, "status": "queued", "detail": "scripted"})

    return httpx.Client(base_url="http://lab", transport=httpx.MockTransport(handle))


def test_get_is_retried_through_gateway_errors_and_dropped_connections():
    seen: list[httpx.Request] = []
    client = Client("http://lab", "s3cret", backoff_s=0.001, http=scripted([503, httpx.ConnectError, 502, 200], seen))
    assert client.get(1).status == "queued"
    assert len(seen) == 4
    assert all(r.headers["Authorization"] == "Bearer s3cret" for r in seen)


def test_post_is_sent_once_so_a_submit_never_runs_twice():
    seen: list[httpx.Request] = []
    client = Client("http://lab", backoff_s=0.001, http=scripted([503], seen))
    with pytest.raises(ApiError) as failure:
        client.submit(SPEC)
    assert failure.value.status_code == 503 and len(seen) == 1
    client = Client("http://lab", backoff_s=0.001, http=scripted([httpx.ConnectError], seen := []))
    with pytest.raises(ConnectionError, match="is the server running"):
        client.submit(SPEC)
    assert len(seen) == 1


def test_retries_give_up_with_the_last_error():
    seen: list[httpx.Request] = []
    client = Client("http://lab", retries=2, backoff_s=0.001, http=scripted([504, 504, 504], seen))
    with pytest.raises(ApiError, match="HTTP 504"):
        client.get(1)
    assert len(seen) == 3
    client = Client("http://lab", backoff_s=0.001, http=scripted([404], seen := []))
    with pytest.raises(ApiError, match="HTTP 404"):  # a client error is an answer, not retried
        client.get(1)
    assert len(seen) == 1


def test_backoff_doubles_up_to_the_shared_cap(monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr("contrastlab.client.http.time.sleep", waits.append)
    seen: list[httpx.Request] = []
    answers: list[int | type[httpx.TransportError]] = [*[503] * 8, 200]
    client = Client("http://lab", retries=8, backoff_s=1.0, http=scripted(answers, seen))
    assert client.get(1).status == "queued"
    assert waits == [1.0, 2.0, 4.0, 8.0, RETRY_CAP_S, RETRY_CAP_S, RETRY_CAP_S, RETRY_CAP_S]


def test_url_and_token_come_from_the_environment(monkeypatch):
    for name in ("CONTRASTLAB_URL", "API_URL", "CONTRASTLAB_TOKEN", "API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    assert env_url() == "http://127.0.0.1:8000" and env_token() is None
    monkeypatch.setenv("API_URL", "http://api:8000")
    monkeypatch.setenv("API_TOKEN", "worker-token")
    assert (env_url(), env_token()) == ("http://api:8000", "worker-token")
    monkeypatch.setenv("CONTRASTLAB_URL", "http://lab:9000")
    monkeypatch.setenv("CONTRASTLAB_TOKEN", "mine")
    assert (env_url(), env_token()) == ("http://lab:9000", "mine")
    assert Client().http.headers["Authorization"] == "Bearer mine"


def test_the_package_imports_without_torch_or_the_backend():
    code = "import sys, contrastlab, contrastlab.client.cli; print(' '.join(sys.modules))"
    loaded = {m.split(".")[0] for m in subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True,
                                                      capture_output=True, text=True).stdout.split()}
    assert not loaded & {"torch", "backend", "fastapi", "sqlalchemy", "celery"}


def serve(tmp_path: Path, api_token: str = "") -> Iterator[tuple[Client, TestClient]]:
    settings = Settings(data_dir=tmp_path / "data", database_url="", redis_url="", broker_url="",
                        api_token=api_token)
    migrated_sqlite(settings.data_dir)
    prestart(settings)
    app = create_app(settings)
    with TestClient(app, base_url="http://localhost") as http:
        yield Client("http://localhost", token=api_token or None, http=http), http
    app.state.engine.dispose()


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[Client, TestClient]]:
    yield from serve(tmp_path)


def test_the_token_is_sent_and_a_wrong_one_is_a_401(tmp_path):
    for client, http in serve(tmp_path, api_token="s3cret"):
        assert client.submit(SPEC).status == "queued"
        del http.headers["Authorization"]
        with pytest.raises(ApiError) as refused:
            Client("http://localhost", token="wrong", http=http).list_runs()
        assert refused.value.status_code == 401 and "API token" in str(refused.value)


def test_submit_reads_lists_and_names_a_rejected_field(lab):
    client, _ = lab
    run = client.submit({**SPEC, "name": "first"})
    assert (run.status, run.name, run.spec["epochs"]) == ("queued", "first", 2)
    assert client.get(run.id).id == run.id
    runs, total = client.list_runs()
    assert total == 1 and runs[0].id == run.id
    with pytest.raises(ApiError) as rejected:
        client.submit({**SPEC, "temperature": 0})
    assert rejected.value.status_code == 422
    assert "temperature: " in str(rejected.value) and "(got 0)" in str(rejected.value)


def test_seed_group_shares_a_group_id(lab):
    client, _ = lab
    runs = client.submit_group(SPEC, [0, 1, 2])
    assert [r.spec["seed"] for r in runs] == [0, 1, 2]
    assert len({r.group_id for r in runs}) == 1  # a field this client does not declare is kept


def test_metrics_wait_download_and_cancel_through_a_whole_run(lab, tmp_path):
    client, http = lab
    run = client.submit(SPEC)
    worker = FakeWorker(http, run.id)
    worker.claim()
    points = [("loss", step, step / 6, 1.0 / (step + 1)) for step in range(12)]
    assert worker.send(points, logs=["pretraining"]).status_code == 200
    body = b"weights" * 1000
    assert http.put(f"/api/runs/{run.id}/artifacts/encoder.safetensors", content=body,
                    headers=worker.headers).status_code == 201
    worker.finish(summary={"linear_acc": 0.9})

    metrics = list(client.metrics(run.id, page_size=5))  # three pages
    assert [(m.step, m.value) for m in metrics] == [(s, v) for _, s, _, v in points]
    seen: list[str] = []
    final = client.wait(run.id, callback=lambda event: seen.append(event.event))
    assert final.status == "succeeded" and final.summary == {"linear_acc": 0.9}
    assert seen.count("metric") == 12 and seen[-1] == "end"
    assert any("pretraining" in e.text for e in client.log(run.id))

    path = client.download(run.id, "encoder.safetensors", tmp_path / "out")
    assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(body).digest()
    with pytest.raises(ApiError, match="has no artifact 'nope'"):
        client.download(run.id, "nope", tmp_path)
    with pytest.raises(ApiError, match="409"):
        client.cancel(run.id)
    queued = client.submit(SPEC)
    assert client.cancel(queued.id).status == "canceled"


def test_write_csv_escapes_formula_names_and_keeps_negative_numbers():
    """The CLI's CSV follows OWASP's CSV-injection rule as the API's does: text starting with = + - @ (or tab, CR)
    gets a leading single quote; numbers, negative ones included, are written as numbers."""
    names = ["=HYPERLINK(\"http://evil\",\"x\")", "+1", "-2+3", "@SUM(A1)", "\tTAB", "loss", "'quoted"]
    points = [MetricPoint(id=i, name=name, step=i, epoch=-0.0, value=-1.5 * i - 0.25, time="2026-01-01T00:00:00Z")
              for i, name in enumerate(names)]
    out = io.StringIO()
    assert write_csv(points, out) == len(names)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [row["name"] for row in rows] == ["'" + name for name in names[:5]] + ["loss", "'quoted"]
    assert [float(row["value"]) for row in rows] == [p.value for p in points] and rows[0]["value"] == "-0.25"
    assert rows[2]["step"] == "2" and rows[0]["time"] == "2026-01-01T00:00:00Z"
