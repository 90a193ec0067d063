"""One run on several devices: this process's place in it (torchrun's environment) and the collectives it needs.

Every rank holds the whole dataset and draws the same permutation and augmentation numbers from the same seed;
each takes its rows of the global batch, and the head outputs are gathered (keeping their gradients) so the
loss is the global batch's on every rank. The collectives' backward passes sum over ranks and DDP averages the
gradients, so the step equals a one-process step on the global batch (with sync_batchnorm; tested to 1e-5).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from .errors import TrainingFailed

# A collective waits this long for a rank that is still busy (rank 0 checkpointing a ResNet-50, a slow k-NN
# monitor); a rank that died is noticed by torchrun within a second, not by this timeout.
COLLECTIVE_TIMEOUT = timedelta(minutes=30)


@dataclass(frozen=True)
class Shard:
    """This process's share of a run: rank `rank` of `world` processes, on local device `local_rank`."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0 reports metrics, writes checkpoints and artifacts, and evaluates."""
        return self.rank == 0

    def rows(self, total: int) -> slice:
        """This rank's rows of a global batch of `total` (a multiple of world)."""
        share = total // self.world
        return slice(self.rank * share, (self.rank + 1) * share)


SINGLE = Shard()


def join(device_type: str) -> Shard:
    """Join the process group torchrun set up (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR in the environment):
    NCCL between GPUs, each rank on its LOCAL_RANK device; gloo between CPU processes."""
    shard = Shard(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ["LOCAL_RANK"]))
    if device_type == "cuda":
        visible = torch.cuda.device_count()
        if shard.local_rank >= visible:
            raise TrainingFailed(f"devices {shard.world} but this worker sees {visible} GPU(s); lower devices to "
                                 f"{visible} or start the worker with more GPUs (contrastlab worker --gpus)")
        torch.cuda.set_device(shard.local_rank)
    dist.init_process_group("nccl" if device_type == "cuda" else "gloo", timeout=COLLECTIVE_TIMEOUT)
    return shard


def leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


@contextlib.contextmanager
def main_first(shard: Shard) -> Iterator[None]:
    """Rank 0 runs the block first (it downloads a missing dataset), the other ranks once it is done."""
    if shard.world > 1 and not shard.main:
        dist.barrier()
    yield
    if shard.world > 1 and shard.main:
        dist.barrier()


def local_device(device: torch.device, shard: Shard) -> torch.device:
    """A rank's own GPU (cuda:LOCAL_RANK); CPUs are shared."""
    return torch.device("cuda", shard.local_rank) if device.type == "cuda" and shard.world > 1 else device


def wrap(model: nn.Module, shard: Shard, device: torch.device, sync_batchnorm: bool) -> nn.Module:
    """The model as the ranks train it: BatchNorm over the global batch when asked, gradients averaged by DDP."""
    if shard.world == 1:
        return model
    if sync_batchnorm:
        # torch's SyncBatchNorm runs on GPUs only; GlobalBatchNorm computes the same on CPUs.
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model) if device.type == "cuda" else global_batchnorm(model)
    # Buffers (BatchNorm's running averages) are rank 0's at every forward: equal on every rank.
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def gather_views(outputs: Tensor, views: int, shard: Shard) -> Tensor:
    """This rank's head outputs [views * b, D] (view-major) to the global batch's [views * world * b, D], in the
    order one process would have produced; gradients flow back to the rank that computed each row."""
    if shard.world == 1:
        return outputs
    gathered = _GatherWithGrad.apply(outputs)  # [world * views * b, D], rank-major
    return gathered.unflatten(0, (shard.world, views, -1)).transpose(0, 1).flatten(0, 2)


def mean(value: Tensor, shard: Shard) -> Tensor:
    """The mean of a detached value over ranks (a loss to report: the global batch's, when each rank's loss is
    its own rows' mean); the value itself on one process."""
    if shard.world == 1:
        return value
    total = value.detach().float().clone()
    dist.all_reduce(total)
    return total / shard.world


def agree(flag: bool, shard: Shard, device: torch.device) -> bool:
    """Rank 0's decision on every rank (stop or go on), so that all ranks leave the loop at the same step."""
    if shard.world == 1:
        return flag
    decision = torch.tensor([int(flag)], device=device)
    dist.broadcast(decision, src=0)
    return bool(decision.item())  # sync point


class _GatherWithGrad(torch.autograd.Function):
    """all_gather whose backward hands each rank the gradient of its own rows, summed over every rank's loss."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, tensor: Tensor) -> Tensor:
        parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, tensor.contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: Tensor) -> Tensor:
        total = grad.clone(memory_format=torch.contiguous_format)  # autograd may still read grad: not in place
        dist.all_reduce(total)  # every rank's loss read every rank's rows
        return total.chunk(dist.get_world_size())[dist.get_rank()]


class _SumWithGrad(torch.autograd.Function):
    """all_reduce (sum) whose backward sums the gradients too: every rank's loss read the sum."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, tensor: Tensor) -> Tensor:
        total = tensor.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(total)
        return total

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: Tensor) -> Tensor:
        total = grad.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(total)
        return total


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm whose training statistics are the global batch's (equal shares per rank), for CPU ranks.

    The sums go through differentiable all_reduces, so the gradient is the one-process BatchNorm's; in eval mode,
    or outside a process group, it is plain BatchNorm (so rank 0 evaluates alone).
    """

    def _check_input_dim(self, input: Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, input: Tensor) -> Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(input)
        dims = [0, *range(2, input.dim())]
        shape = [1, -1] + [1] * (input.dim() - 2)
        count = input.numel() // input.shape[1] * dist.get_world_size()
        mean = _SumWithGrad.apply(input.sum(dims)) / count
        centred = input - mean.view(shape)
        var = _SumWithGrad.apply(centred.square().sum(dims)) / count  # two passes: no cancellation
        tracked = self.num_batches_tracked
        if self.track_running_stats and self.running_mean is not None and self.running_var is not None \
                and tracked is not None:
            with torch.no_grad():
                tracked.add_(1)
                # momentum None: a cumulative average, as torch's BatchNorm
                momentum = 1 / int(tracked) if self.momentum is None else self.momentum
                self.running_mean.lerp_(mean.detach(), momentum)
                self.running_var.lerp_(var.detach() * count / max(count - 1, 1), momentum)  # unbiased, as torch
        out = centred * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out


def global_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every BatchNorm in module (in place, the same parameters and buffers) by a GlobalBatchNorm."""
    for name, child in module.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            replacement = GlobalBatchNorm(child.num_features, child.eps, child.momentum, child.affine,
                                          child.track_running_stats)
            replacement.weight, replacement.bias = child.weight, child.bias
            replacement.running_mean, replacement.running_var = child.running_mean, child.running_var
            replacement.num_batches_tracked = child.num_batches_tracked
            replacement.train(child.training)
            module.add_module(name, replacement)
        else:
            global_batchnorm(child)
    return module
