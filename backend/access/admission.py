"""What a submission must pass before anything is stored: the server's caps on a spec, the client's submission
rate, and the free-disk floor.

Each refusal names the setting that sets the bound, so the user knows the fix and the operator the knob.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from starlette.requests import Request

from backend.access.data_roots import data_path_problem
from backend.access.security import AuthFailures, client_address
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
    """Submissions per client address over a sliding minute: the same bounded window as wrong tokens."""

    def __init__(self, limit: int) -> None:
        self.window = AuthFailures(limit)

    def admit(self, client: str) -> int:
        """Count one submission; 0 when admitted, else the seconds to wait (nothing counted)."""
        wait = self.window.retry_after(client)
        if not wait:
            self.window.failed(client)  # failed() counts an event in the window; here, a submission
        return wait


def admit_submission(request: Request, settings: Settings) -> None:
    """TooManyRequests past SUBMISSIONS_PER_MINUTE for this client; Unavailable under the free-disk floor."""
    wait = request.app.state.submissions.admit(client_address(request.scope))
    if wait:
        raise TooManyRequests(
            f"too many submissions from this address (SUBMISSIONS_PER_MINUTE={settings.submissions_per_minute}): "
            f"try again in {wait} s, or launch many runs at once as a seed group or a study", wait)
    check_disk(settings, "new runs")
