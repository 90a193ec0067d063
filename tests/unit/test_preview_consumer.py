"""The preview consumer beside each host's workers: its command line and environment (preview queue only, solo
pool, CPU only, one thread, no device slots), who starts it (`make run`'s launcher, `contrastlab worker`), that
`contrastlab worker` starts it again when it ends without stopping the workers, and that its main process neither
kills itself at start-up nor beats on every preview."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from contrastlab import launch
from contrastlab.core.settings import Settings
from contrastlab.queue import (
    PARENT_ENV,
    SLOTS_DIR_ENV,
    SLOTS_ENV,
    TASK_PREVIEW,
    TASK_RUN,
    is_preview_consumer,
    preview_command,
    preview_env,
    worker_command,
)
from worker import supervise, tasks


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_the_preview_consumer_takes_previews_only_one_at_a_time_in_its_main_process(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, queue="q")
    command = preview_command(settings, "worker1")
    assert command[1:6] == ["-m", "celery", "-A", "worker.main", "worker"]
    assert (option(command, "--queues"), option(command, "--pool"), option(command, "--concurrency"),
            option(command, "--prefetch-multiplier"), option(command, "--hostname")) == \
        ("q.preview", "solo", "1", "1", "preview-worker1@%h")
    assert option(worker_command(settings, slots=2), "--queues") == "q,q.devices-2"  # the workers: runs only


def test_its_environment_hides_every_gpu_and_gives_it_one_thread_and_no_slots(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, queue="q", broker_url="redis://broker:6379/0")
    env = preview_env(settings, {"PATH": "/bin", "CUDA_VISIBLE_DEVICES": "0,1", "OMP_NUM_THREADS": "8",
                                 SLOTS_ENV: "0,1", SLOTS_DIR_ENV: "/tmp/slots"})
    assert (env["CUDA_VISIBLE_DEVICES"], env["OMP_NUM_THREADS"], env["MKL_NUM_THREADS"]) == ("", "1", "1")
    assert SLOTS_ENV not in env and SLOTS_DIR_ENV not in env
    assert (env["QUEUE"], env["BROKER_URL"], env["DATA_DIR"], env["PATH"]) == \
        ("q", "redis://broker:6379/0", str(tmp_path.resolve()), "/bin")


@pytest.mark.parametrize(("queues", "previews"), [
    (["q.preview"], True), (["q", "q.preview"], False), (["q", "q.devices-2"], False), ([], False),
])
def test_a_preview_consumer_is_told_by_its_queues(queues: list[str], previews: bool) -> None:
    assert is_preview_consumer(queues) is previews


def test_make_run_starts_the_worker_and_a_preview_consumer_beside_it(monkeypatch: pytest.MonkeyPatch,
                                                                     tmp_path: Path) -> None:
    started: list[dict[str, Any]] = []

    def popen(command: list[str], env: dict[str, str], **options: Any) -> SimpleNamespace:
        started.append({"command": command, "env": env, **options})
        return SimpleNamespace(pid=len(started))

    monkeypatch.setattr(subprocess, "Popen", popen)
    workers = launch.start_workers(Settings(data_dir=tmp_path, queue="q"), gpus=["0"])
    assert [w.pid for w in workers] == [1, 2]
    worker, consumer = started
    assert option(worker["command"], "--queues") == "q" and worker["env"][SLOTS_ENV] == "0"
    assert option(consumer["command"], "--queues") == "q.preview" and consumer["env"]["CUDA_VISIBLE_DEVICES"] == ""
    # Supervised as the worker is: a session of its own (a stop kills its group), dies with the launcher.
    assert consumer["start_new_session"] and consumer["preexec_fn"] is not None
    assert consumer["env"][PARENT_ENV] == str(os.getpid()) and SLOTS_ENV not in consumer["env"]


def test_contrastlab_worker_starts_its_preview_consumer_again_and_stops_it_with_the_workers(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The consumer ends at once (as if killed for memory): started again, the worker trains on; when the worker
    ends, supervise returns its code and stops the consumer of that moment with it (a sleeping one here)."""
    monkeypatch.setattr(supervise, "PREVIEW_RESTART_S", 0.2)
    marker = tmp_path / "worker.done"
    worker = subprocess.Popen([sys.executable, "-c", f"import pathlib, time\nwhile not pathlib.Path({str(marker)!r})"
                                                     ".exists(): time.sleep(0.05)\nraise SystemExit(5)"],
                              start_new_session=True)
    consumers: list[subprocess.Popen[bytes]] = []

    def start_preview() -> subprocess.Popen[bytes]:
        code = "raise SystemExit(9)" if len(consumers) < 2 else "import time; time.sleep(600)"
        if len(consumers) == 2:
            marker.touch()  # the third start: the worker may end now
        consumers.append(subprocess.Popen([sys.executable, "-c", code], start_new_session=True))
        return consumers[-1]

    assert supervise.supervise([worker], grace_s=5.0, start_preview=start_preview) == 5
    assert len(consumers) == 3 and [c.returncode for c in consumers[:2]] == [9, 9]
    assert consumers[2].returncode is not None  # stopped with the worker, not left running


def test_the_solo_pools_main_process_neither_kills_itself_nor_preloads_the_engine(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The solo pool sends worker_process_init in the main process, whose parent is the launcher, not MAIN_PID:
    asking to die with MAIN_PID there sent the consumer SIGTERM at once."""
    calls: list[object] = []
    monkeypatch.setattr(tasks, "die_with_parent", calls.append)
    monkeypatch.setattr(tasks, "MAIN_PID", os.getpid())
    tasks._preload_engine()
    assert calls == []


def test_a_preview_received_does_not_poke_the_heartbeat(monkeypatch: pytest.MonkeyPatch) -> None:
    pokes: list[str] = []
    monkeypatch.setattr(tasks, "HEARTBEAT", [SimpleNamespace(poke=lambda: pokes.append("poke"))])
    tasks._beat_on_receipt(request=SimpleNamespace(name=TASK_PREVIEW))
    assert pokes == []
    tasks._beat_on_receipt(request=SimpleNamespace(name=TASK_RUN))
    assert pokes == ["poke"]
