"""Datasets larger than memory: images read and decoded per batch by DataLoader workers.

A dataset's images are either a uint8 tensor [N, C, H, W] (in memory) or a `Streamed` source of the
same shape whose items are decoded on demand: image files (`ImageFiles`) or the rows of an array
too large to resize whole, such as STL-10's unlabeled split read through a memory map (`ArrayImages`).
Both give the same pixels for the same index, and `batches` turns either into uint8 batches on the
training device, so the augmentation and the training step do not know which they got.
"""

from __future__ import annotations

import contextlib
import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from contrastlab.core.settings import LoaderConfig

from .decode import decode_bytes, decode_jpegs, is_jpeg, load_decoders, read_bytes, square
from .device import cpu_cores
from .errors import TrainingFailed


@dataclass(frozen=True)
class StreamPolicy:
    """Whether a dataset streams: the spec's data_loading; in auto, when its decoded images exceed
    loader.stream_above_mb. A streamed source keeps the loader config (its DataLoader workers and timeout)."""

    mode: str = "auto"  # auto, memory or stream (RunSpec.data_loading)
    loader: LoaderConfig = LoaderConfig()

    def streams(self, images: int, channels: int, side: int) -> bool:
        if self.mode != "auto":
            return self.mode == "stream"
        return images * channels * side * side > self.loader.stream_above_mb * 2**20


MAX_WORKERS = 8  # beyond this a CPU's decoding rarely is the bottleneck of one run
PREFETCH_BATCHES = 4  # per worker: enough to hide a slow file without holding many batches


class Streamed(Dataset[torch.Tensor]):
    """Images of one shape [C, side, side] read on demand; item i is uint8 [C, side, side]."""

    channels = 3
    side: int
    loader: LoaderConfig = LoaderConfig()  # its DataLoader workers and the longest wait for a batch

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, index: int) -> torch.Tensor:
        raise NotImplementedError

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self), self.channels, self.side, self.side))

    def decode_jpegs_on(self, device: torch.device | None) -> None:
        """From now on give JPEGs as their encoded bytes, for `batches` to decode together on device (a GPU)."""


class ImageFiles(Streamed):
    """Image files, each decoded when read; in device mode a JPEG comes back still encoded."""

    def __init__(self, paths: Sequence[str | Path], side: int, loader: LoaderConfig = LoaderConfig()) -> None:
        self.paths = [str(p) for p in paths]
        self.side, self.loader = side, loader
        self.encoded = False
        load_decoders()

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        data = read_bytes(self.paths[index])
        if self.encoded and is_jpeg(data):
            # 1-D: decoded with the rest of its batch on the device. Cloned: read_file's storage cannot be
            # shared with the training process (pickling it fails and the DataLoader waits forever).
            return data.clone()
        return square(decode_bytes(data, self.paths[index]), self.side)

    def decode_jpegs_on(self, device: torch.device | None) -> None:
        self.encoded = device is not None


class ArrayImages(Streamed):
    """Rows of a uint8 array [N, C, H, W] (a view, a memory map), each resized when read."""

    def __init__(self, open_array: Callable[[], np.ndarray], length: int, channels: int, side: int,
                 loader: LoaderConfig = LoaderConfig()) -> None:
        # A memory map is reopened in each process: a pickled one would be copied whole.
        self.open_array, self.length, self.channels, self.side = open_array, length, channels, side
        self.loader = loader
        self._array: np.ndarray | None = None
        load_decoders()

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> torch.Tensor:
        if self._array is None:
            self._array = self.open_array()
        row = torch.from_numpy(np.array(self._array[index]))  # a copy: memory maps are read-only
        return square(row, self.side)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_array": None}


class Selected(Streamed):
    """Some images of a source, by index (a training subset)."""

    def __init__(self, source: Streamed, indices: Sequence[int]) -> None:
        self.source, self.indices = source, list(indices)
        self.channels, self.side, self.loader = source.channels, source.side, source.loader

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.source[self.indices[index]]

    def decode_jpegs_on(self, device: torch.device | None) -> None:
        self.source.decode_jpegs_on(device)


