"""Multi-crop (Caron et al. 2020, SwAV section 3.2; DINO): the view plan of 2 large and N small crops.

The small crops cover an area fraction from small_crop_scale_min up to the large crops' smallest
(crop_scale_min), as both papers split the scale range (SwAV 0.05-0.14 | 0.14-1, DINO 0.05-0.4 | 0.4-1), at
96/224 of the image side (the papers' 96 px beside 224 px). The loop's batched augmentation makes them.
"""

from __future__ import annotations

from contrastlab.core.catalog import DATASETS
from contrastlab.core.spec import RunSpec

from .base import ViewPlan

SMALL_SIDE = 96 / 224  # the papers' small crop side, relative to the large crops'
SMALL_MIN_PIXELS = 8  # the small CNN pools three times: an 8 px crop still leaves one pixel


def image_side(spec: RunSpec) -> int:
    """The side of the images the run trains on: the spec's image_size where the dataset resizes, else its own."""
    info = DATASETS[spec.dataset]
    return spec.image_size if spec.image_size is not None and info.resizes else info.default_size


def multi_crop_plan(spec: RunSpec) -> ViewPlan:
    """2 global views and spec.small_crops small ones."""
    side = image_side(spec)
    small_side = min(side, max(SMALL_MIN_PIXELS, round(side * SMALL_SIDE)))
    scale = (min(spec.small_crop_scale_min, spec.crop_scale_min), spec.crop_scale_min)
    return ViewPlan(global_views=2, small_crops=spec.small_crops, small_size=small_side, small_scale=scale)
