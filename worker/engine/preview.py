"""An augmentation preview: a PNG grid of a spec's images beside the views training would draw of them.

The views come from the engine's own `multi_crop` (and so `augment`), with a generator seeded from the spec's
seed as the training loop seeds its own: what the grid shows is what the encoder would see, not a look-alike.
Layout: one row per image; the first cell the image itself, then one cell per view; cells are scaled up by a
whole factor (nearest neighbour, so pixels stay sharp) to at least CELL_MIN pixels.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from contrastlab.core.settings import LoaderConfig
from contrastlab.core.spec import RunSpec

from .data import ImageData, load_dataset
from .multicrop import multi_crop

MAX_IMAGES = 16
MAX_VIEWS = 4
CELL_MIN = 64  # pixels: a 28-pixel image is drawn at 3x (84 px), a 16-pixel one at 4x
GAP = 4  # pixels between cells and around the grid
BACKGROUND = (229, 231, 235)


def cell_side(image_side: int) -> int:
    """The drawn side of one image of `image_side` pixels: a whole multiple, at least CELL_MIN when it is smaller."""
    return image_side * max(1, -(-CELL_MIN // image_side))


def grid_size(images: int, views: int, image_side: int) -> tuple[int, int]:
    """(width, height) in pixels of the grid of `images` rows, each the original and `views` views."""
    cell = cell_side(image_side)
    columns = 1 + views
    return columns * cell + (columns + 1) * GAP, images * cell + (images + 1) * GAP


def pick_images(data: ImageData, count: int, seed: int) -> torch.Tensor:
    """`count` training images, uint8 [count, C, H, W], chosen by a shuffle seeded with `seed`."""
    pool = data.train_images
    order = torch.randperm(len(pool), generator=torch.Generator().manual_seed(seed))[:count]
    return torch.stack([pool[int(i)] for i in order])


def draw_views(images: torch.Tensor, spec: RunSpec, views: int) -> torch.Tensor:
    """`views` global views of each image, float [views, B, C, H, W] in [0, 1], as the training loop draws them."""
    generator = torch.Generator().manual_seed(spec.seed)
    crops = multi_crop(images, spec, generator, None, views, 0, 0.0)
    return crops.large.view(views, *images.shape)


def render_grid(images: torch.Tensor, views: torch.Tensor) -> bytes:
    """PNG bytes of the grid: row i holds images[i] (uint8) then views[:, i] (float in [0, 1])."""
    count, channels, side, _ = images.shape
    cell = cell_side(side)
    scale = cell // side
    width, height = grid_size(count, views.shape[0], side)
    canvas = np.empty((height, width, 3), dtype=np.uint8)
    canvas[:] = BACKGROUND
    columns = [images.float().div(255), *views]
    for row in range(count):
        for column, source in enumerate(columns):
            pixels = (source[row].clamp(0, 1) * 255).round().to(torch.uint8)
            pixels = pixels.expand(3, -1, -1) if channels == 1 else pixels[:3]
            tile = pixels.permute(1, 2, 0).numpy().repeat(scale, axis=0).repeat(scale, axis=1)
            top, left = GAP + row * (cell + GAP), GAP + column * (cell + GAP)
            canvas[top:top + cell, left:left + cell] = tile
    out = io.BytesIO()
    Image.fromarray(canvas, "RGB").save(out, format="PNG", optimize=False)
    return out.getvalue()


def preview_png(spec: RunSpec, images: int = 8, views: int = 2, pick_seed: int = 0, root: Path | None = None,
                allowed_roots: Sequence[Path] = (), loader: LoaderConfig = LoaderConfig()) -> bytes:
    """The preview of `spec`: `images` training images (picked with `pick_seed`) and `views` views of each."""
    if not 1 <= images <= MAX_IMAGES or not 1 <= views <= MAX_VIEWS:
        raise ValueError(f"a preview shows 1 to {MAX_IMAGES} images and 1 to {MAX_VIEWS} views each")
    data = load_dataset(spec, root, allowed_roots, loader)
    chosen = pick_images(data, images, pick_seed)
    return render_grid(chosen, draw_views(chosen, spec, views))
