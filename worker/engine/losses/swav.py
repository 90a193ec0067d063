"""SwAV: swapped prediction of Sinkhorn-Knopp cluster codes, with multi-crop."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import in_fp32


@torch.no_grad()
@in_fp32
def sinkhorn(scores: Tensor, epsilon: float = 0.05, iterations: int = 3) -> Tensor:
    """Soft codes Q [B, K] for scores [B, K] (embedding . prototype), equipartitioned over the K prototypes.

    Caron et al. (2020), "Unsupervised Learning of Visual Features by Contrasting Cluster Assignments",
    eq. (3)-(5) and the official `distributed_sinkhorn`: Q = exp(scores / epsilon) scaled alternately so
    each prototype holds 1/K of the mass and each sample 1/B, for `iterations` rounds; each row of the
    result sums to 1. Computed in the log domain, where the reference takes exp(scores / epsilon)
    directly: at epsilon 0.01 a score of 0.9 is exp(90), past float32's range, and the codes become NaN.
    A multi-device caller gathers the scores of every device first (the equipartition is over the
    global batch) and keeps its own rows.
    """
    log_q = scores.T / epsilon
    n_prototypes, batch = log_q.shape
    log_q = log_q - torch.logsumexp(log_q.flatten(), dim=0)
    for _ in range(iterations):
        log_q = log_q - torch.logsumexp(log_q, dim=1, keepdim=True) - math.log(n_prototypes)
        log_q = log_q - torch.logsumexp(log_q, dim=0, keepdim=True) - math.log(batch)
    return torch.exp(log_q + math.log(batch)).T


@in_fp32
def swav(scores: Tensor, large_crops: int = 2, temperature: float = 0.1, epsilon: float = 0.05,
         iterations: int = 3, queue_scores: Tensor | None = None) -> Tensor:
    """Swapped prediction: each large crop's codes are predicted from every other crop, averaged.

    SwAV eq. (1)-(2) and the official multi-crop loop. scores [V, B, K] are the crops' scores against
    the (L2-normalised) prototypes, the `large_crops` high-resolution crops first. For each large crop
    i, codes q_i = sinkhorn(scores_i) (no gradient), optionally over the batch plus queue_scores[i]
    [Q, K] (the queue's stored embeddings of that crop against today's prototypes, then dropped); the
    loss for i is the mean over the other V - 1 crops v of -sum_k q_ik log softmax(scores_v / temperature)_k,
    averaged over the batch. The result is the mean over the large crops. Paper: temperature 0.1,
    epsilon 0.05, 3 iterations.
    """
    batch = scores.shape[1]
    log_probs = F.log_softmax(scores / temperature, dim=-1)
    total = scores.new_zeros(())
    for i in range(large_crops):
        assignable = scores[i] if queue_scores is None else torch.cat([scores[i], queue_scores[i]])
        codes = sinkhorn(assignable.detach(), epsilon, iterations)[:batch]
        others = [v for v in range(scores.shape[0]) if v != i]
        total = total + (-(codes * log_probs[others]).sum(dim=-1).mean(dim=-1)).mean()
    return total / large_crops
