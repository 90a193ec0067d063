"""Batched augmentation on the training device; every image gets its own random draw.

SimCLR's pipeline in its order: random resized crop and flip, colour jitter (brightness,
contrast, saturation, hue, in that fixed order), grayscale, Gaussian blur. The crop and the
flip are one affine map per image (F.affine_grid + F.grid_sample), so a whole batch is
augmented in a few kernels instead of a Python loop over images; saturation is a blend with
grey, hue a per-image rotation in YIQ space (a linear stand-in for the HSV shift), and the blur
kornia's gaussian_blur2d, which takes one sigma per image. All randomness comes from the
generator, so a seed fixes every view. (bench/augment_speed.py measured this against kornia's
augmentation modules and torchvision v2 applied per sample.)

A rank of a multi-device run augments only its rows of the global batch (`part`), but draws the numbers of
the whole global batch and keeps its rows: every rank's generator stays in step, and each image gets the draw
it would get in a one-process run.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

from contrastlab.core.spec import RunSpec

ASPECT_RANGE = (3 / 4, 4 / 3)  # the SimCLR / torchvision RandomResizedCrop default
LUMA = (0.299, 0.587, 0.114)  # ITU-R 601, as torchvision's rgb_to_grayscale


class Part(NamedTuple):
    """The rows [start, start + len(images)) of a global batch of `total` images that a call augments."""

    start: int
    total: int


def augment(images: torch.Tensor, spec: RunSpec, generator: torch.Generator,
            part: Part | None = None, scale: tuple[float, float] | None = None,
            size: int | None = None) -> torch.Tensor:
    """Float views in [0, 1], same shape as the uint8 images [B, C, H, W]; part: which rows of a global batch.

    scale and size: a multi-crop method's small crops, an area fraction in `scale` (not the spec's) resized to
    size x size; without augmentation a small view is the whole image resized.
    """
    x = images.float().div_(255)
    if not spec.augment:
        return x if size is None else F.interpolate(x, size=(size, size), mode="bilinear", antialias=True,
                                                    align_corners=False)
    low, high = scale if scale is not None else (spec.crop_scale_min, spec.crop_scale_max)
    x = random_resized_crop_flip(x, generator, low, spec.flip_prob, high, part, size)
    x = colour_jitter(x, generator, spec.jitter_strength, spec.jitter_prob, part=part)
    x = random_grayscale(x, generator, spec.grayscale_prob, part)
    return gaussian_blur(x, generator, spec.blur_prob, (spec.blur_sigma_min, spec.blur_sigma_max), part)


def uniform(x: torch.Tensor, generator: torch.Generator, columns: int, part: Part | None) -> torch.Tensor:
    """Uniform draws [B, columns] for the images x: the rows of `part` out of the whole global batch's draws."""
    if part is None:
        return torch.rand(x.shape[0], columns, generator=generator, device=x.device)
    draws = torch.rand(part.total, columns, generator=generator, device=x.device)
    return draws[part.start:part.start + x.shape[0]]


