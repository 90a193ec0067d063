"""How busy the machine is while a run runs: CPU and memory of the run's processes, and on CUDA its GPUs.

A thread samples every SAMPLE_S seconds and reports through the run's reporter, as metrics named `system.*`
(the catalogue describes each). CPU is the run's process tree (this process, its DataLoader workers, torchrun's
ranks), not the host: a worker shares its host with other workers. GPUs are read through NVML (the package
nvidia-ml-py); on a host without an NVIDIA driver there are no GPU metrics and no error. A sample's step is the
run's latest training step (so a curve against steps lines up with the loss) and its key is the attempt and the
sample's number, so samples taken while the step stands still (evaluation) are kept, each once.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from typing import Any, Protocol

import psutil

log = logging.getLogger(__name__)

SAMPLE_S = 5.0
MIB = 1024 * 1024
# The metrics sampled here (the engine reports system.data_wait_share itself, one point per epoch).
SAMPLED = ("system.cpu_percent", "system.rss_mb", "system.gpu_percent", "system.gpu_memory_mb", "system.gpu_power_w")


class Sink(Protocol):
    """Where samples go (worker.reporting.HttpReporter)."""

    attempt: int

    def sample(self, key: str, values: dict[str, float]) -> None: ...


class Gpus:
    """NVML handles of the run's GPUs; empty where NVML is absent (no driver, no package, no GPU)."""

    def __init__(self, indices: Sequence[int]) -> None:
        self.nvml: Any = None
        self.handles: list[Any] = []
        if not indices:
            return
        try:
            import pynvml  # nvidia-ml-py

            pynvml.nvmlInit()
            self.nvml = pynvml
            self.handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in indices]
        except Exception as exc:  # no driver or no such device: a CPU host, not an error
            log.info("no GPU metrics: %s", exc)
            self.handles = []

    def read(self) -> dict[str, float]:
        if not self.handles:
            return {}
        nvml = self.nvml
        try:
            util = [nvml.nvmlDeviceGetUtilizationRates(h).gpu for h in self.handles]
            memory = sum(nvml.nvmlDeviceGetMemoryInfo(h).used for h in self.handles)
            power = sum(nvml.nvmlDeviceGetPowerUsage(h) for h in self.handles)  # milliwatts
        except Exception as exc:  # a device that went away mid-run: stop asking
            log.warning("GPU metrics stopped: %s", exc)
            self.handles = []
            return {}
        return {"system.gpu_percent": sum(util) / len(util), "system.gpu_memory_mb": memory / MIB,
                "system.gpu_power_w": power / 1000}

    def close(self) -> None:
        if self.nvml is not None:
            try:
                self.nvml.nvmlShutdown()
            except Exception:  # noqa: S110 - shutting down a library that is already gone
                pass


def gpu_indices(slots: Sequence[str] | None, device: str) -> list[int]:
    """The GPUs a run uses: its device slots, else CUDA_VISIBLE_DEVICES, else the first GPU (a CPU run: none)."""
    if device == "cpu":
        return []
    named = [s for s in (slots or []) if s.isdigit()]
    if named:
        return [int(s) for s in named]
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [int(s) for s in visible.split(",") if s.strip().isdigit()]
    return [0]


class ProcessTree:
    """CPU % (of one core) and RSS of a process and its descendants, between one reading and the next."""

    def __init__(self, pid: int | None = None) -> None:
        self.root = psutil.Process(pid)
        self.known: dict[int, psutil.Process] = {}
        self.last: tuple[float, float] | None = None  # (wall, CPU seconds of the processes alive then)

    def processes(self) -> list[psutil.Process]:
        found = [self.root]
        try:
            found += self.root.children(recursive=True)
        except psutil.Error:
            pass
        # The same Process objects from one reading to the next: psutil tells a reused pid from the process.
        kept = {p.pid: self.known.get(p.pid, p) for p in found}
        self.known = kept
        return list(kept.values())

    def read(self) -> dict[str, float]:
        cpu, rss = 0.0, 0
        for process in self.processes():
            try:
                with process.oneshot():
                    times = process.cpu_times()
                    cpu += times.user + times.system
                    rss += process.memory_info().rss
            except psutil.Error:  # ended between the listing and the reading
                continue
        now = time.monotonic()
        values = {"system.rss_mb": rss / MIB}
        if self.last is not None and now > self.last[0]:
            # A process that ended since takes its CPU seconds with it: never below 0.
            values["system.cpu_percent"] = max(0.0, 100 * (cpu - self.last[1]) / (now - self.last[0]))
        self.last = (now, cpu)
        return values


class SystemSampler:
    """Samples every `interval_s` seconds on a thread of its own, from start() to stop()."""

    def __init__(self, sink: Sink, gpus: Sequence[int] = (), interval_s: float = SAMPLE_S) -> None:
        self.sink, self.interval_s = sink, interval_s
        self.gpu_indices = list(gpus)
        self.count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="system-metrics", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        try:
            tree = ProcessTree()
            gpus = Gpus(self.gpu_indices)
        except Exception:  # a sampler must never take a run down
            log.exception("system metrics are off for this run")
            return
        try:
            tree.read()  # the first CPU reading is the baseline of the second
            while not self._stop.wait(self.interval_s):
                self.take(tree, gpus)
            self.take(tree, gpus)  # the last interval, up to the run's end
        except Exception:
            log.exception("system metrics stopped")
        finally:
            gpus.close()

    def take(self, tree: ProcessTree, gpus: Gpus) -> None:
        self.count += 1
        self.sink.sample(f"a{self.sink.attempt}s{self.count}", {**tree.read(), **gpus.read()})
