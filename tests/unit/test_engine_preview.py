"""The augmentation preview's grid: its size, views that differ, the same bytes for the same seed."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from contrastlab.core.spec import RunSpec
from worker.engine.preview import GAP, cell_side, grid_size, preview_png

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _cells(png: bytes, rows: int, columns: int, side: int) -> list[list[np.ndarray]]:
    grid = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    cell = cell_side(side)
    return [[grid[GAP + r * (cell + GAP):GAP + r * (cell + GAP) + cell,
                  GAP + c * (cell + GAP):GAP + c * (cell + GAP) + cell] for c in range(columns)] for r in range(rows)]


def test_fashion_mnist_simclr_defaults_draw_8_images_and_2_different_views() -> None:
    spec = RunSpec(method="simclr", dataset="fashion_mnist")
    png = preview_png(spec)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    # 8 rows of 28-pixel images drawn at 3x (84 px): the image, then 2 views, with 4-pixel gaps.
    assert image.size == grid_size(8, 2, 28) == (3 * 84 + 4 * 4, 8 * 84 + 9 * 4)
    cells = _cells(png, 8, 3, 28)
    for original, first, second in cells:
        assert original.std() > 0  # an image, not the background
        assert np.abs(first.astype(int) - second.astype(int)).mean() > 1  # two draws, two views
    assert preview_png(spec) == png  # seeded: same spec, same bytes


def test_the_spec_seed_moves_the_views_and_not_the_images() -> None:
    first = _cells(preview_png(RunSpec(dataset="digits", seed=1), images=4), 4, 3, 16)
    second = _cells(preview_png(RunSpec(dataset="digits", seed=2), images=4), 4, 3, 16)
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(first, second, strict=True))
    assert any(not np.array_equal(a[1], b[1]) for a, b in zip(first, second, strict=True))


def test_without_augmentation_the_views_are_the_image() -> None:
    rows = _cells(preview_png(RunSpec(dataset="digits", augment=False), images=3, views=2), 3, 3, 16)
    for original, first, second in rows:
        assert np.array_equal(original, first) and np.array_equal(first, second)


def test_counts_are_capped() -> None:
    with pytest.raises(ValueError, match="1 to 16 images"):
        preview_png(RunSpec(dataset="digits"), images=17)
