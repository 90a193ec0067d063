"""Per-run change counters: a write this process makes bumps its run's, and whoever waits on it wakes at once."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import defaultdict


class Notifier:
    """Per-run change counters, bumped on every write this process makes (from any thread); awaitable."""

    def __init__(self) -> None:
        self._versions: defaultdict[int, int] = defaultdict(int)
        self._waiters: defaultdict[int, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = defaultdict(set)
        self._lock = threading.Lock()

    def bump(self, run_id: int) -> None:
        with self._lock:
            self._versions[run_id] += 1
            waiters = list(self._waiters.get(run_id, ()))
        for loop, event in waiters:
            with contextlib.suppress(RuntimeError):  # that loop has closed
                loop.call_soon_threadsafe(event.set)

    def version(self, run_id: int) -> int:
        return self._versions.get(run_id, 0)

    async def wait(self, run_id: int, seen: int, timeout: float) -> int:
        """The run's version once it differs from `seen`, or after `timeout` seconds."""
        waiter = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            if self._versions.get(run_id, 0) != seen:
                return self._versions.get(run_id, 0)
            self._waiters[run_id].add(waiter)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter[1].wait(), timeout)
        finally:
            with self._lock:
                self._waiters[run_id].discard(waiter)
                if not self._waiters[run_id]:
                    del self._waiters[run_id]
        return self.version(run_id)