class Joined(Streamed):
    """Sources (or in-memory tensors) one after the other: STL-10's train split, then its unlabeled one."""

    def __init__(self, parts: Sequence[Streamed | torch.Tensor]) -> None:
        self.parts = list(parts)
        streamed = [p for p in self.parts if isinstance(p, Streamed)]
        self.channels, self.side = int(self.parts[0].shape[1]), int(self.parts[0].shape[-1])
        self.loader = streamed[0].loader if streamed else LoaderConfig()
        self.starts = np.cumsum([0, *(len(p) for p in self.parts)])

    def __len__(self) -> int:
        return int(self.starts[-1])

    def __getitem__(self, index: int) -> torch.Tensor:
        part = int(np.searchsorted(self.starts, index, side="right")) - 1
        return self.parts[part][index - int(self.starts[part])]

    def decode_jpegs_on(self, device: torch.device | None) -> None:
        for part in self.parts:
            if isinstance(part, Streamed):
                part.decode_jpegs_on(device)


Images = torch.Tensor | Streamed


def select(images: Images, indices: torch.Tensor) -> Images:
    """The images at indices: a tensor indexed now, a source that reads only those later."""
    if isinstance(images, torch.Tensor):
        return images[indices]
    return Selected(images, indices.tolist())


def join(first: Images, second: Images | None) -> Images:
    """first then second (None: first alone); tensors are concatenated, anything streamed stays streamed."""
    if second is None:
        return first
    if isinstance(first, torch.Tensor) and isinstance(second, torch.Tensor):
        return torch.cat([first, second])
    return Joined([first, second])


def loader_workers(images: Streamed) -> int:
    """DataLoader workers for a source: DATA_WORKERS, or one per core but one, at most MAX_WORKERS."""
    if images.loader.workers is not None:
        return images.loader.workers
    return max(1, min(MAX_WORKERS, cpu_cores() - 1))


@contextlib.contextmanager
def children_allowed() -> Iterator[None]:
    """Let this process start DataLoader workers even when it is daemonic, as a Celery pool process is.

    multiprocessing refuses children to a daemonic process lest they outlive it; DataLoader workers
    cannot: they are daemonic themselves (ended when this process exits) and each watches its parent
    and exits when it dies. The flag is restored once the workers have started.
    """
    config = multiprocessing.current_process()._config  # type: ignore[attr-defined]
    daemon = config.get("daemon")
    config["daemon"] = False
    try:
        yield
    finally:
        if daemon is None:
            config.pop("daemon", None)
        else:
            config["daemon"] = daemon


def batches(images: Images, index_batches: Sequence[torch.Tensor] | torch.Tensor, device: torch.device,
            jpegs_on_device: bool | None = None) -> Iterator[torch.Tensor]:
    """uint8 [B, C, H, W] on device for each row of indices, in order: a tensor is indexed at once,
    a streamed source is decoded ahead by DataLoader workers, except its JPEGs on a GPU (jpegs_on_device,
    by default when device is one), which the workers only read and nvjpeg decodes a batch at a time.

    A batch that the DataLoader workers do not send within the source's loader.timeout_s, or a worker that dies,
    raises TrainingFailed with the loader's error (without workers the training process reads, unbounded)."""
    if isinstance(images, torch.Tensor):
        for idx in index_batches:
            yield images[idx.to(images.device)].to(device, non_blocking=True)
        return
    on_device = device.type == "cuda" if jpegs_on_device is None else jpegs_on_device
    images.decode_jpegs_on(device if on_device else None)
    workers = loader_workers(images)
    loader = DataLoader(images, batch_sampler=[idx.tolist() for idx in index_batches], num_workers=workers,
                        collate_fn=_as_list if on_device else torch.stack, pin_memory=device.type == "cuda",
                        prefetch_factor=PREFETCH_BATCHES if workers else None,
                        timeout=images.loader.timeout_s if workers else 0,
                        # Its own generator: the workers' seeds must not be drawn from the global one, which
                        # initialises the weights (the head is built after the normalisation pass).
                        generator=torch.Generator().manual_seed(0))
    with children_allowed():
        iterator = iter(loader)  # the workers start here
    try:
        try:
            while (batch := _next_batch(iterator, images.loader)) is not None:
                yield _on_device(batch, images.side, device) if on_device else batch.to(device, non_blocking=True)
        finally:
            # Now, not when the traceback lets go of this frame: a stuck worker is ended (SIGTERM after a grace).
            shutdown = getattr(iterator, "_shutdown_workers", None)
            if shutdown is not None:
                shutdown()
    except RuntimeError as error:
        # torch's SIGCHLD handler raises a dead worker's error wherever the training process is, the shutdown
        # above included.
        failure = loader_failure(error, images.loader)
        if failure is None:
            raise
        raise failure from error


