"""Where a run trains, and the process-wide torch settings it needs while it does."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

import torch

from .errors import TrainingFailed

# "1": CPU runs take the CUDA path's bf16 autocast, so its numerics can be checked on a machine without a GPU.
CPU_AUTOCAST_ENV = "CONTRASTLAB_CPU_AUTOCAST"


def resolve_device(name: str) -> torch.device:
    """spec.device to a torch device; "auto" picks CUDA when present."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainingFailed("device 'cuda' was requested but this worker has no usable CUDA GPU; "
                             "choose device 'auto' or 'cpu'")
    return torch.device(name)


def autocast_enabled(device: torch.device) -> bool:
    """Whether the training step runs under bf16 autocast: always on CUDA, on a CPU only when CPU_AUTOCAST_ENV is 1."""
    if device.type == "cuda":
        return True
    value = os.environ.get(CPU_AUTOCAST_ENV, "0").strip()
    if value not in ("0", "1", ""):
        raise ValueError(f"{CPU_AUTOCAST_ENV} must be 1 (bf16 autocast on the CPU) or 0 (off), not {value!r}")
    return device.type == "cpu" and value == "1"


def cpu_cores() -> int:
    """CPUs this process may run on (a container's cpuset, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def deterministic(mode: bool, warn_only: bool) -> None:
    """torch.use_deterministic_algorithms, without its import of torch._inductor (about 1.2 s of CPU in every run
    process) while nothing has loaded it: the flag it also copies to inductor's config is read by torch.compile
    alone, and `compiled` copies it there before compiling."""
    if "torch._inductor.config" in sys.modules:
        torch.use_deterministic_algorithms(mode, warn_only=warn_only)
    else:
        torch._C._set_deterministic_algorithms(mode, warn_only=warn_only)


def compiled(model: torch.nn.Module) -> Callable[..., Any]:
    """torch.compile(model), inductor told of the deterministic mode `runtime` set."""
    torch.use_deterministic_algorithms(torch.are_deterministic_algorithms_enabled(),
                                       warn_only=torch.is_deterministic_algorithms_warn_only_enabled())
    return torch.compile(model)


@contextlib.contextmanager
def runtime(device: torch.device) -> Iterator[None]:
    """Settings for one run, restored afterwards: a worker process runs many."""
    saved = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(),
             torch.is_deterministic_algorithms_warn_only_enabled(), torch.backends.cudnn.benchmark)
    if device.type == "cpu":
        # More threads than cores only adds contention; the same thread count keeps results bit-identical.
        torch.set_num_threads(max(1, min(saved[0], cpu_cores())))
        deterministic(True, warn_only=True)
    else:
        torch.backends.cudnn.benchmark = True  # fixed input shapes: the autotuned kernel is reused every step
    try:
        yield
    finally:
        torch.set_num_threads(saved[0])
        deterministic(saved[1], warn_only=saved[2])
        torch.backends.cudnn.benchmark = saved[3]
