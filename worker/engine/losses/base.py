"""What the training loop needs to know about a method, and the helpers the pair-based losses share."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, cast

import torch
import torch.nn.functional as F
from torch import Tensor

from contrastlab.core.catalog import METHODS
from contrastlab.core.spec import RunSpec

LossFunction = TypeVar("LossFunction", bound=Callable[..., Tensor])


@dataclass(frozen=True)
class LossParams:
    """The numbers the objectives below read (a RunSpec has the same attributes and may stand in for it)."""

    temperature: float = 0.5
    margin: float = 0.5
    npairs_l2_reg: float = 0.002

    @classmethod
    def from_spec(cls, spec: RunSpec) -> LossParams:
        return cls(spec.temperature, spec.margin, spec.npairs_l2_reg)


@dataclass(frozen=True)
class Objective:
    """A loss on the head outputs of a method (worker/engine/methods/head_loss.py calls it), with the
    catalogue's facts about the method (views, head)."""

    method: str  # its name in the catalogue
    loss: Callable[[Sequence[Tensor], Tensor, LossParams], Tensor]  # (head output per view, labels, params) -> scalar

    @property
    def views(self) -> int:
        """Augmented views per image in a batch."""
        return METHODS[self.method].views

    @property
    def head(self) -> Literal["projection", "classifier"]:
        return METHODS[self.method].head


def in_fp32(loss: LossFunction) -> LossFunction:
    """Run a loss in float32 whether or not its caller is under autocast: its value is the fp32 one.

    Casting the inputs is not enough: autocast casts a matmul's inputs back to bf16, and bf16 similarities
    move SimCLR's loss at temperature 0.01 and change which negatives the triplet miners pick. So floating
    tensor arguments become float32 and the body runs with autocast off on their device.
    """

    @functools.wraps(loss)
    def fp32_loss(*args: Any, **kwargs: Any) -> Tensor:
        args = tuple(_to_fp32(value) for value in args)
        kwargs = {name: _to_fp32(value) for name, value in kwargs.items()}
        devices = {value.device.type for value in (*args, *kwargs.values()) if isinstance(value, Tensor)}
        with contextlib.ExitStack() as stack:
            for device_type in devices:
                stack.enter_context(torch.autocast(device_type=device_type, enabled=False))
            return loss(*args, **kwargs)

    return cast(LossFunction, fp32_loss)


def _to_fp32(value: Any) -> Any:
    """Floating tensors to float32 (differentiably); integer labels and plain numbers unchanged."""
    if isinstance(value, Tensor) and value.is_floating_point():
        return value.float()
    return value


def stack_views(outputs: Sequence[Tensor], labels: Tensor) -> tuple[Tensor, Tensor]:
    """All views as one batch [V*B, D] with their labels repeated: every view is an anchor."""
    return torch.cat(list(outputs)), labels.repeat(len(outputs))


def pair_masks(labels: Tensor) -> tuple[Tensor, Tensor]:
    """(positive, negative) boolean [N, N] masks: same label but not the anchor itself; other label."""
    same = labels.view(-1, 1) == labels.view(1, -1)
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same


def squared_distances(z: Tensor) -> Tensor:
    """Squared Euclidean distances [N, N] of the L2-normalised rows: 2 - 2 cos, clamped at 0."""
    z = F.normalize(z, dim=1)
    return (2 - 2 * z @ z.T).clamp_min(0)


def masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of values where mask is true; 0 (with a gradient path) when nothing is selected."""
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp_min(1)
