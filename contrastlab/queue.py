"""The queue glue: the Celery app the API sends with and the workers consume, and how a worker process starts.

Imports no torch and nothing of the API or the worker: both build the same app. State lives in our
database, not in Celery's result backend, so there is none.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from celery import Celery

from contrastlab import broker_files
from contrastlab.core.settings import VISIBILITY_TIMEOUT_S, Settings
from contrastlab.core.spec import MAX_DEVICES

TASK_RUN = "contrastlab.run"
# An augmentation preview: drawn by a worker (it has torch and the engine), its PNG returned through Celery's result
# backend (the broker's Redis, or files beside the filesystem broker). A preview is a reply, not state: runs keep
# theirs in our database.
TASK_PREVIEW = "contrastlab.preview"
PREVIEW_SUFFIX = ".preview"
PREVIEW_EXPIRES_S = 300
# The preview consumer's Celery node name is this prefix and the name of the workers it serves (preview-worker1@host).
PREVIEW_PREFIX = "preview-"
# CPU only (an empty CUDA_VISIBLE_DEVICES: it never takes GPU memory from a run) and one thread (it draws a few
# dozen small images; the cores are the runs').
PREVIEW_ENV = {"CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
PROC_ALIVE_TIMEOUT_S = 120.0
PR_SET_PDEATHSIG = 1
# Handed by `contrastlab worker` to each worker process it starts: the host's device slots (GPU ids, or cpu0,
# cpu1, ... for CPU slots) and the folder where their runs take them (worker/slots.py).
SLOTS_ENV = "CONTRASTLAB_DEVICE_SLOTS"
SLOTS_DIR_ENV = "CONTRASTLAB_SLOTS_DIR"
# Set by the process that starts a Celery worker (`make run`'s launcher, `contrastlab worker`) to its own pid: the
# worker's main process watches it and, once it is gone, stops within WORKER_STOP_SECONDS (a setting), then kills
# its process group.
PARENT_ENV = "CONTRASTLAB_PARENT_PID"


def make_celery(broker_url: str, data_dir: Path, queue: str,
                visibility_timeout: int = VISIBILITY_TIMEOUT_S) -> Celery:
    app = Celery("contrastlab", broker=broker_url, include=["worker.tasks", "worker.preview"])
    transport_options: dict[str, object] = {"visibility_timeout": visibility_timeout}
    if visibility_timeout < 600:
        # kombu sweeps for messages to redeliver every interval x throttle seconds (100 s by default);
        # a short timeout only means something if the sweep is about as frequent.
        transport_options.update(unacked_restore_interval=max(1, visibility_timeout // 2),
                                 unacked_restore_throttle=1)
    if broker_url.startswith("filesystem://"):
        broker_files.install()  # messages written atomically (kombu's own can be read half-written)
        folder = (data_dir / "broker" / "queue").resolve()
        processed = (data_dir / "broker" / "processed").resolve()
        control = (data_dir / "broker" / "control").resolve()
        for path in (folder, processed, control):
            path.mkdir(parents=True, exist_ok=True)
        results = (data_dir / "broker" / "results").resolve()
        results.mkdir(parents=True, exist_ok=True)
        app.conf.result_backend = f"file://{results}"
        transport_options = {
            "data_folder_in": str(folder),
            "data_folder_out": str(folder),
            "processed_folder": str(processed),
            "control_folder": str(control),
            "store_processed": False,
            # The folder is listed this often for new messages (kombu's default is once a second).
            "polling_interval": 0.1,
        }
    if broker_url.startswith(("redis://", "rediss://")):
        app.conf.result_backend = broker_url
    app.conf.update(
        task_default_queue=queue,
        result_expires=PREVIEW_EXPIRES_S,
        task_ignore_result=True,
        task_acks_late=True,
        worker_prefetch_multiplier=1,
        # A pool process imports torch before it reports up (worker_process_init); under load that takes longer
        # than Celery's 4 s, and a GPU worker starts a fresh pool process for every run.
        worker_proc_alive_timeout=PROC_ALIVE_TIMEOUT_S,
        task_serializer="json",
        accept_content=["json"],
        broker_transport_options=transport_options,
        broker_connection_retry_on_startup=True,
        # A submit must answer quickly when the broker is down, not hang.
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5},
        # The filesystem transport has no broadcast: no remote control there.
        worker_enable_remote_control=not broker_url.startswith("filesystem://"),
        worker_hijack_root_logger=False,
        # Task events on (Redis), so Flower and `celery events` see every run's task as it happens.
        worker_send_task_events=not broker_url.startswith("filesystem://"),
        task_send_sent_event=not broker_url.startswith("filesystem://"),
    )
    return app


def run_queue(queue: str, devices: int = 1) -> str:
    """The queue of runs that need `devices` devices: QUEUE for one, QUEUE.devices-N for N, so that only a
    worker with N device slots takes them."""
    return queue if devices <= 1 else f"{queue}.devices-{devices}"


def worker_queues(queue: str, slots: int = 1) -> list[str]:
    """The queues a worker with `slots` device slots consumes: runs of 1 to `slots` devices."""
    return [run_queue(queue, devices) for devices in range(1, slots + 1)]


def all_run_queues(queue: str) -> list[str]:
    """Every queue a run may wait in (the reconciler looks for its message in each)."""
    return worker_queues(queue, MAX_DEVICES)


def preview_queue(queue: str) -> str:
    """The queue of augmentation previews: the preview consumer beside each host's workers takes them, so a preview
    is drawn while every worker trains."""
    return f"{queue}{PREVIEW_SUFFIX}"


def is_preview_consumer(queues: Sequence[str]) -> bool:
    """Whether a worker that consumes `queues` (as its heartbeat lists them) is a preview consumer: it takes no run."""
    return bool(queues) and all(name.endswith(PREVIEW_SUFFIX) for name in queues)


def spec_devices(spec: Mapping[str, Any]) -> int:
    """A stored spec's device count (specs from before the field have none: one)."""
    return int(spec.get("devices") or 1)


