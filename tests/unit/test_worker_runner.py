"""The worker's runner against the real API (SQLite, in process): every run ends in a final state with its
reason, leaves no thread behind, and reads torchvision's sets from the worker's data folder."""

from __future__ import annotations

import io
import pickle
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from backend.main import create_app
from backend.migrate import prestart
from backend.models import Run
from contrastlab.client.http import ApiError
from contrastlab.core import paths
from contrastlab.core.catalog import DATASETS_FOLDER
from contrastlab.core.protocol import ClaimGranted, EventBatch
from contrastlab.core.settings import DATA_TIMEOUT_S, LoaderConfig, Settings
from contrastlab.core.spec import RunSpec
from tests.conftest import migrated_sqlite
from worker.api import Lease, WorkerApi
from worker.runner import engine_inputs, execute
from worker.tasks import worker_credential

TINY = {"method": "simclr", "dataset": "digits", "epochs": 1, "batch_size": 64, "max_train_samples": 128,
        "probe_epochs": 2, "tsne_samples": 20, "random_baseline": False, "device": "cpu"}


class Lab:
    """An API in this process and a worker's view of it: its client and its own settings (another DATA_DIR)."""

    def __init__(self, http: TestClient, app: Any, worker_dir: Path) -> None:
        self.http, self.app = http, app
        self.api = WorkerApi("http://localhost", client=http)
        self.worker_settings = Settings(data_dir=worker_dir)

    def submit(self, **spec: Any) -> int:
        response = self.http.post("/api/runs", json={**TINY, **spec})
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    def run(self, run_id: int) -> dict[str, Any]:
        return dict(self.http.get(f"/api/runs/{run_id}").json())

    def execute(self, run_id: int) -> str:
        return execute(run_id, self.api, self.worker_settings, "w1")

    def log_text(self, run_id: int) -> str:
        return "\n".join(e["text"] for e in self.http.get(f"/api/runs/{run_id}/log").json()["items"])


def serve(tmp_path: Path, **settings: Any) -> Iterator[Lab]:
    api_settings = Settings(data_dir=tmp_path / "api", database_url="", redis_url="", broker_url="", **settings)
    migrated_sqlite(api_settings.data_dir)
    prestart(api_settings)
    app = create_app(api_settings)
    with TestClient(app, base_url="http://localhost") as http:
        yield Lab(http, app, tmp_path / "worker")
    app.state.engine.dispose()


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    yield from serve(tmp_path)


def reporter_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(("reporter-", "checkpoints-"))]


def test_a_stored_spec_that_no_longer_validates_fails_the_run_at_once(lab):
    run_id = lab.submit()
    with lab.app.state.engine.begin() as db:  # as if a later release had tightened temperature's bounds
        db.execute(update(Run).where(Run.id == run_id).values(spec={**TINY, "temperature": 0.001}))
    assert lab.execute(run_id) == "failed"
    run = lab.run(run_id)
    assert run["status"] == "failed"
    assert run["error"].startswith("spec from version 1 is no longer valid: temperature: ")
    assert reporter_threads() == []


def test_an_upload_the_api_refuses_fails_the_run_with_the_reason_and_stops_its_threads(tmp_path):
    for lab in serve(tmp_path, max_artifact_bytes=1024):  # every checkpoint and encoder is larger
        run_id = lab.submit()
        assert lab.execute(run_id) == "failed"
        run = lab.run(run_id)
        assert run["status"] == "failed" and run["attempt"] == 1
        assert "HTTP 413" in run["error"] and "MAX_ARTIFACT_BYTES" in run["error"], run["error"]
        assert reporter_threads() == []
        assert not (lab.worker_settings.data_dir / "work" / f"run-{run_id}-attempt-1").exists()


