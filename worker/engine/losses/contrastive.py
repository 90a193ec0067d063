"""Hadsell, Chopra and LeCun's contrastive (margin) loss on pairwise distances."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from .base import LossParams, Objective, in_fp32, masked_mean, pair_masks, squared_distances, stack_views


@in_fp32
def contrastive_margin(z: Tensor, labels: Tensor, margin: float) -> Tensor:
    """Contrastive loss with a margin.

    Hadsell, Chopra, LeCun (2006), "Dimensionality Reduction by Learning an Invariant
    Mapping", eq. (4): a similar pair costs D^2 / 2, a dissimilar one max(0, m - D)^2 / 2,
    with D the Euclidean distance of the L2-normalised embeddings. Every pair in the batch
    counts; the mean over positive pairs and the mean over negative pairs are added, so
    the 1:(classes - 1) imbalance of a random batch does not drown the positives.
    """
    d2 = squared_distances(z)
    positive, negative = pair_masks(labels)
    # sqrt has an infinite slope at 0: the clamp keeps identical embeddings from giving NaN gradients.
    distance = d2.clamp_min(1e-12).sqrt()
    pull = masked_mean(d2 / 2, positive)
    push = masked_mean((margin - distance).clamp_min(0).pow(2) / 2, negative)
    return pull + push


def _contrastive_loss(outputs: Sequence[Tensor], labels: Tensor, params: LossParams) -> Tensor:
    z, all_labels = stack_views(outputs, labels)
    return contrastive_margin(z, all_labels, params.margin)


OBJECTIVE = Objective("contrastive", _contrastive_loss)
