"""Server-Sent Events: every new event of a run, resumable by Last-Event-ID.

The database is the source of truth. A stream first reads what it missed after its own cursor, then joins
its run's shared feed (backend.streams.feeds), which polls once for all viewers. Writes made by this process
bump the Notifier (backend.streams.notifier), which wakes the feed at once; a periodic poll covers writes from
other API processes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from backend.streams.feeds import StreamHub, Subscription
from backend.streams.reads import GONE, Read, sse

KEEPALIVE_S = 15.0


def _progress(run: dict[str, Any]) -> dict[str, Any]:
    return {"progress": run.get("progress"), "phase": run.get("phase")}


class _Viewer:
    """One stream's cursor: what it sends of a read (events the feed repeats are skipped)."""

    def __init__(self, cursor: int, run: dict[str, Any]) -> None:
        self.cursor, self.last_sent = cursor, time.monotonic()
        self.progress = _progress(run)  # as last sent

    def chunk(self, read: Read) -> str:
        """The read's new events (and `end` after the last), as one write: one send per read, not per event.
        A change of the run's progress or phase, which is no event, follows them as a `progress` event (no id)."""
        fresh = [text for event_id, text in read.events if event_id > self.cursor]
        if read.events:
            self.cursor = max(self.cursor, read.events[-1][0])
        if read is not GONE and not read.done and _progress(read.run) != self.progress:
            self.progress = _progress(read.run)
            fresh.append(sse("progress", self.progress))
        if read.done and read is not GONE:
            fresh.append(sse("end", read.run, self.cursor))
        if fresh:
            self.last_sent = time.monotonic()
        return "".join(fresh)


async def run_stream(hub: StreamHub, run_id: int, start: int, first: Read,
                     is_disconnected: Callable[[], Awaitable[bool]]) -> AsyncIterator[str]:
    """Yield the run's events after `start` (`first` read them); end once the run is final and all is sent."""
    viewer = _Viewer(start, first.run)
    yield "retry: 1000\n\n"
    yield sse("status", first.run, start)
    read: Read | None = first
    while True:
        subscription = None
        while subscription is None:  # catch up on our own, bounded reads, until level with the run's feed
            if read is None:
                read = await hub.read(run_id, viewer.cursor) or GONE
            if chunk := viewer.chunk(read):
                yield chunk
            if read.done:
                return
            if not read.more:
                subscription = hub.join(run_id, viewer.cursor)
            read = None
        try:
            async for text in _live(subscription, viewer, is_disconnected):
                yield text
            if not subscription.dropped:
                return  # the run ended (or is gone, or the client left)
        finally:
            subscription.leave()


async def _live(subscription: Subscription, viewer: _Viewer,
                is_disconnected: Callable[[], Awaitable[bool]]) -> AsyncIterator[str]:
    """What the feed publishes, with keepalives; returns when the run ends or this stream fell behind."""
    while True:
        try:
            timeout = max(0.0, KEEPALIVE_S - (time.monotonic() - viewer.last_sent))
            await asyncio.wait_for(subscription.wake.wait(), timeout)
        except TimeoutError:
            if await is_disconnected():
                return
            viewer.last_sent = time.monotonic()
            yield ": keepalive\n\n"
            continue
        subscription.wake.clear()
        while subscription.pending:
            read = subscription.pending.popleft()
            if chunk := viewer.chunk(read):
                yield chunk
            if read.done:
                return
        if subscription.dropped:
            return
