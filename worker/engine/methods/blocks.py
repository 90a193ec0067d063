"""Building blocks the methods share (lightly's `modules` and `utils`): MLP heads, momentum copies with their
EMA and cosine schedule (worker/engine/ema.py), a queue of past embeddings (worker/engine/queue.py)."""

from __future__ import annotations

import copy

from torch import nn

from ..ema import cosine_schedule, update_momentum
from ..models import MLPConfig, mlp
from ..queue import FeatureQueue


def momentum_copy(module: nn.Module) -> nn.Module:
    """A copy of module to follow it by EMA (a target / teacher network): same weights, no gradients."""
    target = copy.deepcopy(module)
    for parameter in target.parameters():
        parameter.requires_grad_(False)
    return target


__all__ = ["FeatureQueue", "MLPConfig", "cosine_schedule", "mlp", "momentum_copy", "update_momentum"]
