"""NNCLR: the positive of a view is the nearest neighbour of the other view in a support set."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import in_fp32
from .moco import info_nce


@torch.no_grad()
@in_fp32
def nearest_neighbours(z: Tensor, support: Tensor) -> Tensor:
    """support's row [B, D] with the highest cosine similarity to each row of z [B, D] (no gradient)."""
    similarity = F.normalize(z, dim=1) @ F.normalize(support, dim=1).T
    return support[similarity.argmax(dim=1)]


@in_fp32
def nnclr(z1: Tensor, z2: Tensor, p1: Tensor, p2: Tensor, support: Tensor, temperature: float = 0.1) -> Tensor:
    """(InfoNCE(NN(z1), p2) + InfoNCE(NN(z2), p1)) / 2, the negatives being the other predictions.

    Dwibedi et al. (2021), "With a Little Help from My Friends: Nearest-Neighbor Contrastive Learning of
    Visual Representations", eq. (2) symmetrised: z are the projections, p the predictions of the two
    views, support [M, D] the queue of past projections (paper: 98,304 of them, temperature 0.1). NN(z_i)
    is z_i's nearest neighbour in the support set; the softmax of cosine / temperature runs over the N
    predictions of the other view (not SimCLR's 2N - 1 views), and only p gets a gradient.
    """
    return (info_nce(nearest_neighbours(z1, support), p2, temperature)
            + info_nce(nearest_neighbours(z2, support), p1, temperature)) / 2
