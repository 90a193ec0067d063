"""One poller per watched run, shared by all its streams; and a cap on the database reads streams make.

A stream holds no connection while it waits: every read takes a session for one query and gives it back.
N viewers of a run cost one poll (the run's feed fans each read out to them, formatted once); N viewers of
many runs cost one query a second (which runs have news?) and share at most READERS connections and threads,
so the pool and the threadpool stay free for health checks and the workers' reports.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from backend.streams import reads
from backend.streams.notifier import Notifier
from backend.streams.reads import GONE, Read

log = logging.getLogger(__name__)
T = TypeVar("T")

POLL_S = 1.0  # how often one query asks which watched runs have news: writes by other processes bump nothing
IDLE_READ_S = 30.0  # a feed reads at least this often whatever that query says
READERS = 4  # database reads streams may make at once, process-wide
PENDING_CAP = 16  # reads a slow subscriber may fall behind by; past it, it catches up from its own cursor


@dataclass(eq=False)
class Subscription:
    """One stream's place in a feed: the reads published since it last woke, bounded."""

    feed: RunFeed
    cursor: int
    pending: deque[Read] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    dropped: bool = False  # fell behind (or the feed stopped): catch up from the cursor, then join again

    def offer(self, read: Read) -> bool:
        if len(self.pending) >= PENDING_CAP:
            self.drop()
            return False
        self.pending.append(read)
        self.wake.set()
        return True

    def drop(self) -> None:
        self.dropped = True
        self.pending.clear()  # frees what it held; the database still has it
        self.wake.set()

    def leave(self) -> None:
        self.feed.subscribers.discard(self)


class RunFeed:
    """The one poller of a run in this process: reads after its cursor when bumped (by a write here, or by the
    hub finding news), and fans each read out to its subscribers."""

    def __init__(self, hub: StreamHub, run_id: int, cursor: int) -> None:
        self.hub, self.run_id, self.cursor = hub, run_id, cursor
        self.subscribers: set[Subscription] = set()
        self.loop = asyncio.get_running_loop()
        self.task = asyncio.create_task(self._poll(), name=f"run-feed-{run_id}")

    def subscribe(self, cursor: int) -> Subscription | None:
        """None when the subscriber is behind what this feed already published: it must read on first."""
        if cursor < self.cursor:
            return None
        subscription = Subscription(self, cursor)
        self.subscribers.add(subscription)
        return subscription

    def _publish(self, read: Read) -> None:
        for subscription in list(self.subscribers):
            if not subscription.offer(read):
                self.subscribers.discard(subscription)

    def _last(self, read: Read) -> None:
        """Publish the read after which nothing follows (the run ended, or is gone); the feed then stops."""
        self._publish(read)
        self.subscribers.clear()

    async def _poll(self) -> None:
        seen, more = -1, True
        try:
            while self.subscribers:  # checked and left with no await between: no one joins a stopping feed
                if not more:
                    seen = await self.hub.notifier.wait(self.run_id, seen, IDLE_READ_S)
                    if not self.subscribers:
                        break
                else:
                    seen = self.hub.notifier.version(self.run_id)
                read = await self.hub.read(self.run_id, self.cursor)
                if read is None or read.done:
                    self._last(read or GONE)
                    return
                if read.events:
                    self.cursor = read.events[-1][0]
                self._publish(read)
                more = read.more
        except Exception:
            log.exception("the event feed of run %s stopped; its streams read on their own", self.run_id)
        finally:  # an error, or the API stopping: the streams left read on their own
            self.hub.forget(self)
            for subscription in self.subscribers:
                subscription.drop()


class StreamHub:
    """The feeds of this process, one per watched run, and the limit on the reads streams make."""

    def __init__(self, sessions: sessionmaker[Session], notifier: Notifier) -> None:
        self.sessions, self.notifier = sessions, notifier
        self._feeds: dict[int, RunFeed] = {}
        # One limit per event loop (a test client may run the app on several, one after another).
        self._limits: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = \
            weakref.WeakKeyDictionary()
        self._tickers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task[None]] = \
            weakref.WeakKeyDictionary()

    async def _in_thread(self, call: Callable[..., T], *args: object) -> T:
        """call(*args) in a worker thread, at most READERS at once: waiting streams queue here, not on the pool."""
        limit = self._limits.setdefault(asyncio.get_running_loop(), asyncio.Semaphore(READERS))
        async with limit:
            return await run_in_threadpool(call, *args)

    async def read(self, run_id: int, cursor: int, tail: bool = False) -> Read | None:
        return await self._in_thread(reads.read_events, self.sessions, run_id, cursor, tail)

    def join(self, run_id: int, cursor: int) -> Subscription | None:
        """Subscribe to the run's feed (started if none runs); None when `cursor` is behind it."""
        loop = asyncio.get_running_loop()
        feed = self._feeds.get(run_id)
        if feed is None or feed.task.done() or feed.loop is not loop:
            feed = self._feeds[run_id] = RunFeed(self, run_id, cursor)
        ticker = self._tickers.get(loop)
        if ticker is None or ticker.done():
            self._tickers[loop] = loop.create_task(self._tick(loop), name="run-feeds-ticker")
        return feed.subscribe(cursor)

    async def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        """Every POLL_S, one query for all feeds on this loop; those whose run has news (or is gone) are bumped."""
        while True:
            await asyncio.sleep(POLL_S)
            cursors = {f.run_id: f.cursor for f in self._feeds.values() if f.loop is loop}
            if not cursors:
                return  # checked and left with no await between: join() starts another for the next feed
            try:
                changed = await self._in_thread(reads.runs_with_news, self.sessions, cursors)
            except Exception:
                log.exception("could not ask which watched runs have news; asking again in %s s", POLL_S)
                continue
            for run_id in changed:
                self.notifier.bump(run_id)

    def forget(self, feed: RunFeed) -> None:
        if self._feeds.get(feed.run_id) is feed:
            del self._feeds[feed.run_id]

    def watching(self, run_id: int) -> tuple[int, int] | None:
        """(cursor, live viewers) of the run's feed; None when none runs."""
        feed = self._feeds.get(run_id)
        return None if feed is None else (feed.cursor, len(feed.subscribers))

    async def close(self) -> None:
        """Stop this loop's feeds and ticker (the API is stopping)."""
        loop = asyncio.get_running_loop()
        tasks = [feed.task for feed in self._feeds.values() if feed.loop is loop]
        tasks += [task for task_loop, task in self._tickers.items() if task_loop is loop]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
