"""SimSiam: Chen and He 2021, "Exploring Simple Siamese Representation Learning"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor

from contrastlab.core.spec import RunSpec

from ..losses.cosine import negative_cosine
from ..models import Encoder
from .base import Method, Progress, Setting, StepOutput, ViewPlan, embedding_std, register
from .blocks import MLPConfig, mlp


@dataclass(frozen=True)
class SimSiamConfig:
    projector: MLPConfig
    predictor: MLPConfig


@register("simsiam")
class SimSiam(Method):
    """One network (encoder, projector ending in BatchNorm) on two views; a bottleneck predictor of each view's
    projection regresses the other's under stop-gradient (Algorithm 1): no target network, no negatives. The
    paper keeps the predictor's learning rate fixed; here it follows the schedule like every other weight.

    Multi-device: nothing is gathered; each rank's loss is the mean over its rows, DDP averages the gradients.
    """

    def __init__(self, encoder: Encoder, setting: Setting, config: SimSiamConfig) -> None:
        super().__init__(encoder, setting, ViewPlan(global_views=2))
        self.head = mlp(encoder.feature_dim, config.projector, last_batchnorm=True)
        self.predictor = mlp(config.projector.out_dim, config.predictor)

    @classmethod
    def from_spec(cls, spec: RunSpec, encoder: Encoder, setting: Setting) -> Method:
        predictor = MLPConfig(2, spec.predictor_hidden_dim, spec.projection_dim)
        return cls(encoder, setting, SimSiamConfig(MLPConfig.projector(spec), predictor))

    def forward(self, x: Tensor, small: Tensor | None = None) -> Any:
        z = self.head(self.encoder(x))
        return z, self.predictor(z)

    def training_step(self, outputs: Any, x: Tensor, small: Tensor | None, labels: Tensor,
                      progress: Progress) -> StepOutput:
        z, p = outputs
        z1, z2 = z.chunk(2)
        p1, p2 = p.chunk(2)
        loss = (negative_cosine(p1, z2) + negative_cosine(p2, z1)) / 2  # the targets' stop-gradient is inside
        return StepOutput(loss, {"embedding_std": embedding_std(z1)})
