"""Building blocks the methods share (lightly's `modules` and `utils`): MLP heads, momentum copies with their
EMA and cosine schedule, a queue of past embeddings."""

from __future__ import annotations

import copy
import math

import torch
from torch import Tensor, nn

from ..models import MLPConfig, mlp


def momentum_copy(module: nn.Module) -> nn.Module:
    """A copy of module to follow it by EMA (a target / teacher network): same weights, no gradients."""
    target = copy.deepcopy(module)
    for parameter in target.parameters():
        parameter.requires_grad_(False)
    return target


@torch.no_grad()
def update_momentum(model: nn.Module, target: nn.Module, m: float) -> None:
    """target <- m * target + (1 - m) * model, parameter by parameter (lightly.models.utils.update_momentum;
    Grill et al. 2020, BYOL, eq. 1). Buffers (BatchNorm's running statistics) are copied: the target's own
    running statistics come from its own forward passes in train mode, as in BYOL and MoCo v3's code."""
    for online, ema in zip(model.parameters(), target.parameters(), strict=True):
        ema.mul_(m).add_(online.detach(), alpha=1 - m)


def cosine_schedule(step: int, max_steps: int, start: float, end: float) -> float:
    """From start at step 0 to end at max_steps along half a cosine (lightly.models.utils.cosine_schedule;
    BYOL's tau = 1 - (1 - tau_base)(cos(pi k / K) + 1) / 2)."""
    if max_steps <= 1:
        return end
    return end - (end - start) * (math.cos(math.pi * min(step, max_steps) / max_steps) + 1) / 2


class Queue(nn.Module):
    """A first-in-first-out queue of the last `size` embeddings of dimension dim (MoCo's keys, NNCLR's support
    set, SwAV's queue), kept as buffers so a resumed run continues with the same queue. `filled` counts the
    rows written so far (up to size), so a method can use only the valid part at the start of training."""

    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        self.size = size
        self.rows: Tensor
        self.pointer: Tensor
        self.filled: Tensor
        self.register_buffer("rows", torch.zeros(size, dim))
        self.register_buffer("pointer", torch.zeros((), dtype=torch.long))
        self.register_buffer("filled", torch.zeros((), dtype=torch.long))

    def valid(self) -> Tensor:
        """The rows written so far (all of them once the queue is full)."""
        return self.rows[:int(self.filled)]

    @torch.no_grad()
    def push(self, batch: Tensor) -> None:
        """Write a batch [n, dim] (detached) after the last rows, wrapping around; the oldest rows go."""
        batch = batch.detach().to(self.rows.dtype)[-self.size:]
        n = len(batch)
        start = int(self.pointer)
        positions = (torch.arange(n, device=self.rows.device) + start) % self.size
        self.rows[positions] = batch
        self.pointer.fill_((start + n) % self.size)
        self.filled.fill_(min(self.size, int(self.filled) + n))


__all__ = ["MLPConfig", "Queue", "cosine_schedule", "mlp", "momentum_copy", "update_momentum"]
