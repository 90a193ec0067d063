"""Stopping: a stopped API exits although a browser still holds an event stream open, and `make run` leaves no
worker process behind: on Ctrl-C, on SIGTERM to its process group (as a supervisor sends it) while a run trains,
several times over one data dir, with the run handed back each time and finished by the next start; on SIGHUP;
and when the launcher itself is killed outright. The preview consumer it starts beside its worker goes too."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from contrastlab.core.catalog import Status
from contrastlab.core.settings import Settings
from contrastlab.launch import GRACEFUL_SHUTDOWN_S
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
        assert len(worker_processes) >= 3, worker_processes  # the worker, its pool process, the preview consumer
        stack.api.send_signal(signal.SIGINT)  # Ctrl-C on `make run`
        try:
            stack.api.wait(timeout=GRACEFUL_SHUTDOWN_S + Settings().worker_stop_seconds + 30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"`make run` still runs after Ctrl-C:\n{stack.all_logs()}")
        assert alive(worker_processes) == set(), stack.all_logs()
    finally:
        stack.stop()


GONE_S = 40  # after the signal, nothing of the tree may be left (the worker's grace is WORKER_STOP_SECONDS, 30 s)
STOPS = 5  # SIGTERMs in a row, each while a run trains
# A run of a few seconds that hands back and resumes: still training when the signal comes, soon done after.
SHORT = {"dataset": "digits", "epochs": 4, "batch_size": 32, "max_train_samples": 256, "probe_epochs": 5,
         "tsne_samples": 20, "random_baseline": False}


def training(stack: Stack, run_id: int) -> set[int]:
    """Wait until the run trains (a metric point stored); return the launcher's process tree, seen from /proc."""
    stack.wait(run_id, {Status.RUNNING}, timeout=180)
    stack.wait_until(f"run {run_id} trains", lambda: stack.points(run_id), timeout=120)
    assert stack.api is not None
    tree = descendants(stack.api.pid)
    assert len(tree) >= 3, tree  # Celery's main process and its pool process, and the preview consumer
    assert any(b"preview-worker1@" in command(pid) for pid in tree), tree
    return tree


def command(pid: int) -> bytes:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    return b""


def stopped(stack: Stack, tree: set[int], sig: int) -> None:
    """`sig` to the launcher's process group (`make run`'s, as a supervisor sends it): the launcher ends, killed by
    that signal, and no process of its tree is alive GONE_S after the signal."""
    assert stack.api is not None
    sent = time.monotonic()
    os.killpg(stack.api.pid, sig)
    try:
        code = stack.api.wait(timeout=GONE_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`make run` still runs {GONE_S} s after {signal.Signals(sig).name}:\n{stack.all_logs()}")
    while alive(tree) and time.monotonic() - sent < GONE_S:
        time.sleep(0.2)
    assert alive(tree) == set(), f"left running after {signal.Signals(sig).name}: {alive(tree)}\n{stack.all_logs()}"
    assert code == -sig, stack.log("api.log")


def stored_run(data_dir: Path, run_id: int) -> dict[str, Any]:
    """The run's row, read from the database while nothing serves it."""
    url = Settings(data_dir=data_dir).resolved_database_url
    with contextlib.closing(sqlite3.connect(url.split(":///", 1)[1])) as db:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT status, requeue_reason, lost_leases FROM runs WHERE id = ?", (run_id,)).fetchone()
    return dict(row)


def test_sigterm_to_make_runs_group_while_training_stops_everything_and_hands_the_run_back(tmp_path: Path) -> None:
    """Five times over one data dir: start, train, SIGTERM to the group; the tree is gone, the run queued again
    (handed back, not lost), and the next start finishes it. The last start ends on SIGHUP (a closed terminal)."""
    stack = Stack(tmp_path / "data")
    try:
        handed_back: int | None = None
        for _ in range(STOPS):
            stack.start_api(with_worker=True)
            if handed_back is not None:
                assert stack.wait(handed_back, {Status.SUCCEEDED, Status.FAILED}, timeout=300)["status"] == \
                    Status.SUCCEEDED, stack.all_logs()
            run = stack.submit(**SHORT)
            stopped(stack, training(stack, run["id"]), signal.SIGTERM)
            row = stored_run(stack.data_dir, run["id"])
            # handed back by its worker (not found lost by the reconciler); pytest.fail prints the logs whole
            if not (row["status"] == Status.QUEUED and row["requeue_reason"] and row["lost_leases"] == 0):
                pytest.fail(f"run {run['id']} not handed back: {row}\n{log_tail(stack)}")
            handed_back = run["id"]
        stack.start_api(with_worker=True)
        assert handed_back is not None
        assert stack.wait(handed_back, {Status.SUCCEEDED, Status.FAILED}, timeout=300)["status"] == Status.SUCCEEDED
        assert stack.api is not None
        stopped(stack, descendants(stack.api.pid), signal.SIGHUP)
        # The worker was idle: its pool process outlived the signal and ended with its pool, not killed by it.
        if "exited with 'signal" in launcher_log(stack):
            pytest.fail(f"a pool process was killed by the stop:\n{log_tail(stack)}")
    finally:
        stack.stop()


def launcher_log(stack: Stack) -> str:
    """The launcher's output since its last start: its API's, its worker's and its preview consumer's."""
    return (stack.logs / "api.log").read_text(errors="replace").rsplit("ContrastLab on http", 1)[-1]


def log_tail(stack: Stack, chars: int = 30_000) -> str:
    """The end of the launcher's output, longer than a failed assertion shows (pytest.fail prints it whole)."""
    return (stack.logs / "api.log").read_text(errors="replace")[-chars:]


def test_a_killed_launcher_takes_its_worker_and_the_workers_children_with_it(tmp_path: Path) -> None:
    """With its API gone too, the worker's warm shutdown cannot hand the run back: it is killed after its grace
    (WORKER_STOP_SECONDS, lowered here from 30 s to keep the test short)."""
    stack = Stack(tmp_path / "data", WORKER_STOP_SECONDS="3")
    try:
        stack.start_api(with_worker=True)
        run = stack.submit(**{**SHORT, "epochs": 500})
        tree = training(stack, run["id"])
        assert stack.api is not None
        killed = time.monotonic()
        stack.api.kill()  # the launcher alone, as the OOM killer or `kill -9 <pid>` does
        stack.api.wait()
        while alive(tree) and time.monotonic() - killed < GONE_S:
            time.sleep(0.2)
        assert alive(tree) == set(), f"left running after the launcher was killed: {alive(tree)}\n{stack.all_logs()}"
    finally:
        stack.stop()
