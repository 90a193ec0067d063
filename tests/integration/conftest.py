"""The real stack: uvicorn, a Celery worker, and Redis (or the embedded broker)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.conftest import postgres_database
from tests.stack import REDIS_TEST_URL, RedisServer, Stack


def _redis_url() -> str:
    client = redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        pytest.fail(f"Redis is not reachable at {REDIS_TEST_URL} ({exc}); start it (see .ci/run)")
    return REDIS_TEST_URL


KINDS = ["redis", "embedded", "redis+postgres"]
# One thread per torch op: the worker shares two cores with the API and pytest; one thread trains faster there.
WORKER_ENV = {"OMP_NUM_THREADS": "1"}


class Stacks:
    """The API, one worker and its preview consumer of each kind (broker and database), started on first use and
    kept for the session: the tests that share them only submit runs and read them back by id, never kill or
    restart a process."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.started: dict[str, Stack] = {}
        self._closing = contextlib.ExitStack()

    def get(self, kind: str) -> Stack:
        if kind not in self.started:
            broker = _redis_url() if kind.startswith("redis") else ""
            database = self._closing.enter_context(contextlib.closing(postgres_database())) \
                if kind.endswith("postgres") else None
            stack = Stack(self.folder / kind.replace("+", "-") / "data", broker_url=broker,
                          database_url=next(database) if database else "", **WORKER_ENV)
            self._closing.callback(stack.stop)  # before its database is dropped (callbacks run last first)
            stack.start_api()
            stack.start_worker()
            stack.start_preview_consumer()  # as `make run` and `contrastlab worker` start one beside their workers
            self.started[kind] = stack
        return self.started[kind]

    def close(self) -> None:
        self._closing.close()


@pytest.fixture(scope="session")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stacks]:
    shared = Stacks(tmp_path_factory.mktemp("stacks"))
    try:
        yield shared
    finally:
        shared.close()


@pytest.fixture(params=KINDS)
def stack(request: pytest.FixtureRequest, stacks: Stacks) -> Iterator[Stack]:
    """The API, one worker, and the broker and database of each supported kind; shared by every test that asks
    for that kind (tests that kill or restart processes start their own: the fault stack, test_shutdown)."""
    shared = stacks.get(request.param)
    yield shared
    print(shared.all_logs())  # shown by pytest only when a test failed


# -- the fault-injection stack (tests/integration/test_faults_*.py) ------------------------------------------

FAULT_TOKEN = "fault-stack-token-5be1c0de"  # the tests check that no log ever shows it
FAULT_SETTINGS = {"LEASE_SECONDS": "3", "RECONCILE_SECONDS": "0.5", "REQUEUE_AFTER_SECONDS": "3",
                  "MAX_ATTEMPTS": "3", "API_TOKEN": f"{FAULT_TOKEN},a-second-accepted-token",
                  # Two cores shared by every process of the suite: one thread each trains ~6x faster than two.
                  "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A private Redis the fault tests may restart (the shared one on 6379 is left alone)."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def fault_stack(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer) -> Iterator[Stack]:
    """One API (short lease, fast reconciler, tokens on) on the private Redis; each test starts its workers."""
    stack = Stack(tmp_path_factory.mktemp("faults") / "data", broker_url=redis_server.url,
                  ALLOWED_DATA_ROOTS=str(tmp_path_factory.mktemp("images")), **FAULT_SETTINGS)
    try:
        stack.start_api()
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def faults(fault_stack: Stack) -> Iterator[Stack]:
    """The fault stack; the workers a test starts are killed after it, and the logs shown if it failed."""
    started = len(fault_stack.workers)
    yield fault_stack
    for worker in fault_stack.workers[started:]:
        fault_stack.kill(worker)
    print(fault_stack.all_logs())
