"""What the training loop needs to know about a method."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from torch import Tensor

from worker.spec import RunSpec


@dataclass(frozen=True)
class Objective:
    """A method as the loop sees it: how many views, which head, and the loss on the head outputs."""

    views: int  # augmented views per image in a batch
    head: Literal["projection", "classifier"]
    loss: Callable[[Sequence[Tensor], Tensor, RunSpec], Tensor]  # (head output per view, labels, spec) -> scalar
