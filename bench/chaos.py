"""Chaos soak: a study of short runs on Redis with two workers while processes die, Redis and the API restart and the
disk fills to its floor; then every run, point, artifact and process is checked.

    .venv/bin/python -m bench.chaos [--runs 40] [--epochs 4] [--kill 6] [--redis 3] [--api 3] [--disk 3] [--seed 0]

Everything is private to one temporary folder: a redis-server on its own port (never the shared one on 6379), the
API (`python -m contrastlab.launch`, SQLite) and two Celery workers (bench/chaos_worker.py: the real worker, which
also writes down each point and artifact it sends). The study's runs are digits with tiny epochs. At random moments
(after a random number of runs has ended, so the faults spread over the soak whatever the machine's speed) it:
- kill: SIGKILLs the training process of a running run (at most once per run);
- redis: kills the redis-server and starts an empty one on the same port (queued messages are lost);
- api: SIGKILLs the API and starts it again;
- disk: fills the data folder's filesystem past MIN_FREE_DISK_BYTES, holds it a few seconds, then removes the filler.
  The data folder is a tmpfs of its own (640 MiB, floor 192 MiB) where mounting is allowed; elsewhere the floor is set
  256 MiB below the real disk's free space at the start, and a filler larger than --fill-limit-mb is not written.
At the end it checks that every run succeeded or failed with a reason, that the database holds each metric point the
workers sent exactly once (bench/chaos_check.py), that each artifact's sha256 is that of its download and of the bytes
the worker sent, and that no process of the soak is left running; and prints the figures. Exit status 1 when a check
fails. The time printed is the machine's (other processes share its cores), never a pass mark.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.chaos_check import (
    PointCheck,
    Process,
    alive,
    check_artifacts,
    check_points,
    final_problems,
    read_attempt,
    read_attempts,
    tree,
)
from bench.chaos_worker import SENT_ENV, sent_file
from contrastlab.core import paths
from tests.stack import RedisServer, Stack

KINDS = ("kill", "redis", "api", "disk")
SETTINGS = {"LEASE_SECONDS": "10", "RECONCILE_SECONDS": "1", "REQUEUE_AFTER_SECONDS": "5", "MAX_ATTEMPTS": "5",
            "SUBMISSIONS_PER_MINUTE": "1000000",
            "OMP_NUM_THREADS": "1"}  # two cores shared by every process: one thread each trains fastest
# 192 digits in batches of 64: 3 steps an epoch, a checkpoint after each; evaluation kept small.
BASE = {"dataset": "digits", "encoder": "small_cnn", "batch_size": 64, "max_train_samples": 192, "probe_epochs": 5,
        "tsne_samples": 50, "random_baseline": False, "knn_every": 1000, "device": "cpu"}
DISK_MB = 640  # the data folder's own filesystem (a tmpfs) ...
FLOOR_MB = 192  # ... and its MIN_FREE_DISK_BYTES
HEADROOM = 256 * 2**20  # without a tmpfs: the floor sits this far below the real disk's free space at start
FILL_MARGIN = 32 * 2**20  # the filler goes this far below the floor


@dataclass
class Config:
    runs: int = 40
    epochs: int = 4
    faults: dict[str, int] = field(default_factory=lambda: {"kill": 6, "redis": 3, "api": 3, "disk": 3})
    seed: int = 0
    workers: int = 2
    fill_limit_mb: int = 1024
    hold_s: float = 4.0
    timeout_s: float = 13 * 60


@dataclass
class Report:
    runs: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    lost_leases: int = 0
    points: PointCheck = field(default_factory=PointCheck)
    artifacts: int = 0
    problems: list[str] = field(default_factory=list)
    processes: int = 0
    left_running: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems and self.left_running == 0

    def lines(self) -> list[str]:
        faults = ", ".join(f"{kind} {self.faults[kind]}" for kind in KINDS)
        statuses = ", ".join(f"{name} {count}" for name, count in sorted(self.statuses.items()))
        p = self.points
        return [f"runs: {self.runs} ({statuses})",
                f"faults injected: {faults}",
                f"retries: {self.retries} (attempts after the first; {self.lost_leases} lost leases)",
                f"points checked: {p.checked}; points lost: {p.lost}; duplicates: {p.duplicates}; "
                f"changed: {p.changed}; never sent (a last attempt cut short): {p.unsent}; unknown: {p.unknown}",
                f"artifacts checked: {self.artifacts}",
                f"processes: {self.processes} started, {self.left_running} left running",
                f"time: {self.seconds / 60:.1f} min",
                *(f"PROBLEM {line}" for line in self.problems[:30])]


class Soak:
    """The private Redis, API and workers of one soak, the faults it injects and what it saw."""

    def __init__(self, config: Config, folder: Path) -> None:
        self.config, self.folder = config, folder
        self.random = random.Random(config.seed)
        self.redis = RedisServer(folder / "redis")
        self.sent = folder / "sent"
        self.sent.mkdir(parents=True)
        data = folder / "data"
        data.mkdir()
        self.mounted = mount_tmpfs(data, DISK_MB)
        # On the real disk other processes move the free space: the floor is then only relative to the start.
        self.floor = FLOOR_MB * 2**20 if self.mounted else max(0, shutil.disk_usage(data).free - HEADROOM)
        self.stack = Stack(data, broker_url=self.redis.url, MIN_FREE_DISK_BYTES=str(self.floor),
                           **{SENT_ENV: str(self.sent)}, **SETTINGS)
        self.seen: set[Process] = set()
        self.killed: set[int] = set()
        self.report = Report()

    # -- processes -------------------------------------------------------------
    def start(self) -> None:
        self.redis.start()
        self.stack.start_api()
        for n in range(self.config.workers):
            self.start_worker(f"chaos{n + 1}")

    def start_worker(self, name: str) -> None:
        from contrastlab.core.settings import Settings
        from contrastlab.queue import worker_command

        command = worker_command(Settings(data_dir=self.stack.data_dir, queue=self.stack.env["QUEUE"]), name)
        # command[5:] is the Celery worker's arguments, after `python -m celery -A worker.main`
        self.stack.workers.append(self.stack._spawn([sys.executable, "-m", "bench.chaos_worker", *command[5:]],
                                                    f"{name}.log"))

    def roots(self) -> list[int]:
        procs = [self.stack.api, *self.stack.workers, self.redis.proc]
        return [p.pid for p in procs if p is not None and p.poll() is None]

    def watch(self) -> None:
        self.seen |= tree(self.roots())

    def stop(self) -> None:
        self.watch()
        self.stack.stop()
        self.redis.stop()
        if self.mounted:
            subprocess.run(["umount", "--lazy", str(self.stack.data_dir)], check=False)
        deadline = time.monotonic() + 20
        while alive(self.seen) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = alive(self.seen)
        self.report.processes, self.report.left_running = len(self.seen), len(left)
        self.report.problems += [f"process {pid} still running after the stop" for pid, _ in sorted(left)]

    # -- faults ----------------------------------------------------------------
    def kill(self, runs: list[dict[str, Any]]) -> str | None:
        """SIGKILL the training process of a running run not killed before; None when none can be now."""
        workers = tree([w.pid for w in self.stack.workers if w.poll() is None])
        candidates = [r for r in runs if r["status"] == "running" and r["id"] not in self.killed]
        self.random.shuffle(candidates)
        for run in candidates:
            path = sent_file(self.sent, run["id"], run["attempt"])
            attempt = read_attempt(path) if path.exists() else None
            if attempt is None or attempt.pid is None or not attempt.points:
                continue  # not training yet
            pid = attempt.pid
            if not any(p == pid for p, _ in workers):
                continue  # only a process of this soak's workers, never anyone else's
            os.kill(pid, signal.SIGKILL)
            self.killed.add(run["id"])
            return f"run {run['id']} attempt {run['attempt']} (pid {pid})"
        return None

    def restart_redis(self, runs: list[dict[str, Any]]) -> str:
        self.redis.stop()
        self.redis.start()
        return f"port {self.redis.port}"

    def restart_api(self, runs: list[dict[str, Any]]) -> str:
        assert self.stack.api is not None
        self.stack.kill(self.stack.api, signal.SIGKILL)
        began = time.monotonic()
        self.stack.start_api()
        return f"down {time.monotonic() - began:.1f} s"

    def fill_disk(self, runs: list[dict[str, Any]]) -> str | None:
        filler = self.stack.data_dir / "filler"
        need = shutil.disk_usage(self.stack.data_dir).free - self.floor + FILL_MARGIN
        if not 0 < need <= self.config.fill_limit_mb * 2**20:
            return None  # the disk moved too far since the start (other processes): not this time
        with filler.open("wb") as out:
            os.posix_fallocate(out.fileno(), 0, need)
        try:
            time.sleep(self.config.hold_s)
        finally:
            filler.unlink()
        return f"{need / 2**20:.0f} MiB for {self.config.hold_s:g} s"

    # -- the soak ----------------------------------------------------------------
    def submit(self) -> list[int]:
        half = (self.config.runs + 1) // 2
        body = {"name": "chaos soak", "base": {**BASE, "epochs": self.config.epochs},
                "axes": {"method": ["simclr", "supcon"]}, "seeds": list(range(half))}
        response = self.stack.http.post(paths.STUDIES, json=body)
        response.raise_for_status()
        return [run["id"] for run in response.json()["runs"]]

    def runs(self, ids: list[int]) -> list[dict[str, Any]] | None:
        """The runs as the API shows them; None while it does not answer (restarting)."""
        try:
            response = self.stack.http.get(paths.RUNS, params={"ids": ",".join(map(str, ids)), "limit": 500})
        except httpx.TransportError:
            return None
        return list(response.json()["items"]) if response.status_code == 200 else None

    def schedule(self) -> list[tuple[int, float, str]]:
        """(runs ended, extra delay, kind) for each fault: after a random number of runs ended, up to 3/4 of them
        and so that more than the workers' share is still to come (there is a run to kill)."""
        last = max(0, min(self.config.runs * 3 // 4, self.config.runs - self.config.workers - 1))
        plan = [(self.random.randint(0, last), self.random.uniform(0, 3), kind)
                for kind, count in self.config.faults.items() for _ in range(count)]
        return sorted(plan)

    def drive(self, ids: list[int], deadline: float) -> list[dict[str, Any]]:
        """Poll until every run has ended (or the deadline), injecting the faults as their moments come."""
        inject: dict[str, Callable[[list[dict[str, Any]]], str | None]] = {
            "kill": self.kill, "redis": self.restart_redis, "api": self.restart_api, "disk": self.fill_disk}
        plan, due_at = self.schedule(), None
        runs: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            self.watch()
            runs = self.runs(ids) or runs
            ended = sum(r["status"] in ("succeeded", "failed", "canceled") for r in runs)
            if runs and ended == len(ids):
                break
            if plan and ended >= plan[0][0]:
                due_at = due_at or time.monotonic() + plan[0][1]
                if time.monotonic() >= due_at:
                    kind = plan[0][2]
                    what = inject[kind](runs)
                    if what is not None or kind != "kill" or ended >= len(ids) - 1:
                        plan.pop(0)
                        due_at = None
                    if what is not None:
                        self.report.faults[kind] += 1
                        print(f"  {time.monotonic() - self.started:6.1f} s  {kind}: {what}", flush=True)
            time.sleep(0.5)
        return runs

    def run(self) -> Report:
        self.started = time.monotonic()
        try:
            self.start()
            ids = self.submit()
            runs = self.drive(ids, self.started + self.config.timeout_s)
            self.check(runs)
        finally:
            self.stop()
            self.report.seconds = time.monotonic() - self.started
        return self.report

    # -- the checks ----------------------------------------------------------------
    def check(self, runs: list[dict[str, Any]]) -> None:
        report = self.report
        report.runs = len(runs)
        attempts = read_attempts(self.sent)
        stored = stored_points(self.stack.data_dir / "contrastlab.db")
        for run in runs:
            report.statuses[run["status"]] += 1
            report.retries += run["attempt"] - 1
            report.lost_leases += run["lost_leases"]
            report.problems += final_problems(run)
            mine = attempts.get(run["id"], {})
            report.points.add(check_points(run["id"], mine, stored.get(run["id"], [])))
            listed = self.stack.get(paths.RUN_ARTIFACTS.format(run_id=run["id"]))["items"]
            downloaded = {item["name"]: hashlib.sha256(self.stack.http.get(item["url"]).content).hexdigest()
                          for item in listed}
            report.artifacts += len(listed)
            report.problems += check_artifacts(run["id"], mine, listed, downloaded)
        report.problems += report.points.problems


def mount_tmpfs(folder: Path, size_mb: int) -> bool:
    """A filesystem of its own for the data folder, so that filling it never touches the real disk and nothing
    else moves its free space; False where mounting is not allowed (the data folder then stays on the disk)."""
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(folder)],
                          capture_output=True, check=False)
    return done.returncode == 0


