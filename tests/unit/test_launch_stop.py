"""`make run` and `contrastlab worker` stop their workers' whole process groups: a main process stuck in warm
shutdown and its pool child (both deaf to SIGTERM here) are killed after the grace period, never left running;
and a process started to die with its parent does so even if the parent died first."""

from __future__ import annotations

import functools
import signal
import subprocess
import sys
import time
from pathlib import Path

from contrastlab.launch import stop_workers
from contrastlab.queue import die_with_parent
from worker.supervise import supervise

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


def test_workers_deaf_to_sigterm_are_killed_with_their_pools_after_the_grace(tmp_path: Path) -> None:
    """The worker and the preview consumer beside it, each in a session of its own as `make run` starts them."""
    pid_files = [tmp_path / "worker.pid", tmp_path / "preview.pid"]
    workers = [subprocess.Popen([sys.executable, "-c", DEAF, str(pid_file)], start_new_session=True)
               for pid_file in pid_files]
    deadline = time.monotonic() + 30
    while not all(pid_file.exists() and pid_file.read_text() for pid_file in pid_files):
        assert time.monotonic() < deadline, "the children never started"
        time.sleep(0.05)
    children = [int(pid_file.read_text()) for pid_file in pid_files]
    stop_workers(workers, grace=1.0)
    assert all(worker.returncode is not None for worker in workers)
    deadline = time.monotonic() + 10
    while any(running(child) for child in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(running(child) for child in children), "a pool process outlived `make run`"


def wait_gone(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not running(pid)


def test_contrastlab_worker_kills_what_is_left_of_each_workers_group_after_the_grace(tmp_path: Path) -> None:
    """One worker ends (its code is returned); the other, deaf to SIGTERM with a deaf pool child, each in its own
    session as `contrastlab worker` starts them, is killed with its child after the grace."""
    pid_file = tmp_path / "child.pid"
    deaf = subprocess.Popen([sys.executable, "-c", DEAF, str(pid_file)], start_new_session=True)
    deadline = time.monotonic() + 30
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline, "the child never started"
        time.sleep(0.05)
    ending = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"], start_new_session=True)
    assert supervise([deaf, ending], grace_s=1.0) == 3
    assert deaf.returncode is not None
    assert wait_gone(int(pid_file.read_text())), "the pool process outlived `contrastlab worker`"


def test_a_child_whose_parent_died_before_it_asked_to_die_with_it_stops_at_once() -> None:
    """die_with_parent(parent) in a child whose parent is not (or no longer) `parent`: SIGTERM now, as the kernel
    would never send it."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                             preexec_fn=functools.partial(die_with_parent, 1))  # pid 1 is not this test's pid
    assert child.wait(timeout=30) == -signal.SIGTERM
