"""A host's device slots: a run takes the devices it needs, first come first served, and holds them to its end.

The only bookkeeping ContrastLab does itself. Celery hands each worker process one run at a time (prefetch 1),
and a worker with N slots consumes only the queues of runs of 1..N devices; this decides which devices a run
gets. Slots and the waiting line are files in one local folder, each held with flock(), so a process that dies
frees what it held (the kernel drops its locks). A run waits in line: only the first in line takes slots, and
it keeps the ones it got while it waits for more, so a 4-device run is not overtaken by later 1-device runs
(no starvation) and no slot is ever given twice (no oversubscription).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from contrastlab.queue import SLOTS_DIR_ENV, SLOTS_ENV

POLL_S = 0.1  # how often a waiting run looks again; a run lasts minutes to days
TICKET = "wait-"


class SlotsWaitInterrupted(Exception):
    """The worker is shutting down while the run waits for devices: it goes back to the queue."""


@dataclass(frozen=True)
class Slots:
    """A host's device slots (GPU ids for CUDA_VISIBLE_DEVICES, or cpu0, cpu1, ...) and their folder."""

    names: tuple[str, ...]
    folder: Path

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Slots | None:
        """The slots `contrastlab worker --gpus/--slots` gave this worker process; None for a plain worker."""
        names = tuple(name for name in env.get(SLOTS_ENV, "").split(",") if name)
        folder = env.get(SLOTS_DIR_ENV, "")
        return cls(names, Path(folder)) if names and folder else None

    @contextlib.contextmanager
    def take(self, count: int, stop: threading.Event, prefer: str | None = None) -> Iterator[list[str]]:
        """Wait in line for `count` free slots (prefer: one to try first), hold them while the block runs.

        Raises ValueError when the host has fewer, SlotsWaitInterrupted when `stop` is set while waiting.
        """
        if count > len(self.names):
            raise ValueError(f"a {count}-device run cannot run on a worker with {len(self.names)} device slots")
        self.folder.mkdir(parents=True, exist_ok=True)
        order = sorted(range(len(self.names)), key=lambda i: (self.names[i] != prefer, i))
        held: dict[int, int] = {}
        try:
            with self._in_line() as first_in_line:
                while len(held) < count:
                    if stop.is_set():
                        raise SlotsWaitInterrupted()
                    if first_in_line():
                        for index in (i for i in order if i not in held):
                            fd = _try_lock(self.folder / f"slot-{index}.lock")
                            if fd is not None:
                                held[index] = fd
                            if len(held) == count:
                                break
                    if len(held) < count:
                        time.sleep(POLL_S)
            yield [self.names[i] for i in sorted(held)]
        finally:
            for fd in held.values():
                os.close(fd)  # releases the lock

    @contextlib.contextmanager
    def _in_line(self) -> Iterator[Callable[[], bool]]:
        """A ticket in the waiting line while the block runs; yields a check "am I first?"."""
        with _locked(self.folder / "line.lock"):  # tickets are named and made visible one at a time
            draft = self.folder / f".draft-{uuid.uuid4().hex}"
            fd = os.open(draft, os.O_CREAT | os.O_RDWR, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)  # held while it waits: the ticket of a dead process is unlocked
            ticket = self.folder / f"{TICKET}{time.time_ns():020d}-{os.getpid()}"
            os.rename(draft, ticket)
        try:
            yield lambda: _first_in_line(self.folder, ticket)
        finally:
            ticket.unlink(missing_ok=True)
            os.close(fd)


def _first_in_line(folder: Path, ticket: Path) -> bool:
    """Whether no live ticket is ahead of `ticket`; tickets of dead processes are removed on the way."""
    for other in sorted(folder.glob(f"{TICKET}*")):
        if other.name >= ticket.name:
            return True
        try:
            fd = _try_lock(other, create=False)
        except FileNotFoundError:
            continue  # it just left the line
        if fd is None:
            return False  # its process is alive and waiting
        other.unlink(missing_ok=True)  # left by a process that died
        os.close(fd)
    return True


def _try_lock(path: Path, create: bool = True) -> int | None:
    """An open descriptor holding path's exclusive lock, or None when another holds it."""
    fd = os.open(path, (os.O_CREAT if create else 0) | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def is_gpu(slot: str) -> bool:
    """GPU slots are named by their index or UUID; CPU slots cpu0, cpu1, ..."""
    return not slot.startswith("cpu")

