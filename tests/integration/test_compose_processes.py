"""The commands docker-compose.yml runs, started as local processes against the local PostgreSQL and Redis.

`docker-compose config` resolves the file (secrets, WORKER_GPUS=0,1); the api and worker services' own
commands and environments are started here, with only the addresses swapped for local ones. Runs go
through them end to end; the two GPU worker processes share one queue, each with its own device.
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from contrastlab import Client
from contrastlab.queue import make_celery
from tests.conftest import postgres_database
from tests.integration.conftest import _redis_url
from tests.stack import Stack, post_preview
from tests.unit.test_deploy import SECRETS, resolved_compose

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent
TINY = {"method": "simclr", "dataset": "digits", "epochs": 1, "batch_size": 128, "probe_epochs": 5,
        "tsne_samples": 50, "random_baseline": False, "max_train_samples": 300}


def local(command: list[str]) -> list[str]:
    """The container's `contrastlab ...` is this virtualenv's console script."""
    return [str(BIN / command[0]), *command[1:]]


def localised(env: dict[str, str], stack: Stack, data_dir: Path) -> dict[str, str]:
    """The service's environment with the compose host names swapped for this machine's services."""
    swaps = {"BROKER_URL": stack.env["BROKER_URL"], "API_URL": stack.url, "DATA_DIR": str(data_dir),
             "QUEUE": stack.env["QUEUE"], "PORT": str(stack.port), "HOSTNAME": socket.gethostname()}
    if "DATABASE_URL" in env:
        swaps["DATABASE_URL"] = stack.env["DATABASE_URL"]
    return {**{k: str(v) for k, v in env.items()}, **swaps}


def children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode(errors="replace").split("=", 1) for item in raw if b"=" in item)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return resolved_compose(WORKER_GPUS="0,1")["services"]


@pytest.fixture(scope="module")
def deployed(compose: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """api and worker as compose starts them, on PostgreSQL and Redis."""
    with contextlib.closing(postgres_database()) as database:
        stack = Stack(tmp_path_factory.mktemp("compose") / "data", broker_url=_redis_url(),
                      database_url=next(database), API_TOKEN=SECRETS["API_TOKEN"])
        try:
            api_env = localised(compose["api"]["environment"], stack, stack.data_dir / "api")
            stack.api = stack._spawn(local(compose["api"]["command"]), "api.log", **api_env)
            _wait_healthy(stack)
            worker_env = localised(compose["worker"]["environment"], stack, stack.data_dir / "worker")
            worker_env["OMP_NUM_THREADS"] = "1"  # two training processes on this machine's two cores
            stack.workers.append(stack._spawn(local(compose["worker"]["command"]), "worker.log", **worker_env))
            yield stack
        finally:
            stack.stop()
            print(stack.all_logs())


def _wait_healthy(stack: Stack) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert stack.api is not None and stack.api.poll() is None, stack.log("api.log")
        with contextlib.suppress(httpx.TransportError):
            if stack.http.get("/api/health").status_code == 200:
                return
        time.sleep(0.3)
    raise TimeoutError(stack.log("api.log"))


def _wait_for_log(stack: Stack, name: str, pattern: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if re.search(pattern, (stack.logs / name).read_text(errors="replace")):
            return
        time.sleep(0.3)
    raise TimeoutError(f"{pattern!r} not in {name}:\n{stack.all_logs()}")


def test_one_worker_process_per_gpu_with_its_own_device(deployed, compose):
    assert compose["worker"]["command"][-2:] == ["--gpus", "0,1"]
    supervisor = deployed.workers[0].pid
    for gpu in ("0", "1"):
        _wait_for_log(deployed, "worker.log", rf"worker-gpu{gpu}@\S+ ready")
    children = children_of(supervisor)
    # The two GPU workers and the preview consumer beside them, which sees no GPU.
    assert sorted(environ(pid).get("CUDA_VISIBLE_DEVICES", "") for pid in children) == ["", "0", "1"]
    commands = {Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode() for pid in children}
    assert any("--hostname worker-gpu0@%h" in c for c in commands) and any("worker-gpu1@%h" in c for c in commands)
    assert any("--hostname preview-worker@%h" in c and "--pool solo" in c for c in commands)


def test_the_worker_service_draws_previews(deployed):
    """The form's preview works under compose: the worker service's preview consumer draws it."""
    deployed.wait_until("the preview consumer to beat", lambda: any(
        w["role"] == "previews" and w["status"] == "online" for w in deployed.get("/api/workers")["items"]))
    response = post_preview(deployed.http, {"spec": {"dataset": "digits"}, "images": 2})
    assert response.status_code == 200 and response.headers["content-type"] == "image/png", response.text


def test_the_worker_healthcheck_pings_this_containers_worker(deployed, compose):
    _wait_for_log(deployed, "worker.log", r"worker-gpu0@\S+ ready")
    check = compose["worker"]["healthcheck"]["test"]
    assert check[0] == "CMD-SHELL"
    env = localised(compose["worker"]["environment"], deployed, deployed.data_dir / "worker")
    result = subprocess.run(["sh", "-c", check[1].replace("$$", "$")], cwd=deployed.data_dir.parent,
                            env={**deployed.env, **env, "PATH": f"{BIN}:/usr/bin:/bin"}, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "pong" in result.stdout


class TaskEvents(threading.Thread):
    """What Flower sees: Celery's task events on the broker, collected until stop()."""

    def __init__(self, stack: Stack) -> None:
        super().__init__(daemon=True)
        self.app = make_celery(stack.env["BROKER_URL"], stack.data_dir, stack.env["QUEUE"])
        self.seen: list[dict[str, Any]] = []
        self.ready = threading.Event()
        self.receiver: Any = None

    def run(self) -> None:
        with self.app.connection_for_read() as connection:
            self.receiver = self.app.events.Receiver(connection, handlers={"*": self.seen.append})
            self.ready.set()
            self.receiver.capture(limit=None, timeout=None, wakeup=False)

    def stop(self) -> None:
        self.receiver.should_stop = True
        self.join(timeout=10)


