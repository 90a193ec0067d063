"""Supervised contrastive loss (SupCon)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import LossParams, Objective, in_fp32, masked_mean, pair_masks, stack_views


@in_fp32
def supcon(z: Tensor, labels: Tensor, temperature: float) -> Tensor:
    """Supervised contrastive loss, L^sup_out.

    Khosla et al. (2020), "Supervised Contrastive Learning", eq. (2). z holds every view
    [N, D] and labels[i] its class. Each view is an anchor; its positives P(i) are the
    other views of its class, and the softmax of cosine similarity / temperature runs over
    all views but the anchor. The loss is -mean over P(i) of the log-probabilities, averaged
    over the anchors that have a positive (an anchor alone in its class adds nothing, not NaN).
    """
    z = F.normalize(z, dim=1)
    logits = z @ z.T / temperature
    positive, _ = pair_masks(labels)
    self_mask = torch.eye(len(z), dtype=torch.bool, device=z.device)
    log_prob = logits - torch.logsumexp(logits.masked_fill(self_mask, float("-inf")), dim=1, keepdim=True)
    counts = positive.sum(dim=1)
    mean_log_prob = log_prob.masked_fill(~positive, 0).sum(dim=1) / counts.clamp_min(1)
    return masked_mean(-mean_log_prob, counts > 0)


def _supcon_loss(outputs: Sequence[Tensor], labels: Tensor, params: LossParams) -> Tensor:
    z, all_labels = stack_views(outputs, labels)
    return supcon(z, all_labels, params.temperature)


OBJECTIVE = Objective("supcon", _supcon_loss)
