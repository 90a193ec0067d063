"""What a training method is to the loop: an nn.Module that owns its networks and state (solo-learn's classes).

The loop (worker/engine/train.py) knows nothing else about a method. For each step it

1. augments the batch as the method's `views` plan asks (global views, and small crops for multi-crop methods)
   and calls the method's trainable path, `forward(x, small)`, through DDP (and torch.compile) as one module:
   every parameter the optimiser trains must be used there, so DDP reduces its gradient;
2. calls `training_step(outputs, x, small, labels, progress)` under the same autocast: target networks (no
   gradient), gathering over ranks, the loss (a pure fp32 function of worker/engine/losses, via `in_fp32`),
   per-step metrics; it returns a `StepOutput`;
3. backward; `before_optimizer_step(progress)` (drop the gradients of what is frozen this step: DINO's last
   layer, SwAV's prototypes in the first epoch); `optimizer.step()`;
4. `after_optimizer_step(progress)`: EMA of target networks (`blocks.update_momentum` with the cosine tau of
   `blocks.cosine_schedule`), queues, centres, prototype normalisation; returns plain numbers to report per step
   (`{"tau": 0.996}`).

State lives in the method's child modules (parameters and registered buffers: momentum copies, a
`blocks.FeatureQueue`, a centre), so `checkpoint_modules()` (its children by name) saved and loaded with
state_dict resumes exactly; the children `encoder` and `head` are the catalogue's artifacts `Artifact.ENCODER` and
`Artifact.HEAD`. The method's own direct parameters or buffers would not be saved: put them in a child module.

A method is built at the edge from the RunSpec by `from_spec(spec, encoder, setting)`, which reads the fields
it needs into its own small config; inside, nothing reads the spec. Register it with `@register("name")`,
the catalogue's METHODS name (contrastlab/core/catalog.py); methods/__init__.py imports every file of this
package, so adding a method is one file here plus its catalogue entry (and its spec fields in spec.py).

Multi-device runs (see worker/engine/distributed.py): the method knows its `shard`. A method whose loss reads
other images (negatives: SimCLR, SupCon, MoCo) gathers the outputs with `self.gather(outputs, views)` (gradient
kept); a method with a batch statistic (DINO's centre) all-reduces it with `self.all_reduce_mean(tensor)`; a
method whose loss is a mean of per-image terms (BYOL, SimSiam) gathers nothing: DDP's gradient average is the
global batch's gradient, and the loop reports the loss averaged over ranks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple, TypeVar

import torch
from torch import Tensor, nn

from contrastlab.core.catalog import Phase
from contrastlab.core.spec import RunSpec

from ..distributed import SINGLE, Shard, gather_views
from ..models import Encoder
from ..multicrop import small_side


@dataclass(frozen=True)
class ViewPlan:
    """What the loop's batched augmentation makes of each image in a step (worker/engine/multicrop.py).

    global_views: full-size augmented views (the spec's crop scale), concatenated view-major as `x`
    [global_views * b, C, H, W]. small_crops: extra small views (multi-crop, Caron et al. 2020) of an area
    fraction small_scale_min to the spec's crop_scale_min, at multicrop.small_side(H) pixels, concatenated
    view-major as `small` [small_crops * b, C, h, h]; `small` is None when small_crops is 0.
    """

    global_views: int = 2
    small_crops: int = 0
    small_scale_min: float = 0.05

    def memory_views(self, image_size: int) -> float:
        """Views of the full image size that cost the step about as much memory as this plan (small crops in
        proportion to their pixels)."""
        if not self.small_crops or not image_size:
            return float(self.global_views)
        return self.global_views + self.small_crops * (small_side(image_size) / image_size) ** 2


@dataclass(frozen=True)
class Setting:
    """What a method is built for besides its own config: the data's classes and this process's shard."""

    num_classes: int
    shard: Shard = SINGLE


class Progress(NamedTuple):
    """Where a step stands in the run (1-based step and epoch), for schedules: tau, warm-ups, freezing."""

    step: int
    epoch: int
    steps_per_epoch: int
    total_steps: int

    @property
    def fraction(self) -> float:
        """Share of the training done before this step, 0 at the first step."""
        return (self.step - 1) / max(self.total_steps, 1)


class StepOutput(NamedTuple):
    """One step's result. loss: the scalar to minimise (fp32). metrics: per-step detached device scalars to
    report (fetched with the loss, at the loop's sync points: `embedding_std`). correct: classifiers only,
    the batch's correctly classified images (the epoch's `train_acc`)."""

    loss: Tensor
    metrics: dict[str, Tensor]
    correct: Tensor | None = None


class Method(nn.Module):
    """A training method: its networks on the encoder, its step, its state and its schedules.

    Subclasses set `name` (by @register), `views`, `phase` and `head_format`, build `encoder` and `head` (and
    whatever else they own) in __init__, and implement `from_spec`, `forward` and `training_step`. The
    defaults of the other hooks suit a method with no target network and no state.
    """

    name: ClassVar[str] = ""
    # The run page's phase while training: PRETRAINING (self-supervised or contrastive) or SUPERVISED.
    phase: ClassVar[Phase] = Phase.PRETRAINING
    # The format tag of the saved Artifact.HEAD file (safetensors metadata), e.g. "contrastlab-projection-v1".
    head_format: ClassVar[str] = "contrastlab-projection-v1"
    # Forwards of each global view through a target (momentum) encoder without gradient, for the memory check.
    target_passes: ClassVar[int] = 0

    encoder: Encoder
    head: nn.Module  # the projector (or classifier); "with head" probes read encoder -> head

    def __init__(self, encoder: Encoder, setting: Setting, views: ViewPlan) -> None:
        super().__init__()
        self.encoder = encoder
        self.shard = setting.shard
        self.views = views

    @classmethod
    def from_spec(cls, spec: RunSpec, encoder: Encoder, setting: Setting) -> Method:
        """The method as the spec configures it (the only place it reads the spec)."""
        raise NotImplementedError

    def forward(self, x: Tensor, small: Tensor | None = None) -> Any:
        """The trainable path on this rank's views (what DDP wraps): uses every parameter the optimiser trains.
        Returns the tensors training_step needs (a Tensor or a tuple of them)."""
        raise NotImplementedError

    def training_step(self, outputs: Any, x: Tensor, small: Tensor | None, labels: Tensor,
                      progress: Progress) -> StepOutput:
        """The loss of this step from forward's outputs on this rank's views (and the views themselves, for
        target networks). labels: the global batch's labels (every rank's rows, in rank order), as the
        gathered outputs are; this rank's are labels[self.shard.rows(len(labels))]."""
        raise NotImplementedError

    def trainable(self) -> list[nn.Module]:
        """The modules whose parameters (those with requires_grad) the optimiser trains: by default every child;
        momentum copies set requires_grad False (blocks.momentum_copy) and so are left out."""
        return list(self.children())

    def before_optimizer_step(self, progress: Progress) -> None:
        """After backward, before the optimiser steps: drop the gradients of what is frozen at this step."""

    def after_optimizer_step(self, progress: Progress) -> dict[str, float]:
        """After the optimiser stepped: update targets, queues and centres; the per-step numbers to report."""
        return {}

    def checkpoint_modules(self) -> dict[str, nn.Module]:
        """What the resume checkpoint saves and restores, by name: every child (encoder, head, predictor,
        momentum copies, queues...); their state_dicts hold every parameter and buffer of the method."""
        return dict(self.named_children())

    def probe_encoder(self) -> nn.Module:
        """The encoder the probes, the k-NN and the t-SNE read and Artifact.ENCODER saves (a target network's
        for methods that evaluate the momentum encoder)."""
        return self.encoder

    def probe_head(self) -> nn.Module | None:
        """The head whose output the "with head" probe reads (projector), or None (a classifier's logits are
        not a representation)."""
        return self.head

    # Collectives for subclasses (no-ops on one process).

    def gather(self, outputs: Tensor, views: int) -> list[Tensor]:
        """This rank's outputs [views * b, D] as the global batch's views, each [world * b, D], gradients kept."""
        return list(gather_views(outputs, views, self.shard).chunk(views))

    def all_reduce_mean(self, tensor: Tensor) -> Tensor:
        """The mean of a tensor over ranks (no gradient): a centre or a batch statistic equal on every rank."""
        if self.shard.world == 1:
            return tensor
        import torch.distributed as dist

        total = tensor.detach().clone()
        dist.all_reduce(total)
        return total / self.shard.world


REGISTRY: dict[str, type[Method]] = {}
M = TypeVar("M", bound=type[Method])


def register(name: str) -> Callable[[M], M]:
    """Class decorator: the method of the catalogue's METHODS[name]."""

    def add(cls: M) -> M:
        if name in REGISTRY:
            raise ImportError(f"method {name!r} registered twice ({REGISTRY[name].__name__}, {cls.__name__})")
        cls.name = name
        REGISTRY[name] = cls
        return cls

    return add


def embedding_std(z: Tensor) -> Tensor:
    """Collapse monitor: the mean over dimensions of the per-dimension std of the L2-normalised embeddings
    over the batch (detached). About 1/sqrt(D) when spread over the sphere, 0 when collapsed to a point
    (Chen and He 2021, SimSiam, section 4.1)."""
    with torch.no_grad():
        normed = torch.nn.functional.normalize(z.detach().float(), dim=1)
        return normed.std(dim=0).mean()
