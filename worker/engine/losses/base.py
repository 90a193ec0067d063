"""What the training loop needs to know about a method, and the helpers the pair-based losses share."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from contrastlab.core.catalog import METHODS
from contrastlab.core.spec import RunSpec


@dataclass(frozen=True)
class Objective:
    """A method as the loop sees it: the catalogue's facts about it (views, head) and the loss on the head outputs."""

    method: str  # its name in the catalogue
    loss: Callable[[Sequence[Tensor], Tensor, RunSpec], Tensor]  # (head output per view, labels, spec) -> scalar

    @property
    def views(self) -> int:
        """Augmented views per image in a batch."""
        return METHODS[self.method].views

    @property
    def head(self) -> Literal["projection", "classifier"]:
        return METHODS[self.method].head


def stack_views(outputs: Sequence[Tensor], labels: Tensor) -> tuple[Tensor, Tensor]:
    """All views as one float32 batch [V*B, D] with their labels repeated: every view is an anchor."""
    # float32 even under autocast: bf16 similarities lose the small differences the losses live on.
    return torch.cat(list(outputs)).float(), labels.repeat(len(outputs))


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
