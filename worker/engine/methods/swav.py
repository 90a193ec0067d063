"""SwAV (Caron et al. 2020): predict one crop's Sinkhorn-Knopp cluster codes from the other crops' scores."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from contrastlab.core.spec import RunSpec

from ..losses.swav import swav
from ..models import Encoder
from .base import Method, Progress, Setting, StepOutput, ViewPlan, embedding_std, register
from .blocks import FeatureQueue, MLPConfig, mlp


@dataclass(frozen=True)
class SwAVConfig:
    projector: MLPConfig
    prototypes: int = 3000
    temperature: float = 0.1
    epsilon: float = 0.05
    sinkhorn_iterations: int = 3
    freeze_prototypes_epochs: int = 1
    queue_length: int = 0


class Queues(nn.Module):
    """One queue of past (global-batch) embeddings per large crop (SwAV's queue, for small batches)."""

    def __init__(self, crops: int, length: int, dim: int) -> None:
        super().__init__()
        self.crops = nn.ModuleList(FeatureQueue(length, dim) for _ in range(crops))

    def each(self) -> list[FeatureQueue]:
        return [cast(FeatureQueue, queue) for queue in self.crops]

    def full(self) -> bool:
        return all(int(queue.count) == queue.size for queue in self.each())


@register("swav")
class SwAV(Method):
    """Encoder -> MLP projector -> L2 normalisation -> prototypes (a bias-free linear layer whose rows are
    L2-normalised after every step) on 2 large and N small crops; the loss of worker/engine/losses/swav.py.

    The prototypes are frozen for the first freeze_prototypes_epochs. With queue_length, each large crop's
    embeddings of past batches join its Sinkhorn batch once the queue is full. Multi-device: the scores are
    gathered (gradient kept), so the codes are equipartitioned over the global batch (the official code
    all-reduces Sinkhorn's sums instead) and the loss is the global batch's.
    """

    def __init__(self, encoder: Encoder, setting: Setting, config: SwAVConfig, views: ViewPlan) -> None:
        super().__init__(encoder, setting, views)
        self.head = mlp(encoder.feature_dim, config.projector)
        self.prototypes = nn.Linear(config.projector.out_dim, config.prototypes, bias=False)
        self.normalize_prototypes()
        self.queues = Queues(views.global_views, config.queue_length, config.projector.out_dim) \
            if config.queue_length else None
        self.config = config
        self._pending: Tensor | None = None

    @classmethod
    def from_spec(cls, spec: RunSpec, encoder: Encoder, setting: Setting) -> Method:
        config = SwAVConfig(MLPConfig.projector(spec), spec.swav_prototypes, spec.swav_temperature, spec.swav_epsilon,
                            spec.swav_sinkhorn_iterations, spec.swav_freeze_prototypes_epochs, spec.swav_queue_length)
        return cls(encoder, setting, config, ViewPlan(2, spec.small_crops, spec.small_crop_scale_min))

    @torch.no_grad()
    def normalize_prototypes(self) -> None:
        self.prototypes.weight.copy_(F.normalize(self.prototypes.weight, dim=1))

    def forward(self, x: Tensor, small: Tensor | None = None) -> Any:
        z = F.normalize(self.head(self.encoder(x)), dim=1)
        scores = self.prototypes(z)
        if small is None:
            return z, scores, None
        return z, scores, self.prototypes(F.normalize(self.head(self.encoder(small)), dim=1))

    def training_step(self, outputs: Any, x: Tensor, small: Tensor | None, labels: Tensor,
                      progress: Progress) -> StepOutput:
        z, scores, small_scores = outputs
        large = self.views.global_views
        crops = self.gather(scores, large)
        if small_scores is not None:
            crops += self.gather(small_scores, self.views.small_crops)
        queued = None
        if self.queues is not None:
            if self.queues.full():
                with torch.no_grad():
                    queued = torch.stack([self.prototypes(queue.contents()) for queue in self.queues.each()])
            self._pending = torch.stack(self.gather(z.detach(), large))
        c = self.config
        loss = swav(torch.stack(crops), large, c.temperature, c.epsilon, c.sinkhorn_iterations, queued)
        return StepOutput(loss, {"embedding_std": embedding_std(crops[0])})

    def frozen(self, progress: Progress) -> bool:
        return progress.epoch <= self.config.freeze_prototypes_epochs

    def before_optimizer_step(self, progress: Progress) -> None:
        if self.frozen(progress):
            self.prototypes.weight.grad = None  # not trained: the optimiser skips a parameter without grad

    def after_optimizer_step(self, progress: Progress) -> dict[str, float]:
        if not self.frozen(progress):  # frozen ones are still unit rows, bit for bit
            self.normalize_prototypes()
        if self.queues is not None and self._pending is not None:
            for queue, embeddings in zip(self.queues.each(), self._pending, strict=True):
                queue.push(embeddings)
            self._pending = None
        return {}
