"""Redis restarted, the API restarted under a live SSE client, the broker down at submit: nothing is lost.

Each test prints the figures it measured (run pytest with -s or -rP to see them).
"""

from __future__ import annotations

import signal
import time

import httpx
import pytest

from backend.operations.broker_scan import pending_run_ids
from tests.integration.conftest import FAULT_TOKEN
from tests.integration.test_faults_workers import FAST, FINAL, entry, logged_at
from tests.stack import RedisServer, Stack, parse_sse

pytestmark = pytest.mark.integration


def waiting(server: RedisServer, queue: str) -> set[int]:
    """The run ids of the messages waiting in the queue."""
    return pending_run_ids(server.url, queue, {})


def test_redis_restart_loses_no_run_and_a_vanished_message_is_sent_again(faults: Stack,
                                                                         redis_server: RedisServer) -> None:
    faults.start_worker("through-restart")
    running = faults.submit(**FAST, epochs=5, name="running through a Redis restart")
    faults.wait_until("running", lambda: faults.get(f"/api/runs/{running['id']}")["status"] == "running")
    queued = faults.submit(**FAST, epochs=2, name="queued through a Redis restart")
    assert queued["id"] in waiting(redis_server, faults.env["QUEUE"])

    redis_server.stop()
    restarted_at = time.time()
    redis_server.start()  # empty: the queued run's message is gone
    assert queued["id"] not in waiting(redis_server, faults.env["QUEUE"])

    finals = [faults.wait(r["id"], FINAL, timeout=240) for r in (running, queued)]
    assert [f["status"] for f in finals] == ["succeeded", "succeeded"], finals
    assert [f["attempt"] for f in finals] == [1, 1]
    resent = entry(faults, queued["id"], "sent to the broker again")
    print(f"\nFAULT redis restart: running run kept its attempt and succeeded; the queued run's message vanished "
          f"and was sent again {logged_at(resent) - restarted_at:.1f} s after the restart "
          f"(REQUEUE_AFTER_SECONDS=3); runs lost 0")


def test_broker_down_at_submit_is_503_and_the_run_is_not_orphaned(faults: Stack,
                                                                  redis_server: RedisServer) -> None:
    redis_server.stop()
    try:
        started = time.monotonic()
        response = faults.http.post("/api/runs", json={**FAST, "epochs": 1})
        seconds = time.monotonic() - started
    finally:
        redis_server.start()
    assert response.status_code == 503 and "broker unavailable" in response.json()["detail"]
    newest = faults.get("/api/runs", limit=1)["items"][0]
    assert newest["status"] == "failed" and newest["error"].startswith("broker unavailable")
    print(f"\nFAULT broker down at submit: 503 after {seconds:.1f} s; run {newest['id']} recorded as failed "
          f"with the reason, not left queued")


def follow_across_api_restart(stack: Stack, run_id: int, restart_after: int) -> tuple[list[int], int, float]:
    """Follow the SSE stream as a browser does; SIGKILL and restart the API after some points, then
    reconnect with Last-Event-ID. Returns the metric ids received, the reconnects and the downtime."""
    received: list[int] = []
    last_id, reconnects, downtime = 0, 0, 0.0
    while True:
        headers = {"Last-Event-ID": str(last_id)} if last_id else {}
        try:
            with stack.http.stream("GET", f"/api/runs/{run_id}/events", headers=headers,
                                   timeout=httpx.Timeout(60)) as response:
                for event_id, event, data in parse_sse(response.iter_lines()):
                    last_id = max(last_id, event_id or 0)
                    if event == "metric":
                        received.append(data["id"])
                    if event == "end":
                        return received, reconnects, downtime
                    if len(received) == restart_after and not downtime:
                        assert stack.api is not None
                        stopped = time.monotonic()
                        stack.kill(stack.api, signal.SIGKILL)
                        stack.start_api()
                        downtime = time.monotonic() - stopped
        except httpx.TransportError:
            reconnects += 1


def test_api_restart_under_a_live_stream_delivers_every_point_exactly_once(faults: Stack) -> None:
    faults.start_worker("through-api-restart")
    run = faults.submit(**FAST, epochs=5, name="followed through an API restart")
    received, reconnects, downtime = follow_across_api_restart(faults, run["id"], restart_after=15)
    stored = [p["id"] for p in faults.points(run["id"])]
    assert received == stored, "the stream skipped or repeated a point"
    final = faults.get(f"/api/runs/{run['id']}")
    assert final["status"] == "succeeded" and final["attempt"] == 1, final
    print(f"\nFAULT API restart: API down {downtime:.1f} s after 15 points; {reconnects} reconnect(s) with "
          f"Last-Event-ID; {len(received)} points received, {len(stored)} stored, duplicates "
          f"{len(received) - len(set(received))}; the run kept attempt 1")


def test_no_log_ever_shows_the_token(faults: Stack) -> None:
    logs = "\n".join(p.read_text(errors="replace") for p in faults.logs.glob("*.log"))
    assert logs and FAULT_TOKEN not in logs
    assert faults.http.get("/api/runs", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert faults.http.get("/api/health", headers={"Authorization": ""}).status_code == 200
