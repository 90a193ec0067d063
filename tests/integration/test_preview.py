"""The augmentation preview drawn by a real preview consumer (the Celery worker on the preview queue that `make run`
and `contrastlab worker` start beside their workers), on Redis (the result backend is Redis), the embedded broker
(files) and Redis with PostgreSQL; by the CLI (`contrastlab preview spec.json -o views.png`); and while the only
worker trains a run, which trains as it would have without the preview."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from contrastlab.client.cli import app
from contrastlab.core import paths
from tests.integration.conftest import Stacks
from tests.stack import Stack, post_preview
from worker.engine.preview import GAP, cell_side, grid_size

pytestmark = pytest.mark.integration
FASHION = {"method": "simclr", "dataset": "fashion_mnist"}


def online(stack: Stack, role: str) -> list[dict[str, Any]]:
    return [w for w in stack.get(paths.WORKERS)["items"] if w["role"] == role and w["status"] == "online"]


def preview(stack: Stack, body: dict[str, Any]) -> httpx.Response:
    """POST the preview once the preview consumer beats: it draws whether or not the shared worker trains."""
    stack.wait_until("the preview consumer connected", lambda: online(stack, "previews"), timeout=180)
    return post_preview(stack.http, body)


def views_differ(png: bytes, rows: int, side: int) -> list[bool]:
    grid = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    cell = cell_side(side)

    def at(row: int, column: int) -> np.ndarray:
        top, left = GAP + row * (cell + GAP), GAP + column * (cell + GAP)
        return grid[top:top + cell, left:left + cell]

    return [bool(np.abs(at(row, 1) - at(row, 2)).mean() > 1) for row in range(rows)]


def test_fashion_mnist_simclr_defaults_show_8_images_and_2_views(stack: Stack) -> None:
    response = preview(stack, {"spec": FASHION})
    assert response.status_code == 200, response.text + stack.all_logs()
    assert response.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    assert image.size == grid_size(8, 2, 28)  # 8 rows: the image and 2 views, 28-pixel images at 3x
    assert all(views_differ(response.content, 8, 28))
    assert preview(stack, {"spec": FASHION}).content == response.content  # seeded: the same bytes again
    other = preview(stack, {"spec": {**FASHION, "blur_prob": 1.0, "seed": 3}, "images": 4, "views": 3})
    assert Image.open(io.BytesIO(other.content)).size == grid_size(4, 3, 28)


def test_a_dataset_the_worker_cannot_load_is_a_422_on_the_dataset(stacks: Stacks, tmp_path: Path) -> None:
    stack = stacks.get("embedded")
    response = preview(stack, {"spec": {"dataset": "image_folder", "data_path": str(tmp_path / "missing")}})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][:2] == ["body", "spec"]


def test_cli_writes_the_png(stacks: Stacks, tmp_path: Path) -> None:
    stack = stacks.get("redis")
    preview(stack, {"spec": FASHION, "images": 1})  # the preview consumer has drawn one: warm
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(FASHION))
    out = tmp_path / "views.png"
    result = CliRunner().invoke(app, ["--url", stack.url, "preview", str(spec), "-o", str(out)])
    assert result.exit_code == 0, result.stdout + stack.all_logs()
    assert "8 images, each with 2 views" in result.stdout
    assert Image.open(out).size == grid_size(8, 2, 28)
    bad = CliRunner().invoke(app, ["--url", stack.url, "preview", str(spec), "--set", "crop_scale_min=2"])
    assert bad.exit_code != 0
    assert "crop_scale_min" in bad.stdout + bad.stderr


# Long enough to be training still when the preview comes back.
TRAINING = {"method": "simclr", "dataset": "digits", "epochs": 4, "batch_size": 64, "probe_epochs": 5,
            "tsne_samples": 50, "random_baseline": False, "seed": 5}


def test_a_preview_is_drawn_while_the_only_worker_trains_and_the_run_is_unaffected(stacks: Stacks) -> None:
    stack = stacks.get("redis")
    # Its first preview imports torch: 15 to 21 s on this shared 2-core machine under load, so done beforehand.
    assert preview(stack, {"spec": FASHION, "images": 1}).status_code == 200
    run = stack.submit(**TRAINING, name="trains during a preview")
    stack.wait_until("the run trains", lambda: stack.points(run["id"]), timeout=180)
    workers = online(stack, "runs")
    assert [w["run_id"] for w in workers] == [run["id"]] and workers[0]["activity"] == "busy"  # the only worker

    response = preview(stack, {"spec": FASHION})
    assert response.status_code == 200, response.text + stack.all_logs()
    assert response.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(response.content)).size == grid_size(8, 2, 28)
    assert stack.get(f"/api/runs/{run['id']}")["status"] == "running", "the run ended before the preview came"
    consumer = online(stack, "previews")[0]
    assert consumer["name"].startswith("preview-worker1@") and not consumer["gpu"] and consumer["run_id"] is None

    done = stack.wait(run["id"], {"succeeded", "failed", "canceled"})
    assert (done["status"], done["attempt"], done["lost_leases"], done["requeue_reason"]) == \
        ("succeeded", 1, 0, None), done
    # The same spec trained again, with no preview meanwhile: the same curve and the same result.
    again = stack.submit(**TRAINING, name="trains alone")
    assert stack.wait(again["id"], {"succeeded", "failed", "canceled"})["status"] == "succeeded"

    def learned(run_id: int) -> list[tuple[str, int, float]]:
        return [(p["name"], p["step"], p["value"]) for p in stack.points(run_id)
                if p["name"] in ("loss", "linear_acc", "knn_acc")]

    assert learned(run["id"]) == learned(again["id"]) and learned(run["id"])
