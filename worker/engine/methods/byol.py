"""BYOL: Grill et al. 2020, "Bootstrap Your Own Latent: A New Approach to Self-Supervised Learning"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from contrastlab.core.spec import RunSpec

from ..losses.cosine import negative_cosine
from ..models import Encoder
from .base import Method, Progress, Setting, StepOutput, ViewPlan, embedding_std, register
from .blocks import MLPConfig, cosine_schedule, mlp, momentum_copy, update_momentum


@dataclass(frozen=True)
class BYOLConfig:
    projector: MLPConfig
    predictor: MLPConfig
    momentum: float  # tau at the first step; it rises to 1 along a cosine


@register("byol")
class BYOL(Method):
    """An online network (encoder, projector, predictor) predicts, for each of two views, the projection of the
    other view by a target network (encoder, projector) that follows the online one by EMA (sections 3.1-3.2).
    Loss: the symmetric negative cosine of prediction and stop-gradient target (2 - 2 cos in the paper, the same
    gradients up to a factor 2). The probe reads the online encoder, as the paper's evaluation does.

    Multi-device: nothing is gathered; each rank's loss is the mean over its rows, DDP averages the gradients.
    """

    target_passes = 1

    def __init__(self, encoder: Encoder, setting: Setting, config: BYOLConfig) -> None:
        super().__init__(encoder, setting, ViewPlan(global_views=2))
        self.head = mlp(encoder.feature_dim, config.projector)
        self.predictor = mlp(config.projector.out_dim, config.predictor)
        self.target_encoder = momentum_copy(encoder)
        self.target_head = momentum_copy(self.head)
        self.momentum = config.momentum

    @classmethod
    def from_spec(cls, spec: RunSpec, encoder: Encoder, setting: Setting) -> Method:
        predictor = MLPConfig(2, spec.predictor_hidden_dim, spec.projection_dim)
        return cls(encoder, setting, BYOLConfig(MLPConfig.projector(spec), predictor, spec.byol_momentum))

    def forward(self, x: Tensor, small: Tensor | None = None) -> Any:
        z = self.head(self.encoder(x))
        return z, self.predictor(z)

    def training_step(self, outputs: Any, x: Tensor, small: Tensor | None, labels: Tensor,
                      progress: Progress) -> StepOutput:
        z, p = outputs
        with torch.no_grad():
            t1, t2 = self.target_head(self.target_encoder(x)).chunk(2)
        p1, p2 = p.chunk(2)
        loss = (negative_cosine(p1, t2) + negative_cosine(p2, t1)) / 2
        return StepOutput(loss, {"embedding_std": embedding_std(z.chunk(2)[0])})

    def after_optimizer_step(self, progress: Progress) -> dict[str, float]:
        tau = cosine_schedule(progress.step - 1, progress.total_steps, self.momentum, 1.0)
        update_momentum(self.encoder, self.target_encoder, tau)
        update_momentum(self.head, self.target_head, tau)
        return {"tau": tau}
