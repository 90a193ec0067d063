"""Stopping: a stopped API exits although a browser still holds an event stream open, and `make run` leaves no
worker process behind."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from contrastlab.launch import GRACEFUL_SHUTDOWN_S, WORKER_STOP_S
from tests.stack import Stack

pytestmark = pytest.mark.integration


def test_sigterm_ends_the_api_with_an_event_stream_open(tmp_path: Path) -> None:
    stack = Stack(tmp_path / "data")
    try:
        stack.start_api()
        run = stack.http.post("/api/runs", json={"dataset": "digits", "epochs": 1}).json()
        with httpx.Client(base_url=stack.url, timeout=30) as viewer, \
                viewer.stream("GET", f"/api/runs/{run['id']}/events") as stream:
            assert stream.status_code == 200  # queued run: the stream stays open, as a browser tab's does
            assert stack.api is not None
            stopped_at = time.monotonic()
            stack.api.send_signal(signal.SIGTERM)
            try:
                code = stack.api.wait(timeout=GRACEFUL_SHUTDOWN_S + 20)
            except subprocess.TimeoutExpired:
                pytest.fail(f"the API still runs {GRACEFUL_SHUTDOWN_S + 20} s after SIGTERM:\n{stack.log('api.log')}")
        assert code is not None and "Application shutdown complete" in stack.log("api.log")
        assert time.monotonic() - stopped_at < GRACEFUL_SHUTDOWN_S + 20
    finally:
        stack.stop()


def descendants(pid: int) -> set[int]:
    """Every living process below `pid` (from /proc), zombies left out."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if fields[0] != "Z":
                    children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pids: set[int]) -> set[int]:
    living = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                living.add(pid)
    return living


def test_stopping_make_run_mid_training_leaves_no_worker_process(tmp_path: Path) -> None:
    stack = Stack(tmp_path / "data")
    try:
        stack.start_api(with_worker=True)
        run = stack.submit(dataset="digits", epochs=500, batch_size=64)
        stack.wait(run["id"], {"running"}, timeout=180)
        stack.wait_until("a few steps", lambda: stack.points(run["id"]), timeout=120)
        assert stack.api is not None
        worker_processes = descendants(stack.api.pid)
        assert len(worker_processes) >= 2, worker_processes  # Celery's main process and its pool process
        stack.api.send_signal(signal.SIGINT)  # Ctrl-C on `make run`
        try:
            stack.api.wait(timeout=GRACEFUL_SHUTDOWN_S + WORKER_STOP_S + 30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"`make run` still runs after Ctrl-C:\n{stack.all_logs()}")
        assert alive(worker_processes) == set(), stack.all_logs()
    finally:
        stack.stop()
