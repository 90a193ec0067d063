"""Target networks: the exponential moving average of the online network, and the cosine schedule of its tau."""

from __future__ import annotations

import math

import torch
from torch import nn


@torch.no_grad()
def update_momentum(model: nn.Module, target: nn.Module, m: float) -> None:
    """target <- m * target + (1 - m) * model, parameter by parameter (BYOL eq. (1), MoCo eq. (2)).

    Parameters only, as lightly's `update_momentum` and the papers: a target's BatchNorm statistics are
    its own, kept by its own forward passes. The two modules must have the same architecture.
    """
    for target_parameter, parameter in zip(target.parameters(), model.parameters(), strict=True):
        target_parameter.mul_(m).add_(parameter.detach(), alpha=1 - m)


def cosine_schedule(step: int, max_steps: int, start: float, end: float) -> float:
    """start at step 0 to end at step max_steps along half a cosine; end after it.

    BYOL (Grill et al. 2020, section 3.2): tau = 1 - (1 - tau_base) (cos(pi k / K) + 1) / 2 at step k of
    K, so start = tau_base and end = 1. The value for step k is the one used by the update after step
    k. (lightly's `cosine_schedule` reaches `end` one step sooner, at step max_steps - 1: ours equals
    its value for max_steps + 1.) DINO uses it for the teacher's momentum as well (0.996 to 1).
    """
    if step < 0 or max_steps < 0:
        raise ValueError(f"step {step} and max_steps {max_steps} must not be negative")
    if max_steps == 0 or step >= max_steps:
        return end
    return end - (end - start) * (math.cos(math.pi * step / max_steps) + 1) / 2
