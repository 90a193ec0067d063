"""Sohn's multi-class N-pair loss."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .base import LossParams, Objective, in_fp32


@in_fp32
def n_pairs(anchors: Tensor, positives: Tensor, labels: Tensor, l2_reg: float) -> Tensor:
    """Multi-class N-pair loss.

    Sohn (2016), "Improved Deep Metric Learning with Multi-class N-pair Loss Objective",
    eq. (6) with the embedding-norm penalty of section 3.2.2: for anchor f_i and its positive
    f_i+, log(1 + sum_j exp(f_i.f_j+ - f_i.f_i+)) over the other pairs j, on raw inner products.
    The paper's batches hold one pair per class; here a batch may hold several images of a
    class, so positives of the anchor's own class are left out of its negatives. The penalty is
    l2_reg times the mean squared norm of all embeddings.
    """
    logits = anchors @ positives.T
    same_class = labels.view(-1, 1) == labels.view(1, -1)
    own = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    # log(1 + sum exp(s_j - s_i)) is the cross-entropy of the softmax over {i} and the negatives.
    logits = logits.masked_fill(same_class & ~own, float("-inf"))
    targets = torch.arange(len(labels), device=labels.device)
    loss = torch.nn.functional.cross_entropy(logits, targets)
    penalty = (anchors.pow(2).sum(dim=1).mean() + positives.pow(2).sum(dim=1).mean()) / 2
    return loss + l2_reg * penalty


def _npairs_loss(outputs: Sequence[Tensor], labels: Tensor, params: LossParams) -> Tensor:
    return n_pairs(outputs[0], outputs[1], labels, params.npairs_l2_reg)


OBJECTIVE = Objective("npairs", _npairs_loss)