def random_resized_crop_flip(x: torch.Tensor, generator: torch.Generator, scale_min: float,
                             flip_prob: float, scale_max: float = 1.0, part: Part | None = None,
                             size: int | None = None) -> torch.Tensor:
    """Crop a random area fraction in (scale_min, scale_max) and aspect ratio, resize back (or to size x size),
    maybe mirror."""
    b = x.shape[0]
    u = uniform(x, generator, 5, part)
    area = scale_min + (scale_max - scale_min) * u[:, 0]
    log_lo, log_hi = math.log(ASPECT_RANGE[0]), math.log(ASPECT_RANGE[1])
    ratio = torch.exp(log_lo + (log_hi - log_lo) * u[:, 1])
    # Crop sides as fractions of the image side; clamping keeps tall or wide crops inside the image.
    w = torch.sqrt(area * ratio).clamp(max=1)
    h = torch.sqrt(area / ratio).clamp(max=1)
    # affine_grid works in [-1, 1] coordinates: a centre within ±(1 - side) keeps the crop inside.
    cx = (1 - w) * (2 * u[:, 2] - 1)
    cy = (1 - h) * (2 * u[:, 3] - 1)
    flip = torch.where(u[:, 4] < flip_prob, -1.0, 1.0)
    theta = torch.zeros(b, 2, 3, device=x.device)
    theta[:, 0, 0] = w * flip
    theta[:, 0, 2] = cx
    theta[:, 1, 1] = h
    theta[:, 1, 2] = cy
    shape = list(x.shape) if size is None else [*x.shape[:2], size, size]
    grid = F.affine_grid(theta, shape, align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def brightness_contrast(x: torch.Tensor, generator: torch.Generator, strength: float,
                        prob: float) -> torch.Tensor:
    """With probability prob per image, scale brightness and contrast by factors in [1-s, 1+s]."""
    return colour_jitter(x, generator, strength, prob, colour=False)


def colour_jitter(x: torch.Tensor, generator: torch.Generator, strength: float, prob: float,
                  colour: bool = True, part: Part | None = None) -> torch.Tensor:
    """With probability prob per image: brightness, contrast and (colour images) saturation factors in
    [1-s, 1+s] and a hue shift in [-s/4, s/4] of the colour circle, as torchvision's ColorJitter."""
    b = x.shape[0]
    u = uniform(x, generator, 5, part)
    lo, hi = max(0.0, 1 - strength), 1 + strength
    apply = u[:, 0] < prob
    factors = torch.where(apply.unsqueeze(1), lo + (hi - lo) * u[:, 1:4], 1.0)
    x = (x * factors[:, 0].view(b, 1, 1, 1)).clamp_(0, 1)
    # Contrast blends towards the image's mean grey level, as torchvision's adjust_contrast.
    mean = grey(x).mean(dim=(1, 2, 3), keepdim=True)
    x = ((x - mean) * factors[:, 1].view(b, 1, 1, 1) + mean).clamp_(0, 1)
    if not colour or x.shape[1] != 3 or strength == 0:
        return x
    # Saturation blends towards the grey image, as torchvision's adjust_saturation.
    g = grey(x)
    x = ((x - g) * factors[:, 2].view(b, 1, 1, 1) + g).clamp_(0, 1)
    hue = torch.where(apply, (u[:, 4] - 0.5) * strength / 2, 0.0)  # fraction of the circle in [-s/4, s/4]
    return rotate_hue(x, hue * 2 * math.pi)


YIQ = ((0.299, 0.587, 0.114), (0.596, -0.274, -0.322), (0.211, -0.523, 0.312))


def rotate_hue(x: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Rotate each RGB image's chroma by angle (radians) in YIQ space: one 3x3 matrix per image.

    A linear stand-in for torchvision's HSV hue shift (same luma, same direction of rotation),
    several times cheaper than converting to HSV and back."""
    to_yiq = x.new_tensor(YIQ)
    cos, sin = angle.cos(), angle.sin()
    rotation = torch.zeros(len(angle), 3, 3, device=x.device, dtype=x.dtype)
    rotation[:, 0, 0] = 1
    rotation[:, 1, 1], rotation[:, 1, 2], rotation[:, 2, 1], rotation[:, 2, 2] = cos, -sin, sin, cos
    matrix = torch.linalg.inv(to_yiq) @ rotation @ to_yiq  # [B, 3, 3]
    return torch.einsum("bij,bjhw->bihw", matrix, x).clamp_(0, 1)


def grey(x: torch.Tensor) -> torch.Tensor:
    """Luma [B, 1, H, W] of RGB images (ITU-R 601); single-channel images are their own grey."""
    return x if x.shape[1] == 1 else (x * x.new_tensor(LUMA).view(1, 3, 1, 1)).sum(1, keepdim=True)


def random_grayscale(x: torch.Tensor, generator: torch.Generator, prob: float,
                     part: Part | None = None) -> torch.Tensor:
    """With probability prob per image, replace every channel by the luma."""
    if x.shape[1] == 1 or prob == 0:
        return x
    apply = uniform(x, generator, 1, part)[:, 0] < prob
    return torch.where(apply.view(-1, 1, 1, 1), grey(x).expand_as(x), x)


def gaussian_blur(x: torch.Tensor, generator: torch.Generator, prob: float,
                  sigma_range: tuple[float, float], part: Part | None = None) -> torch.Tensor:
    """With probability prob per image, blur with a sigma drawn in sigma_range; kernel ~10% of the side (SimCLR)."""
    if prob == 0:
        return x
    from kornia.filters import gaussian_blur2d

    b = x.shape[0]
    u = uniform(x, generator, 2, part)
    sigma = sigma_range[0] + (sigma_range[1] - sigma_range[0]) * u[:, 1]
    size = max(3, int(0.1 * min(x.shape[-2:])) // 2 * 2 + 1)
    blurred = gaussian_blur2d(x, (size, size), sigma.view(b, 1).expand(b, 2), border_type="reflect")
    return torch.where((u[:, 0] < prob).view(b, 1, 1, 1), blurred, x)
