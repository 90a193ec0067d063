"""The worker's system metrics: what a run's process tree uses, read from the real processes, and how the samples
reach the run as points."""

from __future__ import annotations

import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from contrastlab.core.catalog import METRICS
from worker.system import Gpus, ProcessTree, SystemSampler, gpu_indices

# Burns half a second of its own CPU time (however busy the machine), says so in a file, then idles.
BUSY = """import sys, time
while time.process_time() < 0.5: pass
open(sys.argv[1], "w").close()
time.sleep(60)"""


def test_a_childs_cpu_seconds_and_memory_are_counted(tmp_path) -> None:
    tree = ProcessTree()
    first = tree.read()
    assert "system.cpu_percent" not in first  # the first reading is the baseline
    done = tmp_path / "done"
    child = subprocess.Popen([sys.executable, "-c", BUSY, str(done)])
    try:
        tree.processes()  # the child is known from its start
        assert tree.last is not None
        cpu_before, wall_before = tree.last[1], tree.last[0]
        deadline = time.monotonic() + 120
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        second = tree.read()
    finally:
        child.kill()
        child.wait()
    assert tree.last is not None
    burnt = tree.last[1] - cpu_before
    # The child's half second (/proc counts whole 10 ms ticks: 0.49 seen under load) and this test's polling.
    assert burnt >= 0.48
    assert second["system.cpu_percent"] == pytest.approx(100 * burnt / (tree.last[0] - wall_before))
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


class FakeNvml:
    """pynvml's calls the sampler makes, on two devices (a logic test: the real library runs where a GPU is lent,
    `python -m bench.gpu_check --skip speed speed_compile oom methods repro compile`)."""

    def __init__(self) -> None:
        self.devices = {2: (30, 1024**3, 100_000), 5: (70, 3 * 1024**3, 200_000)}  # %, bytes used, milliwatts
        self.gone = False
        self.shut = 0

    def nvmlInit(self) -> None: ...

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        if index not in self.devices:
            raise RuntimeError(f"NVML: no device {index}")
        return index

    def _device(self, handle: int) -> tuple[int, int, int]:
        if self.gone:
            raise RuntimeError("NVML: GPU is lost")
        return self.devices[handle]

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> SimpleNamespace:
        return SimpleNamespace(gpu=self._device(handle)[0])

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> SimpleNamespace:
        return SimpleNamespace(used=self._device(handle)[1])

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        return self._device(handle)[2]

    def nvmlShutdown(self) -> None:
        self.shut += 1


def test_gpu_metrics_are_the_runs_devices_mean_use_summed_memory_and_power(monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = FakeNvml()
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    gpus = Gpus([2, 5])
    sample = gpus.read()
    assert sample == {"system.gpu_percent": 50.0, "system.gpu_memory_mb": 4096.0, "system.gpu_power_w": 300.0}
    assert set(sample) <= set(METRICS)  # named in the catalogue, so charted and compared like any metric
    nvml.gone = True  # a device that fell off the bus mid-run: no error, and no more asking
    assert gpus.read() == {}
    nvml.gone = False
    assert gpus.read() == {}
    gpus.close()
    assert nvml.shut == 1
    assert Gpus([7]).read() == {}  # an index NVML does not have: a host without that GPU, not an error
