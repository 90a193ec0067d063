"""Batched augmentation on the training device; every image gets its own random draw.

The crop and the flip are one affine map per image (F.affine_grid + F.grid_sample),
so a whole batch is augmented in two kernels instead of a Python loop over images.
All randomness comes from the generator, so a seed fixes every view.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from worker.spec import RunSpec

ASPECT_RANGE = (3 / 4, 4 / 3)  # the SimCLR / torchvision RandomResizedCrop default
LUMA = (0.299, 0.587, 0.114)  # ITU-R 601, as torchvision's rgb_to_grayscale


def augment(images: torch.Tensor, spec: RunSpec, generator: torch.Generator) -> torch.Tensor:
    """Float views in [0, 1], same shape as the uint8 images [B, C, H, W]."""
    x = images.float().div_(255)
    if not spec.augment:
        return x
    x = random_resized_crop_flip(x, generator, spec.crop_scale_min, spec.flip_prob)
    return brightness_contrast(x, generator, spec.jitter_strength, spec.jitter_prob)


def random_resized_crop_flip(x: torch.Tensor, generator: torch.Generator, scale_min: float,
                             flip_prob: float) -> torch.Tensor:
    """Crop a random area fraction in (scale_min, 1) and aspect ratio, resize back, maybe mirror."""
    b = x.shape[0]
    u = torch.rand(b, 5, generator=generator, device=x.device)
    area = scale_min + (1 - scale_min) * u[:, 0]
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
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def brightness_contrast(x: torch.Tensor, generator: torch.Generator, strength: float,
                        prob: float) -> torch.Tensor:
    """With probability prob per image, scale brightness and contrast by factors in [1-s, 1+s]."""
    b = x.shape[0]
    u = torch.rand(b, 3, generator=generator, device=x.device)
    lo, hi = max(0.0, 1 - strength), 1 + strength
    apply = u[:, 0] < prob
    brightness = torch.where(apply, lo + (hi - lo) * u[:, 1], 1.0).view(b, 1, 1, 1)
    contrast = torch.where(apply, lo + (hi - lo) * u[:, 2], 1.0).view(b, 1, 1, 1)
    x = (x * brightness).clamp_(0, 1)
    # Contrast blends towards the image's mean grey level, as torchvision's adjust_contrast.
    gray = x if x.shape[1] == 1 else (x * x.new_tensor(LUMA).view(1, 3, 1, 1)).sum(1, keepdim=True)
    mean = gray.mean(dim=(1, 2, 3), keepdim=True)
    return ((x - mean) * contrast + mean).clamp_(0, 1)
