"""Will one training step fit? Measured before training, so a spec that cannot run fails in seconds, naming
`batch_size` and the largest that fits, instead of thrashing the host or dying minutes later.

The per-image cost is measured on the run's own device at its image size: the bytes autograd saves for the
backward pass (a saved-tensors hook sees each one) in a forward of 2 and of 4 images; the difference is what
one more image costs. A step holds that for every view of every image of the batch, and about as much again
while the backward pass runs (the gradients of the activations); a target network's forward without gradient
(BYOL, MoCo, DINO) holds about one layer's activations at a time, counted here as one more view's worth.
"""

from __future__ import annotations

import copy
import os

import torch
from torch import nn

from .errors import TrainingFailed

BACKWARD_FACTOR = 2.0  # saved activations, plus their gradients while the backward pass runs
USABLE_FRACTION = 0.9  # of the free memory: the allocator, the data and the optimiser want some too
GB = 1e9


def saved_bytes(model: nn.Module, images: torch.Tensor) -> int:
    """Bytes autograd keeps for the backward pass of one forward of `images` (each storage counted once)."""
    storages: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        model(images)
    return sum(storages.values())


def bytes_per_image(encoder: nn.Module, channels: int, image_size: int, device: torch.device) -> int:
    """What one more image costs a training forward of a copy of `encoder` (its BatchNorm statistics stay)."""
    probe = copy.deepcopy(encoder).train()
    cost = []
    for count in (2, 4):
        images = torch.rand(count, channels, image_size, image_size, device=device, requires_grad=True)
        cost.append(saved_bytes(probe, images))
    return max(1, (cost[1] - cost[0]) // 2)


def free_bytes(device: torch.device) -> int:
    """Memory free for this run now: the GPU's free memory, or the host's MemAvailable."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def check_step_fits(encoder: nn.Module, channels: int, image_size: int, batch: int, views: float,
                    device: torch.device, target_views: float = 0.0, free: int | None = None) -> int:
    """The estimated bytes of one step of `batch` images x `views` (plus `target_views` through a target network
    without gradient); TrainingFailed naming batch_size and the largest that fits when the estimate is over the
    usable part of the free memory."""
    per_view = bytes_per_image(encoder, channels, image_size, device)
    per_image = per_view * (views * BACKWARD_FACTOR + target_views)
    need = int(per_image * batch)
    usable = int(USABLE_FRACTION * (free_bytes(device) if free is None else free))
    if need <= usable:
        return need
    largest = int(usable // per_image)
    advice = (f"the largest batch_size that fits is about {largest}" if largest >= 2 else
              "not even a batch of 2 fits: pick a smaller encoder or image_size")
    raise TrainingFailed(
        f"batch_size {batch} needs about {need / GB:.1f} GB per training step on {device.type} "
        f"({per_view * BACKWARD_FACTOR / 1e6:.2f} MB per image and view at {image_size} px, {views} views), but "
        f"{usable / GB:.1f} GB is free: {advice}")
