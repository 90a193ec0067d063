"""The methods that are a loss on the projection head's outputs: SimCLR, SupCon, Hadsell's contrastive loss,
N-pairs and the three triplet miners (worker/engine/losses/ holds each loss, LOSSES its objective).

Multi-device: the head outputs of every rank are gathered with their gradients, so each loss sees the global
batch's negatives and pairs, as on one process.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from contrastlab.core.spec import RunSpec

from ..losses import LOSSES
from ..losses.base import LossParams
from ..models import Encoder
from .base import Method, Progress, Setting, StepOutput, ViewPlan, embedding_std, register
from .blocks import MLPConfig, mlp


class HeadLoss(Method):
    """Encoder -> MLP projector on two views; the loss of LOSSES[name] on the gathered projections."""

    def __init__(self, encoder: Encoder, setting: Setting, projector: MLPConfig, params: LossParams) -> None:
        super().__init__(encoder, setting, ViewPlan(global_views=2))
        self.head = mlp(encoder.feature_dim, projector)
        self.params = params

    @classmethod
    def from_spec(cls, spec: RunSpec, encoder: Encoder, setting: Setting) -> Method:
        return cls(encoder, setting, MLPConfig.projector(spec), LossParams.from_spec(spec))

    def forward(self, x: Tensor, small: Tensor | None = None) -> Any:
        return self.head(self.encoder(x))

    def training_step(self, outputs: Any, x: Tensor, small: Tensor | None, labels: Tensor,
                      progress: Progress) -> StepOutput:
        views = self.gather(outputs, self.views.global_views)
        # Read at each step, so a test may swap an objective's loss for a faulty one.
        loss = LOSSES[self.name].loss(views, labels, self.params)
        return StepOutput(loss, {"embedding_std": embedding_std(views[0])})


for _name in ("simclr", "supcon", "contrastive", "npairs", "triplet_batch_hard", "triplet_batch_all",
              "triplet_semihard"):
    register(_name)(type(f"HeadLoss_{_name}", (HeadLoss,), {"__doc__": f"{_name}: {HeadLoss.__doc__}"}))