def _next_batch(iterator: Iterator[Any], loader: LoaderConfig) -> Any:
    """The DataLoader's next batch (None at the end); a batch that cannot be received as TrainingFailed (its
    timeout and a dead worker, RuntimeErrors, are mapped by `batches` wherever torch raises them)."""
    try:
        return next(iterator)
    except StopIteration:
        return None
    except OSError as error:
        failure = loader_failure(error, loader)
        if failure is None:
            raise
        raise failure from error


def loader_failure(error: BaseException, loader: LoaderConfig) -> TrainingFailed | None:
    """The user's message for an error of the DataLoader's workers (a timeout, a worker that died, a batch that
    could not be received from one), None for any other error."""
    text = str(error).rstrip()
    hint = "(setting DATA_WORKERS=0 decodes in the training process)"
    if isinstance(error, RuntimeError) and text.startswith("DataLoader timed out"):
        return TrainingFailed(
            f"data loader: no batch within {loader.timeout_s:g} s (setting DATA_TIMEOUT_S); a DataLoader "
            f"worker is stuck reading or decoding (a hung disk or network share?): {text}")
    if isinstance(error, RuntimeError) and text.startswith("DataLoader worker"):
        return TrainingFailed(f"data loader: {text} {hint}")
    if isinstance(error, OSError):
        # A batch's memory is handed over through its worker: a worker that died after it sent the batch, or a
        # process out of file descriptors, fails the handover.
        return TrainingFailed(f"data loader: DataLoader worker's batch could not be received ({type(error).__name__}: "
                              f"{text}); the worker died or the process ran out of file descriptors {hint}")
    return None


def in_order(images: Images, batch_size: int, device: torch.device) -> Iterator[torch.Tensor]:
    """Every image, in index order, as uint8 batches on device (the features' path)."""
    if isinstance(images, torch.Tensor):
        for start in range(0, len(images), batch_size):
            yield images[start:start + batch_size].to(device, non_blocking=True)
        return
    yield from batches(images, torch.arange(len(images)).split(batch_size), device)


def materialize(images: Streamed, batch_size: int = 256) -> torch.Tensor:
    """A source decoded whole into memory, by the same workers and rule as when it streams."""
    out = torch.empty(tuple(images.shape), dtype=torch.uint8)
    start = 0
    rows = out.numpy()
    for batch in in_order(images, batch_size, torch.device("cpu")):
        # numpy's copy: torch's would wake its thread pool, whose spinning threads take the cores the
        # decoding workers need (half the loading speed on 2 cores)
        rows[start:start + len(batch)] = batch.numpy()
        start += len(batch)
    return out


def as_tensor(images: Images) -> torch.Tensor:
    """The images as one uint8 tensor: themselves when in memory, a streamed source decoded whole."""
    return images if isinstance(images, torch.Tensor) else materialize(images)


def _as_list(items: list[torch.Tensor]) -> list[torch.Tensor]:
    return items


def _on_device(items: list[torch.Tensor], side: int, device: torch.device) -> torch.Tensor:
    """One batch on the device: the still-encoded JPEGs (1-D) decoded together there, the rest moved."""
    encoded = [i for i, item in enumerate(items) if item.dim() == 1]
    out = [item if item.dim() == 1 else item.to(device, non_blocking=True) for item in items]
    if encoded:
        for i, image in zip(encoded, decode_jpegs([items[i] for i in encoded], side, device), strict=True):
            out[i] = image
    return torch.stack(out)


NORMALIZATION_SAMPLE = 10_000  # images the per-channel statistics come from: plenty, and no full pass to stream


def channel_stats(images: Images, sample: int = NORMALIZATION_SAMPLE, batch_size: int = 256,
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation [C] (float32, values in [0, 1]) of at most `sample` evenly
    spaced images, summed in float64 batch by batch: the same figures whether the images stream or not."""
    n = len(images)
    idx = torch.linspace(0, n - 1, min(n, sample)).round().long().unique() if n else torch.zeros(0, dtype=torch.long)
    channels = int(images.shape[1])
    total = torch.zeros(channels, dtype=torch.float64)
    squares = torch.zeros(channels, dtype=torch.float64)
    count = 0
    for batch in batches(images, idx.split(batch_size), torch.device("cpu")):
        x = batch.to(torch.float64).div_(255)
        total += x.sum(dim=(0, 2, 3))
        squares += x.square().sum(dim=(0, 2, 3))
        count += x.numel() // channels
    mean = total / max(count, 1)
    variance = (squares - count * mean.square()) / max(count - 1, 1)  # Bessel's correction, as torch.std
    return mean.float(), variance.clamp_min(0).sqrt().float()