def stored_points(database: Path) -> dict[int, list[dict[str, Any]]]:
    """run id -> its metric points as the database holds them (every row, so a duplicate would show)."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT run_id, name, step, value FROM events WHERE kind = 'metric'").fetchall()
    points: dict[int, list[dict[str, Any]]] = {}
    for run_id, name, step, value in rows:
        points.setdefault(run_id, []).append({"name": name, "step": step, "value": value})
    return points


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=Config().epochs)
    for kind, count in Config().faults.items():
        parser.add_argument(f"--{kind}", type=int, default=count, help=f"{kind} faults to inject")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fill-limit-mb", type=int, default=1024)
    parser.add_argument("--timeout-min", type=float, default=13.0)
    args = parser.parse_args(argv)
    config = Config(runs=args.runs, epochs=args.epochs, faults={k: getattr(args, k) for k in KINDS},
                    seed=args.seed, fill_limit_mb=args.fill_limit_mb, timeout_s=args.timeout_min * 60)
    with tempfile.TemporaryDirectory(prefix="chaos-") as folder:
        print(f"chaos soak: {config.runs} runs, {config.workers} workers, private Redis and data in {folder}; "
              f"seed {config.seed}", flush=True)
        report = Soak(config, Path(folder)).run()
    print("\n".join(report.lines()))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
