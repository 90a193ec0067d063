"""What a submission must pass before anything is stored: the server's caps on a spec, the client's submission
rate, and the free-disk floor.

Each refusal names the setting that sets the bound, so the user knows the fix and the operator the knob.
"""

from __future__ import annotations

import math
import shutil
import threading
import time
from collections import OrderedDict, deque
from pathlib import Path

from starlette.requests import Request

from backend.access.data_roots import data_path_problem
from backend.access.security import client_address
from backend.errors import InvalidFields, TooManyRequests, Unavailable
from contrastlab.core.settings import Settings
from contrastlab.core.spec import RunSpec


def caps(settings: Settings) -> dict[str, tuple[int, str]]:
    """Spec field -> (largest value this server runs, the setting that says so)."""
    return {"epochs": (settings.max_epochs, "MAX_EPOCHS"),
            "batch_size": (settings.max_batch_size, "MAX_BATCH_SIZE"),
            "image_size": (settings.max_image_size, "MAX_IMAGE_SIZE")}


def spec_problems(spec: RunSpec, settings: Settings) -> list[tuple[str, str, object]]:
    """(field, why, value) for each thing this server will not run, though the spec itself is valid."""
    found: list[tuple[str, str, object]] = []
    for field, (cap, setting) in caps(settings).items():
        value = getattr(spec, field)
        if value is not None and value > cap:
            found.append((field, f"{value} is above this server's cap {setting}={cap}: use at most {cap}, or ask "
                                 f"its operator to raise {setting}", value))
    if problem := data_path_problem(spec.data_path, settings.data_roots):
        found.append(("data_path", problem, spec.data_path))
    return found


def check_spec(spec: RunSpec, settings: Settings, loc: tuple[str, ...] = ("body",)) -> None:
    """InvalidFields naming each field (as the spec's own validation errors do) that this server refuses."""
    problems = spec_problems(spec, settings)
    if problems:
        raise InvalidFields([{"loc": (*loc, field), "msg": why, "type": "value_error", "input": value}
                             for field, why, value in problems])


def check_disk(settings: Settings, what: str) -> None:
    """Unavailable while the data folder's disk has less free space than MIN_FREE_DISK_BYTES."""
    folder = settings.data_dir if settings.data_dir.exists() else Path(".")
    free = shutil.disk_usage(folder).free
    if free < settings.min_free_disk_bytes:
        raise Unavailable(
            f"{what} refused: the server's disk has {free / 1024**3:.1f} GiB free, below MIN_FREE_DISK_BYTES="
            f"{settings.min_free_disk_bytes} ({settings.min_free_disk_bytes / 1024**3:.1f} GiB); free space "
            "(delete old runs) and try again")


class SubmissionRate:
    """Runs submitted per client address over a sliding minute: a study or a seed group counts each of its runs.

    A submission of more runs than the whole limit (a large study) is admitted only when the address has
    submitted nothing for a minute, and fills its window, so an address launches at most
    max(limit, STUDY_MAX_RUNS) runs a minute. Memory is bounded: max_clients addresses, one entry per submission.
    """

    def __init__(self, limit: int, window: float = 60.0, max_clients: int = 10_000) -> None:
        self.limit, self.window, self.max_clients = limit, window, max_clients
        self._sent: OrderedDict[str, deque[tuple[float, int]]] = OrderedDict()
        self._lock = threading.Lock()

    def admit(self, client: str, runs: int = 1) -> int:
        """Count `runs` runs; 0 when admitted, else the seconds to wait (nothing counted)."""
        if self.limit <= 0:
            return 0
        with self._lock:
            now = time.monotonic()
            sent = self._sent.setdefault(client, deque())
            while sent and sent[0][0] <= now - self.window:
                sent.popleft()
            counted = sum(n for _, n in sent)
            if counted and counted + runs > self.limit:
                freed, wait_until = counted, now  # wait until enough of the oldest have left the window
                for at, n in sent:
                    freed, wait_until = freed - n, at + self.window
                    if freed + runs <= self.limit or freed == 0:
                        break
                return max(1, math.ceil(wait_until - now))
            sent.append((now, runs))
            self._sent.move_to_end(client)
            while len(self._sent) > self.max_clients:  # bounded memory under a spray of addresses
                self._sent.popitem(last=False)
            return 0


def admit_submission(request: Request, settings: Settings, runs: int = 1) -> None:
    """TooManyRequests when `runs` more runs would take this client past SUBMISSIONS_PER_MINUTE runs in a
    minute; Unavailable under the free-disk floor."""
    wait = request.app.state.submissions.admit(client_address(request.scope), runs)
    if wait:
        limit = settings.submissions_per_minute
        what = "1 run" if runs == 1 else f"{runs} runs"
        raise TooManyRequests(
            f"too many runs submitted from this address: this submission has {what}, and SUBMISSIONS_PER_MINUTE="
            f"{limit} counts every run (of a study or seed group too) over the last minute: try again in {wait} s",
            wait)
    check_disk(settings, "new runs")
