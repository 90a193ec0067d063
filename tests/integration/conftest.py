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


@pytest.fixture(params=["redis", "embedded", "redis+postgres"])
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    """The API, one worker, and the broker and database of each supported kind."""
    broker = _redis_url() if request.param.startswith("redis") else ""
    if request.param.endswith("postgres"):
        with contextlib.closing(postgres_database()) as database:  # dropped at the end
            yield from _stack(tmp_path, broker, next(database))
    else:
        yield from _stack(tmp_path, broker, "")


def _stack(tmp_path: Path, broker: str, database_url: str) -> Iterator[Stack]:
    stack = Stack(tmp_path / "data", broker_url=broker, database_url=database_url)
    try:
        stack.start_api()
        stack.start_worker()
        yield stack
    finally:
        stack.stop()
        print(stack.all_logs())  # shown by pytest only when the test failed


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
    stack = Stack(tmp_path_factory.mktemp("faults") / "data", broker_url=redis_server.url, **FAULT_SETTINGS)
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
