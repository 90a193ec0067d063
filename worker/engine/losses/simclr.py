"""SimCLR's NT-Xent loss."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import LossParams, Objective, in_fp32


@in_fp32
def nt_xent(z1: Tensor, z2: Tensor, temperature: float) -> Tensor:
    """Normalised temperature-scaled cross-entropy (NT-Xent).

    Chen, Kornblith, Norouzi, Hinton (2020), "A Simple Framework for Contrastive
    Learning of Visual Representations", eq. (1). z1[i] and z2[i] are two views of
    image i. Each of the 2N views is an anchor; its positive is the other view of
    the same image, and the softmax of cosine similarity / temperature runs over
    the 2N - 1 views that are not the anchor. The loss is the mean over all 2N anchors.
    """
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = z @ z.T / temperature
    self_mask = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(self_mask, float("-inf"))
    positives = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(logits, positives)


def _simclr_loss(outputs: Sequence[Tensor], labels: Tensor, params: LossParams) -> Tensor:
    return nt_xent(outputs[0], outputs[1], params.temperature)


OBJECTIVE = Objective("simclr", _simclr_loss)
