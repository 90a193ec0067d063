"""Barlow Twins (Zbontar et al. 2021): the two views' cross-correlation matrix pushed to the identity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor

from contrastlab.core.spec import RunSpec

from ..losses.barlow_twins import barlow_twins
from ..models import Encoder
from .base import Method, Progress, Setting, StepOutput, ViewPlan, embedding_std, register
from .blocks import MLPConfig, mlp


@dataclass(frozen=True)
class BarlowTwinsConfig:
    projector: MLPConfig
    redundancy_weight: float = 5e-3


@register("barlow_twins")
class BarlowTwins(Method):
    """Encoder -> MLP projector on two views; the loss of worker/engine/losses/barlow_twins.py.

    Multi-device: the projections are gathered (gradient kept), so the batch standardisation and the
    cross-correlation are the global batch's, as the official code's all-reduced matrix.
    """

    def __init__(self, encoder: Encoder, setting: Setting, config: BarlowTwinsConfig) -> None:
        super().__init__(encoder, setting, ViewPlan(global_views=2))
        self.head = mlp(encoder.feature_dim, config.projector)
        self.config = config

    @classmethod
    def from_spec(cls, spec: RunSpec, encoder: Encoder, setting: Setting) -> Method:
        return cls(encoder, setting, BarlowTwinsConfig(MLPConfig.projector(spec), spec.barlow_lambda))

    def forward(self, x: Tensor, small: Tensor | None = None) -> Any:
        return self.head(self.encoder(x))

    def training_step(self, outputs: Any, x: Tensor, small: Tensor | None, labels: Tensor,
                      progress: Progress) -> StepOutput:
        z1, z2 = self.gather(outputs, 2)
        loss = barlow_twins(z1, z2, self.config.redundancy_weight)
        return StepOutput(loss, {"embedding_std": embedding_std(z1)})
