"""Negative cosine similarity: the loss of BYOL and SimSiam."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from .base import in_fp32


@in_fp32
def negative_cosine(prediction: Tensor, target: Tensor) -> Tensor:
    """-mean over the batch of cos(prediction[i], target[i]); the target gets no gradient.

    SimSiam: Chen, He (2021), "Exploring Simple Siamese Representation Learning", eq. (1)-(3),
    D(p, stopgrad(z)) = -cos(p, z); symmetrised by the caller as D(p1, z2) / 2 + D(p2, z1) / 2.
    BYOL: Grill et al. (2020), "Bootstrap Your Own Latent", eq. (2), uses 2 - 2 cos(q, z'), which is
    2 + 2 * this value: the same gradients up to a factor 2. The stop-gradient is part of both papers,
    so it lives here and a caller cannot forget it.
    """
    return -F.cosine_similarity(prediction, target.detach(), dim=-1).mean()
