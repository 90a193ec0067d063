"""Triplet loss with in-batch mining: batch-hard, batch-all and semi-hard."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from .base import LossParams, Objective, in_fp32, masked_mean, pair_masks, squared_distances, stack_views

ALL_CHUNK = 64  # anchors per slice of the batch-all triplet cube

# FaceNet's triplet: max(0, d(a, p) - d(a, n) + margin) with d the squared Euclidean distance
# of L2-normalised embeddings (Schroff, Kalenichenko, Philbin 2015, "FaceNet", eq. (1)-(3)).


@in_fp32
def triplet_batch_hard(z: Tensor, labels: Tensor, margin: float) -> Tensor:
    """Batch-hard triplet loss (Hermans, Beyer, Leibe 2017, "In Defense of the Triplet Loss", eq. (5)).

    Each anchor with a positive and a negative in the batch takes its farthest positive and
    nearest negative; the loss is the mean over those anchors.
    """
    d2 = squared_distances(z)
    positive, negative = pair_masks(labels)
    hardest_positive = d2.masked_fill(~positive, float("-inf")).amax(dim=1)
    hardest_negative = d2.masked_fill(~negative, float("inf")).amin(dim=1)
    valid = positive.any(dim=1) & negative.any(dim=1)
    losses = (hardest_positive - hardest_negative + margin).clamp_min(0)
    return masked_mean(losses.masked_fill(~valid, 0), valid)


@in_fp32
def triplet_batch_all(z: Tensor, labels: Tensor, margin: float) -> Tensor:
    """Batch-all triplet loss (Hermans et al. 2017, eq. (6), "BA!=0"): every valid (a, p, n)
    triplet of the batch, averaged over the triplets whose loss is above zero, so that easy
    triplets do not dilute the gradient as training goes on."""
    d2 = squared_distances(z)
    positive, negative = pair_masks(labels)
    total, active = d2.new_zeros(()), d2.new_zeros(())
    # Anchors in chunks: the [a, p, n] cube of a 2048-view batch would need 34 GB at once.
    for start in range(0, len(d2), ALL_CHUNK):
        rows = slice(start, start + ALL_CHUNK)
        losses = (d2[rows].unsqueeze(2) - d2[rows].unsqueeze(1) + margin).clamp_min(0)  # [a, p, n]
        keep = positive[rows].unsqueeze(2) & negative[rows].unsqueeze(1) & (losses > 0)
        total = total + (losses * keep).sum()
        active = active + keep.sum()
    return total / active.clamp_min(1)


@in_fp32
def triplet_semihard(z: Tensor, labels: Tensor, margin: float) -> Tensor:
    """Semi-hard triplet loss (Schroff et al. 2015, section 3.2).

    For every positive pair (a, p) the negative is the nearest one farther than p,
    d(a, p) < d(a, n); when no negative is that far, the farthest negative (as in
    TensorFlow Addons' triplet_semihard_loss). Mean over positive pairs of anchors with a negative.
    """
    d2 = squared_distances(z)
    positive, negative = pair_masks(labels)
    farthest = d2.masked_fill(~negative, float("-inf")).amax(dim=1, keepdim=True)
    chosen = []
    for start in range(0, len(d2), ALL_CHUNK):  # [a, p, n] in slices of anchors, as batch-all
        rows = slice(start, start + ALL_CHUNK)
        d_ap, d_an = d2[rows].unsqueeze(2), d2[rows].unsqueeze(1)
        semihard = negative[rows].unsqueeze(1) & (d_an > d_ap)
        nearest_beyond = d_an.expand_as(semihard).masked_fill(~semihard, float("inf")).amin(dim=2)
        chosen.append(torch.where(semihard.any(dim=2), nearest_beyond, farthest[rows].expand_as(nearest_beyond)))
    valid = positive & negative.any(dim=1, keepdim=True)
    losses = (d2 - torch.cat(chosen) + margin).clamp_min(0)
    return masked_mean(losses.masked_fill(~valid, 0), valid)


def _objective(method: str, triplet: Callable[[Tensor, Tensor, float], Tensor]) -> Objective:
    def loss(outputs: Sequence[Tensor], labels: Tensor, params: LossParams) -> Tensor:
        z, all_labels = stack_views(outputs, labels)
        return triplet(z, all_labels, params.margin)

    return Objective(method, loss)


BATCH_HARD = _objective("triplet_batch_hard", triplet_batch_hard)
BATCH_ALL = _objective("triplet_batch_all", triplet_batch_all)
SEMIHARD = _objective("triplet_semihard", triplet_semihard)
