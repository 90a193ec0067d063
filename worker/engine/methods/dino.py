"""DINO (Caron et al. 2021): a student matches a momentum teacher's centred, sharpened output over multi-crops."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from contrastlab.core.spec import RunSpec

from ..losses.dino import dino, next_center
from ..models import Encoder
from .base import Method, Progress, Setting, StepOutput, ViewPlan, embedding_std, register
from .blocks import MLPConfig, cosine_schedule, mlp, momentum_copy, update_momentum


@dataclass(frozen=True)
class DINOConfig:
    projector: MLPConfig  # the head's MLP; its out_dim is the bottleneck before the last layer
    prototypes: int = 4096
    student_temperature: float = 0.1
    teacher_temperature: float = 0.04
    warmup_teacher_temperature: float = 0.04
    warmup_teacher_epochs: int = 30
    center_momentum: float = 0.9
    teacher_momentum: float = 0.996
    freeze_last_layer_epochs: int = 1

    def teacher_temperature_at(self, epoch: int) -> float:
        """The official schedule: linear from the warm-up value at epoch 1 to the final one at epoch W, then flat."""
        warmup = self.warmup_teacher_epochs
        if epoch > warmup:
            return self.teacher_temperature
        if warmup == 1:
            return self.warmup_teacher_temperature
        share = (epoch - 1) / (warmup - 1)
        return self.warmup_teacher_temperature + share * (self.teacher_temperature - self.warmup_teacher_temperature)


class NormedLinear(nn.Module):
    """A bias-free linear layer whose weight rows are L2-normalised in the forward: DINO's weight-normalised last
    layer with its norm fixed at 1 (norm_last_layer=True)."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_dim, in_dim))
        nn.init.trunc_normal_(self.weight, std=0.02)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, F.normalize(self.weight, dim=1))


class DINOHead(nn.Module):
    """MLP -> L2 normalisation -> weight-normalised linear layer to K outputs."""

    def __init__(self, in_dim: int, projector: MLPConfig, prototypes: int) -> None:
        super().__init__()
        self.mlp = mlp(in_dim, projector)
        self.last_layer = NormedLinear(projector.out_dim, prototypes)

    def forward(self, features: Tensor) -> Tensor:
        return self.last_layer(F.normalize(self.mlp(features), dim=-1))


class Center(nn.Module):
    """The teacher's centre [K], a buffer so a resumed run continues with it."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.value: Tensor
        self.register_buffer("value", torch.zeros(dim))


@register("dino")
class DINO(Method):
    """Student: encoder -> DINOHead on every crop; teacher: their momentum copies on the 2 global crops.

    After each step the teacher follows the student by EMA with tau on a cosine from teacher_momentum to 1
    (reported as `tau`), the centre by its own EMA of the teacher's mean output (all-reduced over ranks, so
    every rank holds the same centre). The teacher temperature warms up per epoch; the last layer is frozen
    for the first freeze_last_layer_epochs. The probes read the teacher, the network DINO evaluates.
    Multi-device: the loss is a mean over images, so DDP's gradient average is the global batch's; nothing
    is gathered but the centre.
    """

    target_passes = 1
    head: DINOHead

    def __init__(self, encoder: Encoder, setting: Setting, config: DINOConfig, views: ViewPlan) -> None:
        super().__init__(encoder, setting, views)
        self.head = DINOHead(encoder.feature_dim, config.projector, config.prototypes)
        self.teacher_encoder = momentum_copy(encoder)
        self.teacher_head = cast(DINOHead, momentum_copy(self.head))
        self.center = Center(config.prototypes)
        self.config = config
        self._batch_center: Tensor | None = None

    @classmethod
    def from_spec(cls, spec: RunSpec, encoder: Encoder, setting: Setting) -> Method:
        config = DINOConfig(MLPConfig.projector(spec), spec.dino_prototypes, spec.dino_student_temperature,
                            spec.dino_teacher_temperature, spec.dino_warmup_teacher_temperature,
                            spec.dino_warmup_teacher_epochs, spec.dino_center_momentum, spec.dino_teacher_momentum,
                            spec.dino_freeze_last_layer_epochs)
        return cls(encoder, setting, config, ViewPlan(2, spec.small_crops, spec.small_crop_scale_min))

    def forward(self, x: Tensor, small: Tensor | None = None) -> Any:
        student = self.head(self.encoder(x))
        if small is not None:  # another resolution: its own pass through the encoder
            student = torch.cat([student, self.head(self.encoder(small))])
        return student

    def training_step(self, outputs: Any, x: Tensor, small: Tensor | None, labels: Tensor,
                      progress: Progress) -> StepOutput:
        with torch.no_grad():
            teacher = self.teacher_head(self.teacher_encoder(x))
        batch = len(x) // self.views.global_views
        student, teacher = outputs.unflatten(0, (-1, batch)), teacher.unflatten(0, (-1, batch))
        temperature = self.config.teacher_temperature_at(progress.epoch)
        loss = dino(student, teacher, self.center.value, self.config.student_temperature, temperature)
        self._batch_center = self.all_reduce_mean(teacher.detach().float().mean(dim=(0, 1)))
        return StepOutput(loss, {"embedding_std": embedding_std(student[0])})

    def before_optimizer_step(self, progress: Progress) -> None:
        if progress.epoch <= self.config.freeze_last_layer_epochs:
            self.head.last_layer.weight.grad = None  # not trained: the optimiser skips a parameter without grad

    def after_optimizer_step(self, progress: Progress) -> dict[str, float]:
        tau = cosine_schedule(progress.step - 1, progress.total_steps, self.config.teacher_momentum, 1.0)
        update_momentum(self.encoder, self.teacher_encoder, tau)
        update_momentum(self.head, self.teacher_head, tau)
        if self._batch_center is not None:
            self.center.value.copy_(next_center(self.center.value, self._batch_center, self.config.center_momentum))
            self._batch_center = None
        return {"tau": tau}

    def probe_encoder(self) -> nn.Module:
        return self.teacher_encoder

    def probe_head(self) -> nn.Module | None:
        return self.teacher_head.mlp  # the bottleneck before the prototypes' softmax
