"""Start the real service as local processes: uvicorn (the API) and Celery workers.

The same commands the compose services and `make run` start; used by the
integration and browser tests.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Coroutine, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx

from contrastlab.core import paths

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent
# Database 15, and under pytest-xdist one database per worker (gw0: 15, gw1: 14, ...), so workers never share one.
_XDIST = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
# TEST_REDIS_URL set but empty (`TEST_REDIS_URL= make test`) means the default too, not a URL of "".
REDIS_TEST_URL = os.environ.get("TEST_REDIS_URL") or f"redis://127.0.0.1:6379/{15 - int(_XDIST or 0) % 8}"


def parse_sse(lines: Iterable[str]) -> Iterator[tuple[int | None, str, dict[str, Any]]]:
    """(id, event, data) for each event in a Server-Sent Events stream; comments are skipped."""
    event_id, event, data = None, "", ""
    for line in lines:
        if line.startswith("id: "):
            event_id = int(line[4:])
        elif line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            data = line[6:]
        elif line == "" and event:
            yield event_id, event, json.loads(data)
            event_id, event, data = None, "", ""


def run_coroutine(coroutine: Coroutine[Any, Any, T]) -> T:
    """asyncio.run in a thread of its own: in the whole suite, the browser tests' Playwright keeps an event
    loop running in the main thread, where asyncio.run refuses to start."""
    with concurrent.futures.ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, coroutine).result()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def post_preview(http: httpx.Client, body: dict[str, Any], tries: int = 3) -> httpx.Response:
    """POST an augmentation preview, again on a 503 (its text says "try again"), as a user would: a preview
    consumer's first preview imports torch and the dataset, which on a loaded 2-core machine outlasts the route's
    30 s. Any other answer, or the last 503, is returned."""
    for _ in range(tries):
        response = http.post(paths.PREVIEW_AUGMENTATIONS, json=body, timeout=60)
        if response.status_code != 503:
            break
    return response


class Stack:
    """An API process and any number of worker processes sharing one data dir and broker."""

    def __init__(self, data_dir: Path, broker_url: str = "", database_url: str = "", **env: str) -> None:
        """env: more settings for every process, e.g. LEASE_SECONDS="3" or API_TOKEN="..."."""
        self.data_dir, self.port = data_dir, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.logs = data_dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.env = dict(os.environ, DATA_DIR=str(data_dir), PORT=str(self.port), HOST="127.0.0.1",
                        API_URL=self.url, BROKER_URL=broker_url, REDIS_URL="", DATABASE_URL=database_url,
                        QUEUE=f"test-{uuid.uuid4().hex[:8]}", PYTHONUNBUFFERED="1", **{"API_TOKEN": "", **env})
        self.api: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        token = self.env["API_TOKEN"].split(",")[0]
        self.http = httpx.Client(base_url=self.url, timeout=30,
                                 headers={"X-Requested-With": "tests",
                                          **({"Authorization": f"Bearer {token}"} if token else {})})

    def _spawn(self, args: list[str], log_name: str, **env: str) -> subprocess.Popen[bytes]:
        log = (self.logs / log_name).open("ab")
        return subprocess.Popen(args, cwd=ROOT, env={**self.env, **env}, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)

    def start_api(self, with_worker: bool = False) -> None:
        """`make run`'s process; with_worker: with the worker it starts beside the API, as `make run` does."""
        self.api = self._spawn([sys.executable, "-m", "contrastlab.launch"], "api.log",
                               START_WORKER="1" if with_worker else "0")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.api.poll() is not None:
                raise RuntimeError(f"API exited with {self.api.returncode}:\n{self.log('api.log')}")
            try:
                if self.http.get("/api/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"API not healthy after 60 s:\n{self.log('api.log')}")

    def start_worker(self, name: str = "worker1", fault: str = "", **env: str) -> subprocess.Popen[bytes]:
        """A Celery worker process; fault="nan@12" or "oom@12" makes its training fail at that step."""
        from contrastlab.core.settings import Settings
        from contrastlab.queue import worker_command

        settings = Settings(data_dir=self.data_dir, queue=self.env["QUEUE"])
        command = worker_command(settings, name)
        if fault:
            command = [sys.executable, "-c", "import tests.stack as s; s.faulty_worker()", *command[5:]]
        worker = self._spawn(command, f"{name}.log", FAULT=fault, **env)
        self.workers.append(worker)
        return worker

    def start_preview_consumer(self, name: str = "worker1", **env: str) -> subprocess.Popen[bytes]:
        """The preview consumer `make run` and `contrastlab worker` start beside their workers
        (`preview-<name>@host`: the preview queue only, solo pool, CPU only)."""
        from contrastlab.core.settings import Settings
        from contrastlab.queue import PREVIEW_ENV, preview_command

        settings = Settings(data_dir=self.data_dir, queue=self.env["QUEUE"])
        consumer = self._spawn(preview_command(settings, name), f"preview-{name}.log", **{**PREVIEW_ENV, **env})
        self.workers.append(consumer)
        return consumer

    def kill(self, proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL, group: bool = True) -> None:
        """Signal a process (with its children when group): SIGKILL is a crash, SIGTERM a shutdown."""
        if proc.poll() is None:
            os.killpg(proc.pid, sig) if group else os.kill(proc.pid, sig)
        if sig == signal.SIGKILL:
            proc.wait()

    def get(self, path: str, **params: Any) -> Any:
        response = self.http.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()

    def points(self, run_id: int) -> list[dict[str, Any]]:
        return list(self.get(f"/api/runs/{run_id}/metrics", limit=10000)["items"])

    def log_entries(self, run_id: int) -> list[dict[str, Any]]:
        return list(self.get(f"/api/runs/{run_id}/log", limit=10000)["items"])

    def artifact_names(self, run_id: int) -> set[str]:
        return {a["name"] for a in self.get(f"/api/runs/{run_id}/artifacts")["items"]}

    def wait_until(self, what: str, check: Callable[[], Any], timeout: float = 120) -> Any:
        """Poll check() until it returns something truthy; that value is returned."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            time.sleep(0.1)
        raise TimeoutError(f"not within {timeout} s: {what}\n{self.all_logs()}")

    def log(self, name: str) -> str:
        path = self.logs / name
        return path.read_text(errors="replace")[-5000:] if path.exists() else ""

    def all_logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{self.log(p.name)}" for p in sorted(self.logs.glob("*.log")))

    def submit(self, **spec: Any) -> dict[str, Any]:
        response = self.http.post("/api/runs", json=spec)
        assert response.status_code == 201, response.text
        return response.json()

    def wait(self, run_id: int, statuses: set[str], timeout: float = 300) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.http.get(f"/api/runs/{run_id}").json()
            if run["status"] in statuses:
                return run
            time.sleep(0.25)
        raise TimeoutError(f"run {run_id} still {run['status']} after {timeout} s\n{self.all_logs()}")

    def follow(self, run_id: int, timeout: float = 300) -> Iterator[tuple[float, str, dict[str, Any]]]:
        """Yield (receipt time, event, data) from the SSE stream until `end`."""
        with self.http.stream("GET", f"/api/runs/{run_id}/events", timeout=httpx.Timeout(timeout)) as response:
            for _, event, data in parse_sse(response.iter_lines()):
                yield time.time(), event, data
                if event == "end":
                    return

    def stop(self) -> None:
        """Workers first (a run in flight is handed back to the API, which must still answer), then the API."""
        for group in (self.workers, [self.api]):
            for proc in group:
                if proc is not None and proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGTERM)
            for proc in group:
                if proc is None:
                    continue
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        self.http.close()


class RedisServer:
    """A private redis-server (no persistence) that a test may stop and restart without disturbing others."""

    def __init__(self, folder: Path, binary: str = "/usr/bin/redis-server") -> None:
        self.folder, self.binary, self.port = folder, binary, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)

    def start(self) -> None:
        import redis

        log = (self.folder / "redis.log").open("ab")
        self.proc = subprocess.Popen([self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(self.folder)],
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        for _ in range(100):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()  # as a crash: nothing is saved (and no persistence is configured anyway)
            self.proc.wait()


def faulty_worker() -> None:
    """A real Celery worker whose loss turns NaN ("nan@STEP") or runs out of memory ("oom@STEP"), or whose
    DataLoader workers never finish reading an image file named stall* ("stall", as a hung disk), from $FAULT."""
    import dataclasses

    import torch

    from worker.engine.losses import LOSSES
    from worker.main import app

    kind, _, at = os.environ["FAULT"].partition("@")
    if kind == "stall":
        _stall_reads()
        app.worker_main(sys.argv[1:])
        return
    calls = {"n": 0}
    for method, objective in list(LOSSES.items()):
        def loss(outputs: Any, labels: Any, spec: Any, _inner: Any = objective.loss) -> Any:
            calls["n"] += 1
            value = _inner(outputs, labels, spec)
            if calls["n"] >= int(at):
                if kind == "oom":
                    raise torch.OutOfMemoryError("CUDA out of memory (injected by the test)")
                return value * float("nan")
            return value
        LOSSES[method] = dataclasses.replace(objective, loss=loss)
    app.worker_main(sys.argv[1:])


def _stall_reads() -> None:
    """Image files named stall* are never read: their reader sleeps (forked processes inherit the patch)."""
    from worker.engine import stream

    read = stream.read_bytes

    def stalling(path: str | Path) -> Any:
        if Path(path).name.startswith("stall"):
            time.sleep(3600)
        return read(path)

    stream.read_bytes = stalling
