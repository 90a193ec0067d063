"""MoCo v3: Chen, Xie and He 2021, "An Empirical Study of Training Self-Supervised Vision Transformers"; with
a queue of past keys, MoCo v2's negatives (Chen et al. 2020, "Improved Baselines with Momentum Contrastive
Learning")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from contrastlab.core.spec import RunSpec

from ..losses.moco import symmetric_info_nce
from ..models import Encoder
from .base import Method, Progress, Setting, StepOutput, ViewPlan, embedding_std, register
from .blocks import FeatureQueue, MLPConfig, cosine_schedule, mlp, momentum_copy, update_momentum


@dataclass(frozen=True)
class MoCoConfig:
    projector: MLPConfig
    predictor: MLPConfig
    temperature: float
    momentum: float  # tau at the first step; it rises to 1 along a cosine
    queue_size: int  # 0: MoCo v3 (the batch's other keys are the negatives)


@register("moco_v3")
class MoCoV3(Method):
    """Queries (encoder, projector ending in BatchNorm, predictor) of each view against the keys of the other
    view by a momentum encoder and projector (Algorithm 1); symmetric InfoNCE with the batch's other keys as
    negatives, or with a queue of past keys when queue_size > 0 (MoCo v2's negatives). The probe reads the
    online encoder.

    Multi-device: queries (with their gradients) and keys are gathered, so every rank's loss is the global
    batch's, negatives from every rank, as on one process; the queue receives the global batch's keys.
    """

    target_passes = 1

    def __init__(self, encoder: Encoder, setting: Setting, config: MoCoConfig) -> None:
        super().__init__(encoder, setting, ViewPlan(global_views=2))
        self.head = mlp(encoder.feature_dim, config.projector, last_batchnorm=True)
        self.predictor = mlp(config.projector.out_dim, config.predictor)
        self.target_encoder = momentum_copy(encoder)
        self.target_head = momentum_copy(self.head)
        if config.queue_size:
            self.queue = FeatureQueue(config.queue_size, config.projector.out_dim)
        self.config = config
        self._keys: Tensor | None = None  # this step's keys, pushed to the queue after the optimiser step

    @classmethod
    def from_spec(cls, spec: RunSpec, encoder: Encoder, setting: Setting) -> Method:
        predictor = MLPConfig(2, spec.predictor_hidden_dim, spec.projection_dim)
        return cls(encoder, setting, MoCoConfig(MLPConfig.projector(spec), predictor, spec.moco_temperature,
                                                spec.moco_momentum, spec.moco_queue_size))

    def forward(self, x: Tensor, small: Tensor | None = None) -> Any:
        return self.predictor(self.head(self.encoder(x)))

    def training_step(self, outputs: Any, x: Tensor, small: Tensor | None, labels: Tensor,
                      progress: Progress) -> StepOutput:
        q1, q2 = self.gather(outputs, 2)
        with torch.no_grad():
            k1, k2 = self.gather(self.target_head(self.target_encoder(x)), 2)
        queue = None
        if self.config.queue_size:
            # Until the first keys are in, the batch's own keys are the negatives.
            queue = self.queue.contents() if int(self.queue.count) else None
            self._keys = torch.cat([k1, k2])
        loss = symmetric_info_nce(q1, q2, k1, k2, self.config.temperature, queue)
        return StepOutput(loss, {"embedding_std": embedding_std(q1)})

    def after_optimizer_step(self, progress: Progress) -> dict[str, float]:
        tau = cosine_schedule(progress.step - 1, progress.total_steps, self.config.momentum, 1.0)
        update_momentum(self.encoder, self.target_encoder, tau)
        update_momentum(self.head, self.target_head, tau)
        if self._keys is not None:
            self.queue.push(self._keys)
            self._keys = None
        return {"tau": tau}
