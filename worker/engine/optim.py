"""Optimisers and the per-step learning-rate schedule."""

from __future__ import annotations

import math

import torch
from torch import nn

from worker.spec import RunSpec


def build_optimizer(spec: RunSpec, modules: list[nn.Module]) -> torch.optim.Optimizer:
    """The spec's optimiser over every parameter; biases and norm scales are not decayed."""
    params = [p for module in modules for p in module.parameters() if p.requires_grad]
    # Decaying BatchNorm scales and biases only shrinks them towards zero; it regularises nothing useful.
    groups = [
        {"params": [p for p in params if p.ndim > 1], "weight_decay": spec.weight_decay},
        {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0},
    ]
    if spec.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=spec.lr, momentum=spec.momentum, nesterov=False)
    if spec.optimizer == "adam":
        return torch.optim.Adam(groups, lr=spec.lr)
    if spec.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=spec.lr)
    raise ValueError(f"unknown optimizer {spec.optimizer!r}")


def lr_at(step: int, spec: RunSpec, steps_per_epoch: int) -> float:
    """Learning rate of optimiser step `step` (from 1): linear warm-up to the peak, then cosine or constant."""
    warmup = spec.warmup_epochs * steps_per_epoch
    if step <= warmup:
        return spec.lr * step / warmup
    if spec.schedule == "constant":
        return spec.lr
    total = spec.epochs * steps_per_epoch
    # The first step after warm-up runs at the peak; the last one just above zero, so no step is wasted.
    progress = (step - warmup - 1) / max(1, total - warmup)
    return spec.lr * 0.5 * (1 + math.cos(math.pi * progress))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> float:
    for group in optimizer.param_groups:
        group["lr"] = lr
    return lr
