"""The real stack: uvicorn, a Celery worker, and Redis (or the embedded broker)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.stack import REDIS_TEST_URL, Stack


def _redis_url() -> str:
    client = redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        pytest.fail(f"Redis is not reachable at {REDIS_TEST_URL} ({exc}); start it (see .ci/run)")
    return REDIS_TEST_URL


@pytest.fixture(params=["redis", "embedded"])
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    broker = _redis_url() if request.param == "redis" else ""
    stack = Stack(tmp_path / "data", broker_url=broker)
    try:
        stack.start_api()
        stack.start_worker()
        yield stack
    finally:
        stack.stop()
        print(stack.all_logs())  # shown by pytest only when the test failed
