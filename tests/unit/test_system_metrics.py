"""The worker's system metrics: what a run's process tree uses, read from the real processes, and how the samples
reach the run as points."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from contrastlab.core.catalog import METRICS
from worker.system import Gpus, ProcessTree, SystemSampler, gpu_indices

BUSY = "import time\nend = time.monotonic() + 30\nwhile time.monotonic() < end: pass"


def test_a_busy_child_counts_as_about_one_core_and_its_memory_is_counted() -> None:
    tree = ProcessTree()
    first = tree.read()
    assert "system.cpu_percent" not in first  # the first reading is the baseline
    child = subprocess.Popen([sys.executable, "-c", BUSY])
    try:
        time.sleep(0.5)
        tree.read()  # the child is known from here on
        time.sleep(1.5)
        second = tree.read()
    finally:
        child.kill()
        child.wait()
    # A spinning child uses close to a whole core; on a loaded 2-core machine it gets less, never nothing.
    assert 20 < second["system.cpu_percent"] < 250
    assert second["system.rss_mb"] > first["system.rss_mb"] > 10  # this Python, then with a second one


def test_no_gpu_metrics_and_no_error_without_nvml() -> None:
    assert Gpus([]).read() == {}
    gpus = Gpus([0])  # this machine: no NVIDIA driver
    assert gpus.read() == {}
    gpus.close()


@pytest.mark.parametrize("slots, device, env, expected", [
    (["1", "3"], "auto", None, [1, 3]), (["cpu0"], "auto", None, [0]), (None, "cpu", "2", []),
    (None, "auto", "2,5", [2, 5]), (None, "cuda", "", []),
])
def test_the_runs_gpus(monkeypatch: pytest.MonkeyPatch, slots: list[str] | None, device: str, env: str | None,
                       expected: list[int]) -> None:
    if env is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", env)
    assert gpu_indices(slots, device) == expected


class Sink:
    attempt = 2

    def __init__(self) -> None:
        self.samples: list[tuple[str, dict[str, float]]] = []

    def sample(self, key: str, values: dict[str, float]) -> None:
        self.samples.append((key, values))


def test_the_sampler_samples_until_stopped_and_once_more_at_the_end() -> None:
    sink = Sink()
    sampler = SystemSampler(sink, interval_s=0.2)
    sampler.start()
    time.sleep(1.0)
    sampler.stop()
    keys = [key for key, _ in sink.samples]
    assert len(keys) >= 3 and len(set(keys)) == len(keys) and all(k.startswith("a2s") for k in keys)
    assert all(set(values) == {"system.cpu_percent", "system.rss_mb"} for _, values in sink.samples)
    assert all(name in METRICS and METRICS[name].panel == "system" for _, v in sink.samples for name in v)
    count = len(sink.samples)
    time.sleep(0.5)
    assert len(sink.samples) == count  # stopped means stopped
