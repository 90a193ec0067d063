"""Start the real service as local processes: uvicorn (the API) and Celery workers.

The same commands the compose services and `make run` start; used by the
integration and browser tests.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
REDIS_TEST_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Stack:
    """An API process and any number of worker processes sharing one data dir and broker."""

    def __init__(self, data_dir: Path, broker_url: str = "", database_url: str = "") -> None:
        self.data_dir, self.port = data_dir, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.logs = data_dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.env = dict(os.environ, DATA_DIR=str(data_dir), PORT=str(self.port), HOST="127.0.0.1",
                        API_URL=self.url, BROKER_URL=broker_url, REDIS_URL="", DATABASE_URL=database_url,
                        QUEUE=f"test-{uuid.uuid4().hex[:8]}", PYTHONUNBUFFERED="1")
        self.api: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self.http = httpx.Client(base_url=self.url, timeout=30)

    def _spawn(self, args: list[str], log_name: str, **env: str) -> subprocess.Popen[bytes]:
        log = (self.logs / log_name).open("ab")
        return subprocess.Popen(args, cwd=ROOT, env={**self.env, **env}, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)

    def start_api(self) -> None:
        self.api = self._spawn([sys.executable, "-m", "backend.launch"], "api.log", START_WORKER="0")
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

    def start_worker(self, name: str = "worker1") -> subprocess.Popen[bytes]:
        from backend.config import Settings
        from backend.launch import worker_command

        settings = Settings(data_dir=self.data_dir, queue=self.env["QUEUE"])
        worker = self._spawn(worker_command(settings, name), f"{name}.log")
        self.workers.append(worker)
        return worker

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
        for proc in [*self.workers, self.api]:
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in [*self.workers, self.api]:
            if proc is None:
                continue
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.http.close()
