"""The API against a real database (SQLite and PostgreSQL) and the embedded broker; no worker."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, text

from backend.main import create_app
from backend.migrate import prestart
from backend.models import Run, RunTag
from contrastlab.core.settings import Settings
from tests.conftest import MigratedTemplates, migrated_sqlite, postgres_database


@pytest.fixture
def settings(tmp_path: Path, migrated_database_url: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=migrated_database_url, redis_url="", broker_url="")


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    prestart(settings)
    app = create_app(settings)
    with TestClient(app, base_url="http://localhost", headers={"X-Requested-With": "tests"}) as test_client:
        yield test_client
    app.state.engine.dispose()


class FakeWorker:
    """Drives the worker endpoints the way worker/runner.py does (claim, events, finish), with the lease secret
    its claim returned in `headers` (X-Lease-Secret)."""

    def __init__(self, client: TestClient, run_id: int, name: str = "w1") -> None:
        self.client, self.run_id, self.name, self.attempt = client, run_id, name, 0
        self.headers: dict[str, str] = {}

    def claim(self) -> dict:
        response = self.client.post(f"/api/runs/{self.run_id}/claim", json={"worker": self.name})
        assert response.status_code == 200, response.text
        self.attempt = response.json()["attempt"]
        self.headers = {"X-Lease-Secret": response.json()["lease_secret"]}
        return response.json()

    def send(self, points: list[tuple[str, int, float, float]], logs: tuple[str, ...] | list[str] = (),
             first_seq: int = 1):
        body = {"worker": self.name, "attempt": self.attempt,
                "points": [{"key": f"{self.attempt}:{first_seq + i}", "name": n, "step": s, "epoch": e, "value": v}
                           for i, (n, s, e, v) in enumerate(points)],
                "logs": [{"key": f"{self.attempt}:log{i}", "text": t} for i, t in enumerate(logs)]}
        return self.client.post(f"/api/runs/{self.run_id}/events", json=body, headers=self.headers)

    def finish(self, status: str = "succeeded", **extra) -> dict:
        body = {"worker": self.name, "attempt": self.attempt, "status": status, **extra}
        response = self.client.post(f"/api/runs/{self.run_id}/finish", json=body, headers=self.headers)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def submit(client: TestClient):
    def _submit(**spec) -> dict:
        body = {"method": "simclr", "dataset": "digits", "epochs": 2, "batch_size": 128, **spec}
        response = client.post("/api/runs", json=body)
        assert response.status_code == 201, response.text
        return response.json()

    return _submit


@contextlib.contextmanager
def api_on_rows(kind: str, folder: Path, templates: MigratedTemplates, rows: list[dict[str, Any]],
                tags: list[dict[str, Any]] | None = None) -> Iterator[TestClient]:
    """The API on a migrated database of `kind` ("sqlite" or "postgres") holding `rows` of runs (ids 1..N) and their
    run_tags `tags`, inserted in one statement each and analysed, as the module-scoped listing fixtures share."""
    with contextlib.ExitStack() as cleanup:
        url = ""
        if kind == "sqlite":
            migrated_sqlite(folder)
        else:
            url = next(cleanup.enter_context(contextlib.closing(postgres_database(templates.postgres()))))
        settings = Settings(data_dir=folder, database_url=url, redis_url="", broker_url="")
        prestart(settings)
        app = create_app(settings)
        cleanup.callback(app.state.engine.dispose)
        with TestClient(app, base_url="http://localhost", headers={"X-Requested-With": "tests"}) as client:
            with app.state.sessionmaker() as session:
                session.execute(insert(Run), rows)  # method/dataset/encoder come from the spec by the column defaults
                if tags:
                    session.execute(insert(RunTag), list(tags))
                if session.get_bind().dialect.name == "postgresql":
                    session.execute(text("SELECT setval('runs_id_seq', :n)"), {"n": len(rows)})
                session.commit()
                session.execute(text("ANALYZE"))
                session.commit()
            yield client
