"""What a worker says in its heartbeat, and the device slots `make run` gives its embedded worker."""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from contrastlab import launch
from contrastlab.core.settings import Settings
from contrastlab.queue import SLOTS_DIR_ENV, SLOTS_ENV, TASK_RUN, local_gpus
from worker.heartbeat import describe, held_run


def test_the_held_run_is_the_run_of_celerys_received_request() -> None:
    other = SimpleNamespace(name="celery.ping", args=[])
    assert held_run([]) is None
    assert held_run([other, SimpleNamespace(name=TASK_RUN, args=[17])]) == 17
    assert held_run([SimpleNamespace(name=TASK_RUN, args=["not a number"])]) is None


def test_a_worker_describes_its_hosts_slots(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(SLOTS_ENV, "0,1")
    monkeypatch.setenv(SLOTS_DIR_ENV, str(tmp_path))
    beat = describe("worker-gpu0@box", ["q", "q.devices-2"], 5)
    assert (beat.devices, beat.slots, beat.gpu, beat.run_id, beat.stopping) == (2, ["0", "1"], True, 5, False)
    monkeypatch.setenv(SLOTS_ENV, "cpu0")
    assert (describe("w@box", ["q"], None).devices, describe("w@box", ["q"], None).gpu) == (1, False)
    monkeypatch.delenv(SLOTS_ENV)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    plain = describe("w@box", ["q"], None, stopping=True)
    assert (plain.devices, plain.slots, plain.gpu, plain.stopping) == (1, [], True, True)


@pytest.mark.parametrize(("visible", "gpus"), [("0,1", ["0", "1"]), ("", []), ("-1", []), ("0,-1,2", ["0"]),
                                               ("GPU-5a1b,GPU-77", ["GPU-5a1b", "GPU-77"])])
def test_local_gpus_follow_cuda_visible_devices(visible: str, gpus: list[str]) -> None:
    assert local_gpus({"CUDA_VISIBLE_DEVICES": visible}) == gpus


def test_without_a_driver_there_is_no_gpu(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi
    assert local_gpus({}) == []


def test_make_run_gives_its_worker_every_gpu_as_slots_or_one_cpu_slot(monkeypatch: pytest.MonkeyPatch,
                                                                      tmp_path: Path) -> None:
    started: list[dict[str, Any]] = []

    def popen(command: list[str], env: dict[str, str], **_: object) -> SimpleNamespace:
        started.append({"command": command, "env": env})
        return SimpleNamespace(pid=0)

    monkeypatch.setattr(subprocess, "Popen", popen)
    settings = Settings(data_dir=tmp_path, queue="q")
    launch.start_worker(settings, gpus=["0", "1"])
    launch.start_worker(settings, gpus=[])
    two, cpu = started
    assert two["env"][SLOTS_ENV] == "0,1" and two["env"][SLOTS_DIR_ENV] == str(tmp_path.resolve() / "slots")
    queues = two["command"][two["command"].index("--queues") + 1]
    # Runs only: the preview consumer beside them takes the previews (tests/unit/test_preview_consumer.py).
    assert queues == "q,q.devices-2" and two["command"][-2:] == ["--max-tasks-per-child", "1"]
    assert cpu["env"][SLOTS_ENV] == "cpu0" and cpu["command"][cpu["command"].index("--queues") + 1] == "q"
    assert "--max-tasks-per-child" not in cpu["command"]
