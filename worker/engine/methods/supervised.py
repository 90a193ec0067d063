"""The supervised baseline: a linear classifier on the encoder, cross-entropy, one view per image."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from contrastlab.core.catalog import Phase
from contrastlab.core.spec import RunSpec

from ..losses import LOSSES
from ..losses.base import LossParams
from ..models import Encoder
from .base import Method, Progress, Setting, StepOutput, ViewPlan, register


@register("supervised")
class Supervised(Method):
    """Encoder -> Linear classifier; the epoch's train_acc counts the batch's correct predictions.

    Multi-device: the logits and labels are gathered, so the loss is the global batch's mean.
    """

    phase = Phase.SUPERVISED
    head_format = "contrastlab-classifier-v1"

    def __init__(self, encoder: Encoder, setting: Setting) -> None:
        super().__init__(encoder, setting, ViewPlan(global_views=1))
        self.head = nn.Linear(encoder.feature_dim, setting.num_classes)
        self.params = LossParams()

    @classmethod
    def from_spec(cls, spec: RunSpec, encoder: Encoder, setting: Setting) -> Method:
        return cls(encoder, setting)

    def forward(self, x: Tensor, small: Tensor | None = None) -> Any:
        return self.head(self.encoder(x))

    def training_step(self, outputs: Any, x: Tensor, small: Tensor | None, labels: Tensor,
                      progress: Progress) -> StepOutput:
        logits = self.gather(outputs, 1)
        loss = LOSSES[self.name].loss(logits, labels, self.params)
        return StepOutput(loss, {}, (logits[0].detach().argmax(dim=1) == labels).sum())

    def probe_head(self) -> nn.Module | None:
        return None  # logits are a classifier's output, not a representation to probe
