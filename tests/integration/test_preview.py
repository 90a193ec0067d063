"""The augmentation preview drawn by a real Celery worker, on Redis (the result backend is Redis), the embedded
broker (files) and Redis with PostgreSQL; and by the CLI (`contrastlab preview spec.json -o views.png`)."""

from __future__ import annotations

import io
import json
import time
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
from tests.stack import Stack
from worker.engine.preview import GAP, cell_side, grid_size

pytestmark = pytest.mark.integration
FASHION = {"method": "simclr", "dataset": "fashion_mnist"}


def preview(stack: Stack, body: dict[str, Any]) -> httpx.Response:
    """POST the preview; while the shared worker trains another test's run (503: busy), ask again."""
    def answered() -> httpx.Response | None:
        response = stack.http.post(paths.PREVIEW_AUGMENTATIONS, json=body, timeout=60)
        if response.status_code == 503 and "busy" in response.text:
            time.sleep(2)  # each try counts against the address's 60 previews a minute
            return None
        return response

    stack.wait_until("the worker connected", lambda: stack.get(paths.WORKERS)["items"])
    return stack.wait_until("an idle worker drew the preview", answered, timeout=300)


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
    preview(stack, {"spec": FASHION, "images": 1})  # the worker is idle now
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


def test_a_worker_training_a_run_is_busy_and_draws_again_once_it_ends(stacks: Stacks) -> None:
    stack = stacks.get("redis")
    preview(stack, {"spec": FASHION, "images": 1})  # idle before the run
    run = stack.submit(method="simclr", dataset="digits", epochs=3, batch_size=128, probe_epochs=20,
                       tsne_samples=100, random_baseline=False)
    stack.wait_until("the worker holds the run",
                     lambda: any(w["run_id"] == run["id"] for w in stack.get(paths.WORKERS)["items"]))
    busy = stack.http.post(paths.PREVIEW_AUGMENTATIONS, json={"spec": FASHION}, timeout=60)
    if stack.http.get(f"/api/runs/{run['id']}").json()["status"] in {"queued", "running"}:
        assert busy.status_code == 503 and "busy with a run" in busy.json()["detail"]
    assert stack.wait(run["id"], {"succeeded", "failed", "canceled"})["status"] == "succeeded"
    assert preview(stack, {"spec": FASHION}).status_code == 200
