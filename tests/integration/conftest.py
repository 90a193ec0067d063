"""The real stack: uvicorn, a Celery worker, and Redis (or the embedded broker)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.conftest import postgres_database
from tests.stack import REDIS_TEST_URL, Stack


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
