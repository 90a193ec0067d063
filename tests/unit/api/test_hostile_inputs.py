"""Hostile bodies that gave 500s (issue 15, findings 8 and 9): each is a clear 4xx, in strict JSON, naming the
field, and leaves every stored run readable; big embeddings are served without loading them into memory.

Bodies are sent as raw bytes (NaN, Infinity, 1e999, lone surrogates and NUL are all legal in Python's JSON
but not in strict JSON or in PostgreSQL), to the real app on SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from backend.runs import artifacts
from contrastlab.core.settings import Settings
from contrastlab.core.spec import RunSpec
from tests.unit.api.conftest import FakeWorker

BASE = {"method": "simclr", "dataset": "digits", "epochs": 2, "batch_size": 128}
NON_FINITE = ("NaN", "Infinity", "-Infinity", "1e999")
JSON = {"Content-Type": "application/json"}
NUMBER_FIELDS = [name for name, info in RunSpec.model_fields.items()
                 if any(kind in str(info.annotation) for kind in ("int", "float"))]


@pytest.fixture
def settings(tmp_path: Path, migrated_database_url: str) -> Settings:
    """The API's settings, with one folder allowed for image_folder datasets (so data_path is checked)."""
    (tmp_path / "images").mkdir()
    return Settings(data_dir=tmp_path / "data", database_url=migrated_database_url, redis_url="", broker_url="",
                    allowed_data_roots=str(tmp_path / "images"))


def strict_json(response: Any) -> Any:
    """The body as strict JSON: valid UTF-8, no NaN or Infinity (what a browser's JSON.parse accepts)."""
    def refuse(token: str) -> None:
        raise AssertionError(f"the body holds {token}, which is not JSON: {response.text[:300]}")

    return json.loads(response.content.decode("utf-8", errors="strict"), parse_constant=refuse)


def post_raw(client: TestClient, path: str, body: str, headers: dict[str, str] | None = None) -> Any:
    return client.post(path, content=body.encode("utf-8", errors="surrogatepass"), headers={**JSON, **(headers or {})})


def raw(document: Any, bad: str) -> str:
    """`document` as JSON text with the string "<bad>" in it replaced by `bad`, raw JSON text such as NaN."""
    return json.dumps(document).replace('"<bad>"', bad)


def assert_refused(response: Any, field: str, status: int = 422) -> None:
    """A 4xx in strict JSON whose detail names the field."""
    assert response.status_code == status, (field, response.status_code, response.text[:300])
    body = strict_json(response)
    assert field in json.dumps(body["detail"]), (field, body)


def assert_runs_intact(client: TestClient, ids: list[int]) -> None:
    """Every listing and every stored run still reads (in strict JSON), and nothing was added."""
    for sort in ("id", "name", "linear_acc"):
        listing = client.get("/api/runs", params={"sort": sort})
        assert listing.status_code == 200, (sort, listing.text[:300])
        assert sorted(run["id"] for run in strict_json(listing)["items"]) == sorted(ids)
    for run_id in ids:
        assert client.get(f"/api/runs/{run_id}").status_code == 200


def test_non_finite_numbers_in_any_spec_field_are_a_422_naming_it(client, submit) -> None:
    kept = submit(name="before")
    for field in NUMBER_FIELDS:
        for token in NON_FINITE:
            assert_refused(post_raw(client, "/api/runs", raw({**BASE, field: "<bad>"}, token)), field)
    # The same spec fields inside a group and a study's base.
    group = raw({"spec": {**BASE, "lr": "<bad>"}, "seeds": [0, 1]}, "NaN")
    assert_refused(post_raw(client, "/api/runs/group", group), "lr")
    study = raw({"name": "s", "base": {**BASE, "lr": 0.1}, "axes": {"temperature": [0.1, "<bad>"]}, "seeds": [0]},
                "Infinity")
    assert post_raw(client, "/api/studies", study).status_code in (400, 422)
    strict_json(post_raw(client, "/api/studies", study))
    assert_runs_intact(client, [kept["id"]])


def test_lone_surrogate_and_nul_in_spec_strings_are_a_422_naming_the_field(client, submit, settings) -> None:
    kept = submit(name="before")
    for bad in ('"a\\ud800b"', '"a\\udfffb"', '"a\\u0000b"'):  # JSON escapes: lone surrogates, a NUL
        assert_refused(post_raw(client, "/api/runs", raw({**BASE, "name": "<bad>"}, bad)), "name")
    images = settings.data_roots[0]
    for bad in (json.dumps(f"{images}/cats\u0000dogs"), '"/x/\\ud800"'):
        body = raw({**BASE, "dataset": "image_folder", "data_path": "<bad>"}, bad)
        assert_refused(post_raw(client, "/api/runs", body), "data_path")
    assert_runs_intact(client, [kept["id"]])


