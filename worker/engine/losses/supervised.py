"""The supervised baseline: the same encoder and augmentation, trained with labels."""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor

from .base import LossParams, Objective, in_fp32


@in_fp32
def cross_entropy(logits: Tensor, labels: Tensor) -> Tensor:
    """Softmax cross-entropy of a linear classifier on the encoder features, in float32."""
    return F.cross_entropy(logits, labels)


def _supervised_loss(outputs: Sequence[Tensor], labels: Tensor, params: LossParams) -> Tensor:
    return cross_entropy(outputs[0], labels)


OBJECTIVE = Objective("supervised", _supervised_loss)
