"""The resumable checkpoint written after every pretraining epoch, and reading it back.

Plain tensors, dicts and numbers only, so torch.load(weights_only=True) reads it: a
checkpoint is never unpickled into arbitrary objects.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import TrainingFailed

RESUME_NAME = "resume.pt"
RESUME_FORMAT = "contrastlab-resume-v1"


@dataclass
class TrainState:
    """Where training stands after an epoch: enough to continue as if never stopped."""

    epoch: int
    step: int
    last_loss: float


def save_resume(path: Path, modules: dict[str, nn.Module], optimizer: torch.optim.Optimizer,
                generator: torch.Generator, state: TrainState) -> None:
    """torch.save beside the target, then os.replace: a reader sees the old file or the new one, never half."""
    payload: dict[str, Any] = {
        "format": RESUME_FORMAT,
        **{name: module.state_dict() for name, module in modules.items()},
        "optimizer": optimizer.state_dict(),
        "generator": generator.get_state(),
        "epoch": state.epoch,
        "step": state.step,
        "last_loss": state.last_loss,
    }
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_resume(path: Path, modules: dict[str, nn.Module], optimizer: torch.optim.Optimizer,
                generator: torch.Generator) -> TrainState:
    """Restore modules, optimiser and generator from a checkpoint; returns the epoch it ended."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError) as error:
        raise TrainingFailed(f"cannot resume from {path}: {error}") from error
    if not isinstance(payload, dict) or payload.get("format") != RESUME_FORMAT:
        raise TrainingFailed(f"cannot resume from {path}: not a {RESUME_FORMAT} checkpoint")
    try:
        for name, module in modules.items():
            module.load_state_dict(payload[name])
        optimizer.load_state_dict(payload["optimizer"])
    except (KeyError, RuntimeError, ValueError) as error:
        raise TrainingFailed(f"cannot resume from {path}: it was written for another spec ({error})") from error
    generator.set_state(payload["generator"])
    loss = payload.get("last_loss")
    return TrainState(int(payload["epoch"]), int(payload["step"]),
                      float(loss) if loss is not None else math.nan)