def test_runs_share_the_queue_across_both_gpu_workers_on_postgres(deployed):
    for gpu in ("0", "1"):
        _wait_for_log(deployed, "worker.log", rf"worker-gpu{gpu}@\S+ ready")
    events = TaskEvents(deployed)
    events.start()
    assert events.ready.wait(10)
    time.sleep(1.0)  # the receiver's queue is bound before the first task is sent
    with Client(deployed.url, SECRETS["API_TOKEN"]) as client:
        assert client.health()["database"] == "postgresql"
        runs = [client.submit({**TINY, "name": f"shared {i}", "seed": i}) for i in range(3)]
        finals = [client.wait(run.id) for run in runs]
        assert [r.status for r in finals] == ["succeeded"] * 3, deployed.all_logs()
        slots = {entry.text.split()[2] for run in runs for entry in client.log(run.id)
                 if entry.text.startswith("device slots ")}
    events.stop()

    # Both GPUs took runs: each run's log names the device slot (GPU) it held.
    assert slots == {"0", "1"}, slots

    kinds = {event["type"] for event in events.seen}
    assert {"task-sent", "task-received", "task-started", "task-succeeded"} <= kinds, kinds
    assert {e["hostname"].split("@")[0] for e in events.seen if e["type"] == "task-succeeded"} >= \
        {"worker-gpu0", "worker-gpu1"}

    _check_metrics_and_json_logs(deployed, runs[0].id)


def _check_metrics_and_json_logs(stack: Stack, run_id: int) -> None:
    text = stack.http.get("/metrics").text
    found = {(s.name, tuple(s.labels.items())): s.value for f in text_string_to_metric_families(text)
             for s in f.samples}
    assert found[("contrastlab_runs", (("status", "succeeded"),))] == 3
    assert found[("contrastlab_queue_length", ())] == 0
    assert found[("contrastlab_metric_points_received_total", ())] > 0
    for name in ("api.log", "worker.log"):  # LOG_FORMAT=json, as compose sets it
        log = (stack.logs / name).read_text(errors="replace")
        lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
        assert any(line.get("run_id") == run_id for line in lines), f"no JSON line of run {run_id} in {name}"
        assert SECRETS["API_TOKEN"] not in log  # the token is never logged


def test_sigterm_stops_every_gpu_worker_and_exits_cleanly(deployed):
    """`docker compose stop` sends SIGTERM to the supervisor only; it passes it on and waits for the two workers and
    the preview consumer."""
    supervisor = deployed.workers[0]
    children = children_of(supervisor.pid)
    assert len(children) == 3
    supervisor.send_signal(signal.SIGTERM)
    assert supervisor.wait(timeout=60) == 0
    assert not [pid for pid in children if Path(f"/proc/{pid}").exists()]