def test_non_finite_finish_summary_is_a_422_and_the_run_stays_running(client, submit) -> None:
    done = submit(name="done")
    worker = FakeWorker(client, done["id"])
    worker.claim()
    worker.finish(summary={"linear_acc": 0.75})
    live = submit(name="live")
    worker = FakeWorker(client, live["id"])
    worker.claim()
    for token in NON_FINITE:
        body = raw({"worker": worker.name, "attempt": worker.attempt, "status": "succeeded",
                    "summary": {"linear_acc": "<bad>"}}, token)
        response = post_raw(client, f"/api/runs/{live['id']}/finish", body, getattr(worker, "headers", {}))
        assert_refused(response, "summary")
    assert client.get(f"/api/runs/{live['id']}").json()["status"] == "running"
    assert_runs_intact(client, [done["id"], live["id"]])
    finished = worker.finish(summary={"linear_acc": 0.5})  # the real finish still goes through
    assert finished["status"] == "succeeded" and finished["summary"]["linear_acc"] == 0.5
    ranked = client.get("/api/runs", params={"sort": "linear_acc", "order": "desc"}).json()["items"]
    assert [run["id"] for run in ranked] == [done["id"], live["id"]]


def store_embeddings(client: TestClient, run_id: int, points: int) -> bytes:
    """An embeddings.json artifact of `points` t-SNE points, recorded as the worker's upload would be."""
    document = {"x": [i * 0.001 for i in range(points)], "y": [-i * 0.002 for i in range(points)],
                "label": [i % 10 for i in range(points)], "classes": [str(c) for c in range(10)]}
    data = json.dumps(document).encode()
    app: Any = client.app
    settings = app.state.settings
    path = artifacts.artifact_path(settings.artifacts_dir, run_id, "embeddings.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    with app.state.sessionmaker() as session:
        artifacts.record(session, run_id, "embeddings.json", len(data), hashlib.sha256(data).hexdigest())
    return data


def test_embeddings_are_streamed_not_parsed_into_memory(client, submit) -> None:
    """/embeddings serves the stored file as it is: the same JSON, with memory about one copy of it, not 8.5."""
    run = submit()
    assert client.get(f"/api/runs/{run['id']}/embeddings").status_code == 404
    data = store_embeddings(client, run["id"], 400_000)
    tracemalloc.start()
    try:
        response = client.get(f"/api/runs/{run['id']}/embeddings")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    assert json.loads(response.content) == json.loads(data)
    # The test client holds the whole body (about two while it joins chunks); parsing it took four here.
    assert peak < 3 * len(data), (peak / len(data), len(data))


def test_nul_and_surrogates_in_a_study_name_are_a_4xx(client, submit) -> None:
    kept = submit(name="before")
    for bad in ('"s\\u0000"', '"s\\ud800"'):
        study = raw({"name": "<bad>", "base": BASE, "axes": {"temperature": [0.1, 0.2]}, "seeds": [0]}, bad)
        assert_refused(post_raw(client, "/api/studies", study), "name")
    assert_runs_intact(client, [kept["id"]])
    assert client.get("/api/studies").status_code == 200


FORMULAS = ("=HYPERLINK(\"http://evil\",\"x\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)", "\tTAB")


def test_metrics_csv_escapes_formula_names_and_keeps_negative_numbers(client, submit) -> None:
    """OWASP's CSV-injection rule on /metrics.csv: a text cell starting with = + - @ (or tab, CR) gets a leading
    single quote, so a spreadsheet shows it as text; numbers, negative ones included, stay numbers."""
    run = submit()
    worker = FakeWorker(client, run["id"])
    worker.claim()
    sent = [(name, step, 0.5, -0.25 - step) for step, name in enumerate(FORMULAS)] + [("loss", 9, 1.0, -1e-05)]
    assert worker.send(sent).status_code == 200
    rows = list(csv.DictReader(io.StringIO(client.get(f"/api/runs/{run['id']}/metrics.csv").text)))
    assert [row["name"] for row in rows] == [f"'{name}" for name in FORMULAS] + ["loss"]
    assert [float(row["value"]) for row in rows] == [value for *_, value in sent]
    assert rows[-1]["value"] == "-1e-05" and rows[0]["value"] == "-0.25"  # unquoted: still numbers
