"""Multi-crop views (Caron et al. 2020, SwAV section 3.2; DINO): 2 large crops and N small, low-resolution ones.

The small crops cover a smaller area fraction, from `small_scale_min` up to the large crops' smallest
(crop_scale_min), as both papers' split of the scale range (SwAV 0.05-0.14 | 0.14-1, DINO 0.05-0.4 | 0.4-1),
and are resized to 96/224 of the side (the papers' 96 px beside 224 px). Each set is batched on the device
like every other view: one `augment` call per crop over the whole batch.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from contrastlab.core.spec import RunSpec

from .augment import Part, augment

SMALL_SIDE = 96 / 224  # the papers' small crop side, relative to the large crops'
SMALL_MIN_PIXELS = 8  # the small CNN pools three times: an 8 px crop still leaves one pixel


class Crops(NamedTuple):
    """The large views [L*B, C, H, W] and the small ones [S*B, C, h, w] (None without small crops)."""

    large: torch.Tensor
    small: torch.Tensor | None


def small_side(side: int) -> int:
    """The small crops' side for images of `side` pixels."""
    return min(side, max(SMALL_MIN_PIXELS, round(side * SMALL_SIDE)))


def multi_crop(images: torch.Tensor, spec: RunSpec, generator: torch.Generator, part: Part | None,
               large: int, small: int, small_scale_min: float) -> Crops:
    """`large` crops as the spec's augmentation makes them, then `small` crops of area small_scale_min to
    crop_scale_min at the small side; every image gets its own draw for each crop."""
    large_views = torch.cat([augment(images, spec, generator, part) for _ in range(large)])
    if small == 0:
        return Crops(large_views, None)
    scale = (min(small_scale_min, spec.crop_scale_min), spec.crop_scale_min)
    side = small_side(images.shape[-1])
    small_views = torch.cat([augment(images, spec, generator, part, scale=scale, size=side) for _ in range(small)])
    return Crops(large_views, small_views)
