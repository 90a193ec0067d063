"""A first-in first-out queue of past embeddings: MoCo's negatives, NNCLR's support set, SwAV's queue."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class FeatureQueue(nn.Module):
    """The last `size` rows pushed, as buffers, so they are saved and restored with the method's state.

    A ring buffer: a batch that runs past the end wraps to the start, so nothing pushed is dropped
    (lightly's MemoryBankModule drops the tail of such a batch; the two agree when size is a multiple of
    the batch, as MoCo requires). Until it has been filled, `contents()` holds only the rows pushed so far.
    """

    features: Tensor
    pointer: Tensor
    count: Tensor

    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        if size < 1 or dim < 1:
            raise ValueError(f"a queue needs a positive size and dim, not {size} x {dim}")
        self.register_buffer("features", torch.zeros(size, dim))
        self.register_buffer("pointer", torch.zeros((), dtype=torch.long))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    @property
    def size(self) -> int:
        return self.features.shape[0]

    def contents(self) -> Tensor:
        """The rows pushed so far (all `size` once full), a detached copy, in no particular order."""
        return self.features[: int(self.count)].detach().clone()

    @torch.no_grad()
    def push(self, batch: Tensor) -> None:
        """Append batch [B, dim]; the oldest rows go. A batch longer than the queue keeps its last rows."""
        batch = batch.detach().to(self.features.dtype)[-self.size:]
        start = int(self.pointer)
        rows = (start + torch.arange(len(batch), device=self.features.device)) % self.size
        self.features[rows] = batch
        self.pointer.fill_((start + len(batch)) % self.size)
        self.count.fill_(min(self.size, int(self.count) + len(batch)))
