"""Many open event streams (browser tabs) never stall the API: a waiting stream holds no database connection."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.stack import Stack, parse_sse, run_coroutine

pytestmark = pytest.mark.integration

STREAMS = 60  # more than either database's pool holds (SQLite 5 + 10 overflow, PostgreSQL 10 + 20)
PATIENCE_S = 90  # generous: a request stuck behind the pool fails after its 30 s wait, never slowly succeeds


@pytest.fixture
def api(tmp_path: Path, database_url: str) -> Iterator[Stack]:
    """The API alone (the test plays the worker), on SQLite or PostgreSQL."""
    stack = Stack(tmp_path / "data", database_url=database_url)
    try:
        stack.start_api()
        yield stack
    finally:
        stack.stop()
        print(stack.all_logs())


async def follow(client: httpx.AsyncClient, run_id: int, opened: list[int]) -> list[tuple[str, Any]]:
    """One viewer: every (event, data) until `end`; notes itself in `opened` once the first status arrives."""
    received: list[tuple[str, Any]] = []
    async with client.stream("GET", f"/api/runs/{run_id}/events") as response:
        assert response.status_code == 200, (await response.aread())[:300]
        block: list[str] = []
        async for line in response.aiter_lines():
            block.append(line)
            if line:
                continue
            for _, event, data in parse_sse(block):
                received.append((event, data))
                if len(received) == 1:
                    opened.append(run_id)
                if event == "end":
                    return received
            block = []
    return received


async def all_open(viewers: list[asyncio.Task[list[tuple[str, Any]]]], opened: list[int]) -> None:
    """Wait until every viewer has its first event; a viewer that failed (a 500) fails the test at once."""
    deadline = asyncio.get_running_loop().time() + PATIENCE_S
    while len(opened) < STREAMS:
        for viewer in viewers:
            if viewer.done():
                viewer.result()  # raises what the viewer met
        assert asyncio.get_running_loop().time() < deadline, f"{len(opened)} of {STREAMS} streams opened"
        await asyncio.sleep(0.1)


async def watch_while_reporting(url: str, run_id: int, secret: str) -> tuple[list[list[tuple[str, Any]]], int]:
    """Open STREAMS viewers of the run; with all open, check health, post a point, finish the run."""
    limits = httpx.Limits(max_connections=STREAMS + 10, max_keepalive_connections=STREAMS + 10)
    async with httpx.AsyncClient(base_url=url, timeout=PATIENCE_S, limits=limits) as client:
        opened: list[int] = []
        viewers = [asyncio.create_task(follow(client, run_id, opened)) for _ in range(STREAMS)]
        await all_open(viewers, opened)
        health = await client.get("/api/health")
        assert health.status_code == 200, health.text
        worker = {"worker": "w1", "attempt": 1}
        point = {"key": "1:1", "name": "loss", "step": 1, "epoch": 0.1, "value": 1.5}
        report = await client.post(f"/api/runs/{run_id}/events", json={**worker, "points": [point], "logs": []},
                                   headers={"X-Lease-Secret": secret})
        assert report.status_code == 200, report.text
        finish = await client.post(f"/api/runs/{run_id}/finish", json={**worker, "status": "succeeded"},
                                   headers={"X-Lease-Secret": secret})
        assert finish.status_code == 200, finish.text
        streams = await asyncio.wait_for(asyncio.gather(*viewers), PATIENCE_S)
        return streams, int(report.json()["received"])


def test_many_open_streams_leave_health_and_worker_reports_answering(api: Stack) -> None:
    run = api.submit(dataset="digits", epochs=1)
    claim = api.http.post(f"/api/runs/{run['id']}/claim", json={"worker": "w1"})
    assert claim.status_code == 200, claim.text
    streams, received = run_coroutine(watch_while_reporting(api.url, run["id"], claim.json()["lease_secret"]))
    assert received == 1
    stored = [p["id"] for p in api.points(run["id"])]
    for events in streams:  # every viewer got the new point once, then the end
        assert [data["id"] for event, data in events if event == "metric"] == stored
        assert events[-1][0] == "end" and events[-1][1]["status"] == "succeeded"