def test_an_api_outage_while_fetching_inputs_fails_the_run_and_stops_the_reporter(lab, monkeypatch):
    source = lab.submit()
    run_id = lab.submit(init_from_run=source)

    def unreachable(run_id: int, name: str, dest: Path) -> bool:
        path = paths.fill(paths.RUN_ARTIFACT, run_id=run_id, name=name)
        raise ConnectionError(f"GET {path}: [Errno 111] Connection refused (after 9 tries)")

    monkeypatch.setattr(lab.api, "download_artifact", unreachable)  # the reporter's own calls still reach the API
    assert lab.execute(run_id) == "failed"
    run = lab.run(run_id)
    assert run["status"] == "failed"
    assert run["error"] == (f"ConnectionError: GET /api/runs/{source}/artifacts/encoder.safetensors: "
                            "[Errno 111] Connection refused (after 9 tries)")
    assert reporter_threads() == []


def _tiny_cifar10(folder: Path, train_per_batch: int = 8, test: int = 40) -> None:
    """A CIFAR-10 folder in torchvision's pickled format: 5 x train_per_batch train and `test` test images."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for name, n in [(f"data_batch_{i}", train_per_batch) for i in range(1, 6)] + [("test_batch", test)]:
        with (folder / name).open("wb") as file:
            pickle.dump({"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                         "labels": [i % 4 for i in range(n)]}, file)
    with (folder / "batches.meta").open("wb") as file:
        pickle.dump({"label_names": ["airplane", "automobile", "bird", "cat"]}, file)


def test_torchvision_sets_are_read_from_the_workers_data_folder(lab):
    _tiny_cifar10(lab.worker_settings.data_dir / DATASETS_FOLDER / "cifar-10-batches-py")
    run_id = lab.submit(dataset="cifar10", max_train_samples=None, batch_size=16, tsne_samples=10)
    assert lab.execute(run_id) == "succeeded", lab.run(run_id)["error"]
    assert "loading cifar10: 40 train / 40 test images" in lab.log_text(run_id)
    assert reporter_threads() == []


def test_engine_inputs_come_from_the_settings(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", allowed_data_roots=f"{tmp_path}/a, {tmp_path}/b",
                        stream_above_mb=100, data_workers=3)
    api = WorkerApi("http://unused")
    cifar = engine_inputs(api, settings, 1, RunSpec(dataset="cifar10"), 1, tmp_path)
    assert cifar == {"data_root": tmp_path / "data" / "datasets", "allowed_roots": (tmp_path / "a", tmp_path / "b"),
                     "loader": LoaderConfig(stream_above_mb=100, workers=3, timeout_s=DATA_TIMEOUT_S)}
    # Fashion-MNIST is offline, in Debian's folder: no downloads folder handed to it.
    assert "data_root" not in engine_inputs(api, settings, 1, RunSpec(dataset="fashion_mnist"), 1, tmp_path)


def test_the_worker_retries_its_posts_and_resends_a_whole_upload(monkeypatch):
    monkeypatch.setattr("contrastlab.client.http.time.sleep", lambda s: None)
    bodies: list[bytes] = []
    answers: list[int | type[httpx.TransportError]] = [503, httpx.ConnectError, 502, 200, 503, 201]

    def handle(request: httpx.Request) -> httpx.Response:
        bodies.append(request.read())
        answer = answers.pop(0)
        if isinstance(answer, type):
            raise answer("scripted failure", request=request)
        return httpx.Response(answer, json={"received": 0, "cancel_requested": False, "lease_seconds": 60})

    api = WorkerApi("http://lab", "token", client=httpx.Client(base_url="http://lab",
                                                              transport=httpx.MockTransport(handle)))
    lease = Lease(api, 1, "w1", ClaimGranted(run={"id": 1, "spec": {}}, attempt=1, lease_seconds=60,
                                             lease_secret="s"))
    assert lease.send(EventBatch(worker="w1", attempt=1)).cancel_requested is False
    lease.upload("x", io.BytesIO(b"weights"))
    assert bodies[4:] == [b"weights", b"weights"] and not answers


def test_a_worker_with_its_own_token_runs_a_run_end_to_end_and_never_logs_its_lease_secret(tmp_path, caplog):
    caplog.set_level("DEBUG")
    for lab in serve(tmp_path, api_token="user-token", worker_token="worker-token"):
        lab.http.headers["Authorization"] = "Bearer user-token"
        worker_settings = Settings(data_dir=tmp_path / "worker", api_token="user-token", worker_token="worker-token")
        assert worker_credential(worker_settings) == "worker-token"
        http = TestClient(lab.app, base_url="http://localhost")
        worker = WorkerApi("http://localhost", worker_credential(worker_settings), client=http)
        run_id = lab.submit()
        assert execute(run_id, worker, worker_settings, "w1") == "succeeded", lab.run(run_id)["error"]
        names = {a["name"] for a in lab.http.get(f"/api/runs/{run_id}/artifacts").json()["items"]}
        assert {"encoder.safetensors", "run.json"} <= names and "resume.pt" not in names
        assert lab.run(run_id)["summary"]["linear_acc"] > 0
        # A worker configured with a user's token is refused at the claim, loudly, naming the setting.
        again = lab.submit()
        with pytest.raises(ApiError, match="HTTP 403: .*WORKER_TOKEN"):
            user = WorkerApi("http://localhost", "user-token", client=TestClient(lab.app, base_url="http://localhost"))
            execute(again, user, worker_settings, "w2")
        assert lab.run(again)["status"] == "queued" and lab.run(again)["attempt"] == 0
    assert "X-Lease-Secret" not in caplog.text and "lease_secret" not in caplog.text


def test_a_worker_sends_its_own_token_else_the_first_users_token_else_none():
    assert worker_credential(Settings(api_token="a,b", worker_token="w,v")) == "w"
    assert worker_credential(Settings(api_token="a,b")) == "a"
    assert worker_credential(Settings()) is None


def test_a_worker_over_its_stream_threshold_streams_an_image_folder(tmp_path):
    from PIL import Image

    folder = tmp_path / "images"
    rng = np.random.default_rng(0)
    for c in range(2):
        (folder / f"class{c}").mkdir(parents=True)
        for i in range(20):
            Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(folder / f"class{c}" / f"{i}.jpg")
    for lab in serve(tmp_path, allowed_data_roots=str(folder)):
        # STREAM_ABOVE_MB=0: every set that can stream does, decoded by a DataLoader worker process.
        lab.worker_settings = Settings(data_dir=tmp_path / "worker", allowed_data_roots=str(folder),
                                       stream_above_mb=0, data_workers=1)
        run_id = lab.submit(dataset="image_folder", data_path=str(folder), image_size=16, max_train_samples=None,
                            batch_size=16)
        assert lab.execute(run_id) == "succeeded", lab.run(run_id)["error"]
        assert "loading image_folder: 32 train / 8 test images, streamed from disk" in lab.log_text(run_id)


def test_the_lease_is_kept_while_the_runs_files_upload_for_longer_than_a_lease(tmp_path, monkeypatch):
    # Training's heartbeats stop with it; uploading the files may take longer than LEASE_SECONDS (large files, a
    # slow link, a disk at its floor answering 503 until space is freed): the run must not be requeued under it.
    for lab in serve(tmp_path, lease_seconds=3):
        reconciler = lab.app.state.reconciler
        reconciler.judge_leases_after = 0.0
        slowed: list[str] = []

        def slow_upload(self: Lease, name: str, body: Any, upload: Any = Lease.upload, tick: Any = reconciler.tick,
                        slowed: list[str] = slowed) -> None:
            if name != "resume.pt" and not slowed:
                slowed.append(name)
                time.sleep(4.5)  # half again the 3 s lease
                tick()  # the reconciler's pass: it requeues a run whose lease has expired
            upload(self, name, body)

        monkeypatch.setattr(Lease, "upload", slow_upload)
        run_id = lab.submit()
        assert lab.execute(run_id) == "succeeded", lab.run(run_id)
        assert slowed and (lab.run(run_id)["attempt"], lab.run(run_id)["lost_leases"]) == (1, 0)
