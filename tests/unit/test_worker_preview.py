"""The worker's preview task, called as the worker calls it: a folder on its disk drawn with the engine's augment
code, and a folder it cannot read answered as an error on data_path (the API turns it into a 422)."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from contrastlab.core.settings import get_settings
from worker.engine.preview import grid_size
from worker.preview import draw_preview


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("ALLOWED_DATA_ROOTS", str(tmp_path))
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_a_folder_on_the_worker_disk_is_drawn(root: Path) -> None:
    rng = np.random.default_rng(0)
    for label in ("cats", "dogs"):
        (root / "pets" / label).mkdir(parents=True)
        for i in range(10):
            Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(root / "pets" / label / f"{i}.png")
    spec = {"method": "simclr", "dataset": "image_folder", "data_path": str(root / "pets"), "image_size": 32}
    reply = draw_preview(spec, 4, 2, 0)
    image = Image.open(io.BytesIO(base64.b64decode(reply["png"])))
    assert image.size == grid_size(4, 2, 32)


def test_a_folder_it_cannot_read_is_an_error_on_data_path(root: Path) -> None:
    reply = draw_preview({"dataset": "image_folder", "data_path": str(root / "missing")}, 2, 2, 0)
    assert reply["field"] == "data_path" and "missing" in reply["error"]


def test_an_invalid_spec_names_its_field(root: Path) -> None:
    reply = draw_preview({"dataset": "digits", "blur_prob": 3}, 2, 2, 0)
    assert reply["field"] == "blur_prob"
