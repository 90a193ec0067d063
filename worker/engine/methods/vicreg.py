"""VICReg (Bardes, Ponce, LeCun 2022): two views through encoder and expander, variance-invariance-covariance."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor

from contrastlab.core.spec import RunSpec

from ..losses.vicreg import vicreg
from ..models import Encoder
from .base import Method, Progress, Setting, StepOutput, ViewPlan, embedding_std, register
from .blocks import MLPConfig, mlp


@dataclass(frozen=True)
class VICRegConfig:
    projector: MLPConfig
    invariance_weight: float = 25.0
    variance_weight: float = 25.0
    covariance_weight: float = 1.0


@register("vicreg")
class VICReg(Method):
    """Encoder -> MLP expander on two views; the loss of worker/engine/losses/vicreg.py.

    Multi-device: the embeddings are gathered (gradient kept), so the variance and covariance terms are the
    global batch's, as the official code's FullGatherLayer.
    """

    def __init__(self, encoder: Encoder, setting: Setting, config: VICRegConfig) -> None:
        super().__init__(encoder, setting, ViewPlan(global_views=2))
        self.head = mlp(encoder.feature_dim, config.projector)
        self.config = config

    @classmethod
    def from_spec(cls, spec: RunSpec, encoder: Encoder, setting: Setting) -> Method:
        return cls(encoder, setting, VICRegConfig(MLPConfig.projector(spec), spec.vicreg_invariance_weight,
                                                  spec.vicreg_variance_weight, spec.vicreg_covariance_weight))

    def forward(self, x: Tensor, small: Tensor | None = None) -> Any:
        return self.head(self.encoder(x))

    def training_step(self, outputs: Any, x: Tensor, small: Tensor | None, labels: Tensor,
                      progress: Progress) -> StepOutput:
        z1, z2 = self.gather(outputs, 2)
        c = self.config
        loss = vicreg(z1, z2, c.invariance_weight, c.variance_weight, c.covariance_weight)
        return StepOutput(loss, {"embedding_std": embedding_std(z1)})
