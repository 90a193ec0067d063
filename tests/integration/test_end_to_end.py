"""A real SimCLR run on digits through the whole service: HTTP → broker → Celery → engine → SSE → checkpoint."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
import torch
from safetensors.torch import load_file

from contrastlab.core.spec import RunSpec
from worker.engine.checkpoint import load_encoder
from worker.engine.data import load_dataset
from worker.engine.evaluate import encode
from worker.engine.stream import as_tensor

pytestmark = pytest.mark.integration


def test_simclr_on_digits_end_to_end(stack, tmp_path):
    run = stack.submit(method="simclr", dataset="digits", epochs=2, batch_size=128)
    assert run["status"] == "queued"

    statuses, metrics, first_metric_at = [], [], None
    for received, event, data in stack.follow(run["id"], timeout=300):
        if event == "status":
            statuses.append(data["status"])
        elif event == "metric":
            metrics.append(data)
            first_metric_at = first_metric_at or received
    final = stack.http.get(f"/api/runs/{run['id']}").json()
    assert final["status"] == "succeeded", stack.all_logs()
    assert "running" in statuses and statuses[-1] == "succeeded"

    # Points arrived live: the first one reached us before the run had finished.
    finished_at = datetime.fromisoformat(final["finished_at"].replace("Z", "+00:00")).timestamp()
    assert first_metric_at is not None and first_metric_at < finished_at
    losses = [m for m in metrics if m["name"] == "loss"]
    assert len(losses) >= 2 and all(isinstance(m["value"], float) for m in losses)
    # Every streamed point is persisted, in order, and readable by cursor.
    stored = stack.http.get(f"/api/runs/{run['id']}/metrics", params={"limit": 10000}).json()["items"]
    assert [m["id"] for m in stored] == [m["id"] for m in metrics]

    # How busy the machine was: the worker's samples of the run's processes (at least the one at its end) and the
    # engine's data wait per epoch; no GPU metric on this CPU host.
    system = {m["name"]: m["value"] for m in stored if m["name"].startswith("system.")}
    assert {"system.cpu_percent", "system.rss_mb", "system.data_wait_share"} == set(system), sorted(system)
    assert 100 < system["system.rss_mb"] < 64 * 1024  # torch alone is a few hundred MiB
    assert 0 <= system["system.cpu_percent"] < 100 * 64 and 0 <= system["system.data_wait_share"] <= 1
    assert len([m for m in stored if m["name"] == "system.data_wait_share"]) == 2  # one per epoch

    # Linear probe well above chance (10 classes: 0.1).
    assert 0.5 < final["summary"]["linear_acc"] <= 1.0
    assert 0.5 < final["summary"]["knn_acc"] <= 1.0

    # t-SNE: one 2-D point for every sampled test image, with its label.
    embeddings = stack.http.get(f"/api/runs/{run['id']}/embeddings").json()
    data = load_dataset("digits")
    assert len(embeddings["points"]) == min(run["spec"]["tsne_samples"], len(data.test_labels))
    for point in embeddings["points"][:50]:
        assert int(data.test_labels[point["index"]]) == point["label"]

    # The checkpoint downloads, loads into the encoder and reproduces the stored features.
    names = {a["name"] for a in stack.http.get(f"/api/runs/{run['id']}/artifacts").json()["items"]}
    assert {"encoder.safetensors", "run.json", "features.safetensors", "embeddings.json"} <= names
    # The per-epoch resume checkpoint was uploaded while training and is dropped once the run succeeded.
    assert "resume.pt" not in names
    assert not (stack.data_dir / "artifacts" / str(run["id"]) / "resume.pt").exists()
    assert stack.http.get(f"/api/runs/{run['id']}/artifacts/resume.pt").status_code == 404
    for name in ("encoder.safetensors", "features.safetensors"):
        (tmp_path / name).write_bytes(stack.http.get(f"/api/runs/{run['id']}/artifacts/{name}").content)
    beside = stack.http.get(f"/api/runs/{run['id']}/artifacts/run.json").json()
    assert beside["metrics"]["linear_acc"] == pytest.approx(final["summary"]["linear_acc"])
    spec = RunSpec.model_validate(beside["spec"])
    encoder = load_encoder(tmp_path / "encoder.safetensors", spec, in_channels=data.test_images.shape[1])
    stored_features = load_file(tmp_path / "features.safetensors")
    recomputed = encode(encoder, as_tensor(data.test_images)[stored_features["indices"]], 256, torch.device("cpu"))
    torch.testing.assert_close(recomputed, stored_features["features"], atol=1e-4, rtol=1e-4)
    assert json.loads(json.dumps(final["spec"])) == beside["spec"]


def test_cancel_stops_a_running_run_and_keeps_its_points(stack):
    run = stack.submit(method="simclr", dataset="digits", epochs=200, batch_size=64, name="to cancel")
    seen = 0
    for _, event, _data in stack.follow(run["id"], timeout=120):
        if event == "metric":
            seen += 1
            if seen == 5:
                response = stack.http.post(f"/api/runs/{run['id']}/cancel")
                assert response.status_code == 200 and response.json()["cancel_requested"] is True
    final = stack.wait(run["id"], {"canceled", "succeeded", "failed"}, timeout=60)
    assert final["status"] == "canceled", final
    assert final["progress"] < 0.5  # stopped long before the 200 epochs were done
    stored = stack.http.get(f"/api/runs/{run['id']}/metrics", params={"limit": 10000}).json()["items"]
    assert len(stored) >= 5
    assert stack.http.post(f"/api/runs/{run['id']}/cancel").status_code == 409
