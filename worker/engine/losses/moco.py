"""MoCo's InfoNCE: each query against its key, with the other keys (v3) or a queue (v2) as negatives."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import in_fp32


@in_fp32
def info_nce(query: Tensor, key: Tensor, temperature: float, queue: Tensor | None = None) -> Tensor:
    """Cross-entropy of each query's positive key among its negatives, cosine similarity / temperature.

    He et al. (2020), "Momentum Contrast", eq. (1): with a queue [Q, D] of past keys, query[i]'s
    logits are (q_i . k_i, q_i . queue_j ...) / temperature and its label is 0 (MoCo v2: Chen et al.
    2020, "Improved Baselines", temperature 0.2). Without one, the negatives are the other keys of the
    batch: logits q @ k^T / temperature, label i (Chen, Xie, He 2021, "An Empirical Study of Training
    Self-Supervised Vision Transformers" (MoCo v3), Algorithm 1, whose `ctr` also multiplies by 2 * tau
    so the gradient scale does not depend on the temperature; this function does not). Queries, keys
    and queue rows are L2-normalised here. The keys keep their gradient (NNCLR's keys need it); MoCo's
    come from the momentum encoder under no_grad.
    """
    query, key = F.normalize(query, dim=1), F.normalize(key, dim=1)
    if queue is None:
        logits = query @ key.T / temperature
        labels = torch.arange(len(query), device=query.device)
    else:
        positive = (query * key).sum(dim=1, keepdim=True)
        negative = query @ F.normalize(queue, dim=1).T
        logits = torch.cat([positive, negative], dim=1) / temperature
        labels = torch.zeros(len(query), dtype=torch.long, device=query.device)
    return F.cross_entropy(logits, labels)


def symmetric_info_nce(q1: Tensor, q2: Tensor, k1: Tensor, k2: Tensor, temperature: float,
                       queue: Tensor | None = None) -> Tensor:
    """(info_nce(q1, k2) + info_nce(q2, k1)) / 2: each view's query against the other view's key.

    MoCo v3 sums the two terms (and scales each by 2 * tau): its loss is 4 * tau times this one.
    """
    return (info_nce(q1, k2, temperature, queue) + info_nce(q2, k1, temperature, queue)) / 2
