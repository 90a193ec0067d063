"""Server-Sent Events: every new event of a run, resumable by Last-Event-ID.

The database is the source of truth; a stream polls it for rows after its
cursor. Writes made by this process bump an in-memory version so that a
stream wakes within ~50 ms instead of waiting for the next periodic poll
(which covers writes from other API processes).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable

from starlette.concurrency import run_in_threadpool

from backend.models import Event, Run
from backend.schemas import MetricPoint, RunPublic, iso
from contrastlab.core.catalog import FINAL_STATUSES

WAKE_CHECK_S = 0.05
POLL_S = 1.0
KEEPALIVE_S = 15.0
BATCH = 2000


class Notifier:
    """Per-run change counters, bumped on every write this process makes."""

    def __init__(self) -> None:
        self._versions: defaultdict[int, int] = defaultdict(int)

    def bump(self, run_id: int) -> None:
        self._versions[run_id] += 1

    def version(self, run_id: int) -> int:
        return self._versions.get(run_id, 0)


def sse(event: str, data: object, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _format(event: Event, run: Run) -> str:
    if event.kind == "metric":
        return sse("metric", MetricPoint.of(event).model_dump(), event.id)
    if event.kind == "status":
        return sse("status", RunPublic.model_validate(run).model_dump(mode="json"), event.id)
    return sse("log", {"id": event.id, "text": event.text, "time": iso(event.time)}, event.id)


Fetch = Callable[[int, int], tuple[Run, list[Event]]]


async def run_stream(
    run_id: int, after: int, fetch: Fetch, notifier: Notifier, is_disconnected: Callable[[], object]
) -> AsyncIterator[str]:
    """Yield the run's events after `after`; end once the run is final and all is sent."""
    cursor = after
    run, _ = await run_in_threadpool(fetch, run_id, cursor)
    yield "retry: 1000\n\n"
    yield sse("status", RunPublic.model_validate(run).model_dump(mode="json"), cursor)
    seen_version, last_poll, last_sent = -1, 0.0, time.monotonic()
    while True:
        if await is_disconnected():  # type: ignore[misc]
            return
        now = time.monotonic()
        version = notifier.version(run_id)
        if version != seen_version or now - last_poll >= POLL_S:
            seen_version, last_poll = version, now
            run, events = await run_in_threadpool(fetch, run_id, cursor)
            for event in events:
                yield _format(event, run)
                cursor = event.id
            if events:
                last_sent = now
            if len(events) == BATCH:
                continue
            if run.status in FINAL_STATUSES and not events:
                yield sse("end", RunPublic.model_validate(run).model_dump(mode="json"), cursor)
                return
        if now - last_sent >= KEEPALIVE_S:
            last_sent = now
            yield ": keepalive\n\n"
        await asyncio.sleep(WAKE_CHECK_S)
