"""Streamed datasets through real Celery and Redis: a streamed run trains to the end, and one whose DataLoader
worker never sends a batch fails within DATA_TIMEOUT_S with the loader's error instead of waiting forever."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from contrastlab.core.catalog import Artifact
from tests.stack import Stack

pytestmark = pytest.mark.integration

FINAL = {"succeeded", "failed", "canceled"}
RUN = {"dataset": "image_folder", "image_size": 16, "data_loading": "stream", "epochs": 1, "batch_size": 8,
       "max_train_samples": None, "probe_epochs": 5, "tsne_samples": 10, "random_baseline": False}


def _folder(root: Path, name: str, stall: bool = False) -> Path:
    """20 JPEGs in two class folders (a class is told apart by its colour); with stall, one file named stall.jpg."""
    folder = root / name
    rng = np.random.default_rng(0)
    for c in range(2):
        (folder / f"class{c}").mkdir(parents=True)
        for i in range(10):
            pixels = rng.integers(0, 90, (20, 20, 3), dtype=np.uint8)
            pixels[..., 2 * c] += 150
            Image.fromarray(pixels).save(folder / f"class{c}" / f"{'stall' if stall and i == 0 else i}.jpg")
    return folder


def test_streamed_runs_train_and_a_stalled_loader_fails_the_run(faults: Stack) -> None:
    root = Path(faults.env["ALLOWED_DATA_ROOTS"])
    faults.start_worker("loader", fault="stall", DATA_TIMEOUT_S="3", DATA_WORKERS="1")
    streamed = faults.submit(**RUN, data_path=str(_folder(root, "streamed")), name="streamed")
    stalled = faults.submit(**RUN, data_path=str(_folder(root, "stalled", stall=True)), name="stalled")

    done = faults.wait(streamed["id"], FINAL, timeout=240)
    assert done["status"] == "succeeded", done["error"]
    assert "loading image_folder: 16 train / 4 test images, streamed from disk" in \
        [e["text"] for e in faults.log_entries(streamed["id"])]
    assert [p["step"] for p in faults.points(streamed["id"]) if p["name"] == "loss"] == [1, 2]
    assert Artifact.ENCODER in faults.artifact_names(streamed["id"])

    failed = faults.wait(stalled["id"], FINAL, timeout=240)
    assert failed["status"] == "failed" and failed["attempt"] == 1
    assert "data loader: no batch within 3 s (setting DATA_TIMEOUT_S)" in failed["error"]
