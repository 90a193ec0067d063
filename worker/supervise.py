"""`contrastlab worker` (`python -m worker.supervise`): one Celery worker process per device slot.

Celery's guidance for GPUs is one process per device. The GPUs (`--gpus 0,1`) or CPU slots (`--slots 2`) are the
host's device slots, shared by its worker processes (worker/slots.py): each takes one run at a time from the
queues of runs of 1..N devices and holds the slots that run needs, so N one-device runs or one N-device run
fill the host. A GPU worker starts a fresh pool process per run, which sets CUDA_VISIBLE_DEVICES to its slots
before CUDA starts, so no process initialises a device that is not its run's. The children die with this
process: SIGTERM, SIGINT or SIGHUP is passed on as SIGTERM (a warm shutdown: runs are handed back), and what is
left of a worker's process group after the grace is killed; on Linux they also get SIGTERM if this process is
killed, and each stops by force WORKER_STOP_SECONDS later if it still runs (worker/tasks.py watches its parent).

Beside them, one preview consumer (`preview-<name>@host`, CPU only, one preview at a time) draws the form's
augmentation previews while the workers train. It is stopped as they are; if it ends by itself, it is started
again (at most every PREVIEW_RESTART_S), and the workers train on: a preview never stops a run.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

from contrastlab.core.settings import Settings, get_settings
from contrastlab.queue import (
    PARENT_ENV,
    die_with_parent,
    group_alive,
    kill_group,
    start_preview_consumer,
    worker_command,
    worker_env,
)
from worker.slots import is_gpu

PREVIEW_RESTART_S = 10.0  # a preview consumer that ended is started again, at most this often


def parse_gpus(gpus: str) -> list[str]:
    """'0,1' → ['0', '1']; an empty string means one worker that sees the devices the environment gives it."""
    devices = [part.strip() for part in gpus.split(",") if part.strip()]
    bad = [device for device in devices if not device.isdigit() and not device.startswith(("GPU-", "MIG-"))]
    if bad:
        raise ValueError(f"--gpus {gpus!r}: {', '.join(bad)} is not a GPU index or UUID; write e.g. --gpus 0,1")
    if len(set(devices)) != len(devices):
        raise ValueError(f"--gpus {gpus!r} names a GPU twice; one worker per GPU")
    return devices


def parse_slots(gpus: str, cpu_slots: int) -> list[str]:
    """`--gpus 0,1` → ['0', '1']; `--slots 2` → ['cpu0', 'cpu1']; neither → [] (one plain one-device worker)."""
    if gpus.strip() and cpu_slots:
        raise ValueError("give --gpus (GPU slots) or --slots (CPU slots), not both")
    if cpu_slots < 0:
        raise ValueError(f"--slots {cpu_slots}: give a number of CPU slots, 1 or more")
    return [f"cpu{i}" for i in range(cpu_slots)] if cpu_slots else parse_gpus(gpus)


def start_workers(settings: Settings, slots: Sequence[str], name: str,
                  slots_dir: Path | None = None) -> list[subprocess.Popen[bytes]]:
    """One worker per slot named `<name>-gpu<device>@host` (`<name>-cpu<i>@host`), sharing the slots in slots_dir;
    or a single `<name>@host` when no slot is given."""
    plan: list[tuple[str | None, str]] = [(s, f"{name}-gpu{s}" if is_gpu(s) else f"{name}-{s}") for s in slots]
    gpus = any(is_gpu(slot) for slot in slots)
    base = dict(os.environ, **{PARENT_ENV: str(os.getpid())})
    # Each in a session of its own (its pool in its process group, which a stop kills whole after the grace);
    # signals are this process's to pass on.
    return [subprocess.Popen(worker_command(settings, node, max(1, len(slots)), fresh_process=gpus),
                             # CPU slots hide any GPU: their runs (device auto) train on the CPU, as gloo processes.
                             env=worker_env(settings, base, slot if gpus or slot is None else "", slots, slots_dir),
                             preexec_fn=functools.partial(die_with_parent, os.getpid()), start_new_session=True)
            for slot, node in plan or [(None, name)]]


def supervise(children: Sequence[subprocess.Popen[bytes]], grace_s: float,
              start_preview: Callable[[], subprocess.Popen[bytes]] | None = None) -> int:
    """Wait until a child exits or we are told to stop; then stop the rest. Returns the first exit code.

    start_preview: starts the preview consumer, now and again whenever it has ended (at most every
    PREVIEW_RESTART_S); its end is not a worker's, and it is stopped with them."""
    stopping: list[int] = []

    def stop(signum: int, _frame: FrameType | None) -> None:
        stopping.append(signum)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    preview = start_preview() if start_preview is not None else None
    started = time.monotonic()
    try:
        while not stopping and all(child.poll() is None for child in children):
            if preview is not None and start_preview is not None and preview.poll() is not None \
                    and time.monotonic() - started >= PREVIEW_RESTART_S:
                print(f"the preview consumer ended (exit code {preview.returncode}): starting it again",
                      file=sys.stderr)
                kill_group(preview.pid)  # whatever of its group is left
                preview, started = start_preview(), time.monotonic()
            time.sleep(0.2)
        code = next((child.returncode for child in children if child.returncode is not None), 0)
        children = [*children, *([preview] if preview is not None else [])]
        for child in children:  # Celery's warm shutdown, to the main process and its pool: runs hand back
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and len(stopping) < 2:  # a second signal: kill now
            if not any(child.poll() is None or group_alive(child.pid) for child in children):
                break
            time.sleep(0.1)
        for child in children:
            kill_group(child.pid)
            child.wait()
        return code
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m worker.supervise [--gpus 0,1 | --slots 2] [--name worker]`: start the workers and wait on them."""
    import argparse

    parser = argparse.ArgumentParser(prog="contrastlab worker", description=__doc__.splitlines()[0])
    parser.add_argument("--gpus", default="", help="the host's GPUs, e.g. 0,1: one worker process per GPU; "
                        "runs of up to that many devices; empty: one worker")
    parser.add_argument("--slots", type=int, default=0, help="CPU device slots instead of GPUs (gloo processes)")
    parser.add_argument("--name", default="worker", help="worker name prefix (Celery node name); the preview "
                        "consumer is preview-NAME@host")
    args = parser.parse_args(argv)
    try:
        slots = parse_slots(args.gpus, args.slots)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # Local to this host (flock is not reliable on network volumes), removed when the workers end.
    slots_dir = Path(tempfile.mkdtemp(prefix="contrastlab-slots-")) if slots else None
    try:
        settings = get_settings()
        children = start_workers(settings, slots, args.name, slots_dir)
        print(f"started {len(children)} worker process(es): " + ", ".join(f"pid {c.pid}" for c in children),
              file=sys.stderr)
        return supervise(children, settings.worker_stop_seconds,
                         functools.partial(start_preview_consumer, settings, dict(os.environ), args.name))
    finally:
        if slots_dir is not None:
            shutil.rmtree(slots_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
