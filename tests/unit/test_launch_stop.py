"""`make run` stops its worker's whole process group: a main process stuck in warm shutdown and its pool child
(both deaf to SIGTERM here) are killed after the grace period, never left running."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from contrastlab.launch import stop_worker

# A parent and a child that both ignore SIGTERM, as Celery's main process waiting on a pool process busy in an
# evaluation phase does; the child writes its pid so the test can watch it.
DEAF = """
import os, signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
open(sys.argv[1], "w").write(str(child.pid))
time.sleep(600)
"""


def running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_worker_deaf_to_sigterm_is_killed_with_its_pool_after_the_grace(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    worker = subprocess.Popen([sys.executable, "-c", DEAF, str(pid_file)], start_new_session=True)
    deadline = time.monotonic() + 30
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline, "the child never started"
        time.sleep(0.05)
    child = int(pid_file.read_text())
    stop_worker(worker, grace=1.0)
    assert worker.returncode is not None
    deadline = time.monotonic() + 10
    while running(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not running(child), "the pool process outlived `make run`"
