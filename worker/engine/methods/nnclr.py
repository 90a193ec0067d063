"""NNCLR (Dwibedi et al. 2021): a view's positive is the nearest neighbour of the other view in a support set."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from contrastlab.core.spec import RunSpec

from ..losses.nnclr import nnclr
from ..models import Encoder
from .base import Method, Progress, Setting, StepOutput, ViewPlan, embedding_std, register
from .blocks import FeatureQueue, MLPConfig, mlp


@dataclass(frozen=True)
class NNCLRConfig:
    projector: MLPConfig
    predictor: MLPConfig
    support_size: int = 98_304
    temperature: float = 0.1


@register("nnclr")
class NNCLR(Method):
    """Encoder -> MLP projector (z) -> MLP predictor (p) on two views; the loss of worker/engine/losses/nnclr.py
    with the support set, a queue of past projections of the first view.

    The support set is read before this batch joins it; while it is still empty (the first step) a view's
    neighbour is its own projection. Multi-device: projections and predictions are gathered (gradient kept), so
    the negatives are the global batch's, and every rank pushes the same global batch into its support set.
    """

    def __init__(self, encoder: Encoder, setting: Setting, config: NNCLRConfig) -> None:
        super().__init__(encoder, setting, ViewPlan(global_views=2))
        self.head = mlp(encoder.feature_dim, config.projector)
        self.predictor = mlp(config.projector.out_dim, config.predictor)
        self.support = FeatureQueue(config.support_size, config.projector.out_dim)
        self.config = config
        self._pending: Tensor | None = None

    @classmethod
    def from_spec(cls, spec: RunSpec, encoder: Encoder, setting: Setting) -> Method:
        projector = MLPConfig.projector(spec)
        predictor = MLPConfig(2, spec.projection_hidden_dim, spec.projection_dim)
        return cls(encoder, setting, NNCLRConfig(projector, predictor, spec.nnclr_support_size,
                                                 spec.nnclr_temperature))

    def forward(self, x: Tensor, small: Tensor | None = None) -> Any:
        z = self.head(self.encoder(x))
        return z, self.predictor(z)

    def training_step(self, outputs: Any, x: Tensor, small: Tensor | None, labels: Tensor,
                      progress: Progress) -> StepOutput:
        z1, z2 = self.gather(outputs[0], 2)
        p1, p2 = self.gather(outputs[1], 2)
        with torch.no_grad():
            support = self.support.contents() if int(self.support.count) else z1.detach().float()
        loss = nnclr(z1, z2, p1, p2, support, self.config.temperature)
        self._pending = z1.detach()
        return StepOutput(loss, {"embedding_std": embedding_std(z1)})

    def after_optimizer_step(self, progress: Progress) -> dict[str, float]:
        if self._pending is not None:
            self.support.push(self._pending)
            self._pending = None
        return {}
