"""A stopped API exits although a browser still holds an event stream open."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from backend.launch import GRACEFUL_SHUTDOWN_S
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
