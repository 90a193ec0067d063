"""`contrastlab worker` (`python -m worker.supervise`): one Celery worker process per GPU, each on its own device.

Celery's guidance for GPUs is one process per device; CUDA_VISIBLE_DEVICES is set before the child starts, so
no process ever initialises a device that is not its own. The children die with this process (SIGTERM is
passed on; on Linux they also get SIGTERM if it is killed).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from types import FrameType

from contrastlab.core.settings import Settings, get_settings
from contrastlab.queue import die_with_parent, worker_command, worker_env


def parse_gpus(gpus: str) -> list[str]:
    """'0,1' → ['0', '1']; an empty string means one worker that sees the devices the environment gives it."""
    devices = [part.strip() for part in gpus.split(",") if part.strip()]
    bad = [device for device in devices if not device.isdigit() and not device.startswith(("GPU-", "MIG-"))]
    if bad:
        raise ValueError(f"--gpus {gpus!r}: {', '.join(bad)} is not a GPU index or UUID; write e.g. --gpus 0,1")
    if len(set(devices)) != len(devices):
        raise ValueError(f"--gpus {gpus!r} names a GPU twice; one worker per GPU")
    return devices


def start_workers(settings: Settings, devices: Sequence[str], name: str) -> list[subprocess.Popen[bytes]]:
    """One worker per device named `<name>-gpu<device>@host`, or a single `<name>@host` when no device is given."""
    plan: list[tuple[str | None, str]] = [(d, f"{name}-gpu{d}") for d in devices] or [(None, name)]
    return [subprocess.Popen(worker_command(settings, node), env=worker_env(settings, dict(os.environ), device),
                             preexec_fn=die_with_parent)
            for device, node in plan]


def supervise(children: Sequence[subprocess.Popen[bytes]], grace_s: float = 60.0) -> int:
    """Wait until a child exits or we are told to stop; then stop the rest. Returns the first exit code."""
    stopping: list[int] = []

    def stop(signum: int, _frame: FrameType | None) -> None:
        stopping.append(signum)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        while not stopping and all(child.poll() is None for child in children):
            time.sleep(0.2)
        code = next((child.returncode for child in children if child.returncode is not None), 0)
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)  # Celery's warm shutdown: the current run hands back
        deadline = time.monotonic() + grace_s
        for child in children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        return code
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m worker.supervise [--gpus 0,1] [--name worker]`: start the workers and wait on them."""
    import argparse

    parser = argparse.ArgumentParser(prog="contrastlab worker", description=__doc__.splitlines()[0])
    parser.add_argument("--gpus", default="", help="one worker process per GPU, e.g. 0,1; empty: one worker")
    parser.add_argument("--name", default="worker", help="worker name prefix (Celery node name)")
    args = parser.parse_args(argv)
    try:
        devices = parse_gpus(args.gpus)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    children = start_workers(get_settings(), devices, args.name)
    print(f"started {len(children)} worker process(es): " + ", ".join(f"pid {c.pid}" for c in children),
          file=sys.stderr)
    return supervise(children)


if __name__ == "__main__":
    sys.exit(main())