def send_run(app: Celery, run_id: int, queue: str, devices: int = 1) -> None:
    """Enqueue one run by id (after its row is committed) on its device count's queue; a duplicate is harmless."""
    # ignore_result: a run's outcome lives in our database; without it the sender would subscribe to a result
    # that never comes (the previews' result backend is configured on the same app).
    app.send_task(TASK_RUN, args=[int(run_id)], kwargs={"devices": int(devices)}, queue=run_queue(queue, devices),
                  ignore_result=True)


def worker_command(settings: Settings, name: str = "worker1", slots: int = 1,
                   fresh_process: bool = False) -> list[str]:
    """The command line of one Celery worker process: one run at a time, prefetch 1, on the queues of runs of
    up to `slots` devices (no previews: the preview consumer beside it draws them). fresh_process: a new pool
    process per run, so each run picks its GPU before CUDA starts."""
    command = [sys.executable, "-m", "celery", "-A", "worker.main", "worker", "--loglevel", "INFO",
               "--concurrency", "1", "--prefetch-multiplier", "1",
               "--queues", ",".join(worker_queues(settings.queue, slots)),
               "--hostname", f"{name}@%h", "--without-gossip", "--without-mingle"]
    return [*command, "--max-tasks-per-child", "1"] if fresh_process else command


def preview_command(settings: Settings, name: str = "worker1") -> list[str]:
    """The command line of the preview consumer started beside a host's workers (`preview-<name>@host`): the
    preview queue only, one preview at a time in its main process (the solo pool: no pool process to fork or
    recycle), so previews are drawn while the workers train."""
    return [sys.executable, "-m", "celery", "-A", "worker.main", "worker", "--loglevel", "INFO",
            "--pool", "solo", "--concurrency", "1", "--prefetch-multiplier", "1",
            "--queues", preview_queue(settings.queue), "--hostname", f"{PREVIEW_PREFIX}{name}@%h",
            "--without-gossip", "--without-mingle"]


def preview_env(settings: Settings, base: dict[str, str]) -> dict[str, str]:
    """The preview consumer's environment: the workers' settings, PREVIEW_ENV, and no device slots."""
    env = worker_env(settings, {k: v for k, v in base.items() if k not in (SLOTS_ENV, SLOTS_DIR_ENV)})
    return {**env, **PREVIEW_ENV}


def start_preview_consumer(settings: Settings, base: dict[str, str], name: str = "worker1") -> subprocess.Popen[bytes]:
    """Start the preview consumer as the workers are started: in a session of its own (a stop signals, then kills,
    its process group), told this process's pid (it stops once this process is gone) and, on Linux, sent SIGTERM
    when this process dies. Call it from the main thread (die_with_parent)."""
    env = dict(preview_env(settings, base), **{PARENT_ENV: str(os.getpid())})
    return subprocess.Popen(preview_command(settings, name), env=env, start_new_session=True,
                            preexec_fn=functools.partial(die_with_parent, os.getpid()))


def worker_env(settings: Settings, base: dict[str, str], device: str | None = None,
               slots: Sequence[str] = (), slots_dir: Path | None = None) -> dict[str, str]:
    """The environment a worker process reads its settings from; `device` becomes its CUDA_VISIBLE_DEVICES;
    `slots` and `slots_dir` are the host's device slots, shared by its worker processes."""
    env = dict(base, DATA_DIR=str(settings.data_dir.resolve()), API_URL=settings.resolved_api_url,
               BROKER_URL=settings.resolved_broker_url, QUEUE=settings.queue)
    if device is not None:
        env["CUDA_VISIBLE_DEVICES"] = device
    if slots and slots_dir is not None:
        env[SLOTS_ENV], env[SLOTS_DIR_ENV] = ",".join(slots), str(slots_dir)
    return env


def local_gpus(env: Mapping[str, str] = os.environ) -> list[str]:
    """This host's GPUs as device slots, without loading CUDA: CUDA_VISIBLE_DEVICES when set (empty or -1: none),
    else the indices nvidia-smi lists; [] on a host without an NVIDIA driver."""
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        devices = [part.strip() for part in visible.split(",")]
        # CUDA stops at the first entry it cannot read: "-1" (or anything after it) hides the rest.
        return devices[:next((i for i, d in enumerate(devices) if d in ("", "-1")), len(devices))]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        listed = subprocess.run(["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"], capture_output=True,
                                text=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in listed.stdout.splitlines() if line.strip().isdigit()] \
        if listed.returncode == 0 else []


def die_with_parent(parent: int | None = None) -> None:
    """Linux: this process gets SIGTERM when its parent dies, even by SIGKILL, so no worker is orphaned.

    parent: the parent's pid, known to the caller; a parent that died before this call sends no signal, so the
    process sends itself SIGTERM at once. Use as a preexec_fn with `functools.partial(die_with_parent,
    os.getpid())`. The kernel signals when the *thread* that started the child ends: start it from the main thread.
    """
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if parent is not None and os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGTERM)


def kill_group(group: int) -> None:
    """SIGKILL to a process group, if any of it is left."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signal.SIGKILL)


def group_alive(group: int) -> bool:
    """Whether any process of the group is left (zombies count until their parent reaps them)."""
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
