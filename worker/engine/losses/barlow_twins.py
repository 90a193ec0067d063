"""Barlow Twins: redundancy reduction through the cross-correlation matrix."""

from __future__ import annotations

import torch
from torch import Tensor

from .base import in_fp32


@in_fp32
def barlow_twins(z1: Tensor, z2: Tensor, redundancy_weight: float = 5e-3, eps: float = 1e-5) -> Tensor:
    """sum_i (1 - C_ii)^2 + lambda * sum_{i != j} C_ij^2.

    Zbontar, Jing, Misra, LeCun, Deny (2021), "Barlow Twins", eq. (1)-(2) and Algorithm 1. Each
    dimension of z1, z2 [N, D] is standardised over the batch (mean 0, biased variance 1, with eps
    in the variance as the official code's affine-free BatchNorm), and C = z1n^T z2n / N is the
    cross-correlation matrix [D, D]. The paper's lambda is 5e-3.
    """
    c = _standardise(z1, eps).T @ _standardise(z2, eps) / z1.shape[0]
    eye = torch.eye(c.shape[0], dtype=torch.bool, device=c.device)
    on_diagonal = (torch.diagonal(c) - 1).pow(2).sum()
    off_diagonal = c.pow(2).masked_fill(eye, 0).sum()
    return on_diagonal + redundancy_weight * off_diagonal


def _standardise(z: Tensor, eps: float) -> Tensor:
    return (z - z.mean(dim=0)) / torch.sqrt(z.var(dim=0, unbiased=False) + eps)
