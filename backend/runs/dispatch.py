"""Sending runs' tasks to the broker, after their rows are committed.

A run whose task cannot be sent is failed at once with the broker's error, never left waiting in `queued`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from celery import Celery
from kombu.exceptions import OperationalError
from sqlalchemy.orm import Session

from backend.errors import Unavailable
from backend.models import Run
from backend.runs import lifecycle
from contrastlab.queue import send_run, spec_devices

BROKER_ERRORS = (OperationalError, OSError)  # what a broker that is down or unreachable raises on a send


class BrokerUnavailable(Unavailable):
    """The broker took no task; the message says which runs were failed for it."""


def send_all(celery: Celery, queue: str, sends: Sequence[tuple[int, int]]) -> tuple[list[int], Exception | None]:
    """Send each (run id, devices)'s task in turn; returns the ids left unsent and the broker's error, if one
    stopped it."""
    for i, (run_id, devices) in enumerate(sends):
        try:
            send_run(celery, run_id, queue, devices)
        except BROKER_ERRORS as exc:
            return [run for run, _ in sends[i:]], exc
    return [], None


def enqueue(session: Session, celery: Celery, queue: str, run: Run, changed: Callable[[int], None]) -> None:
    """Send the run's task; when the broker fails, the run is failed (`changed` is told) and BrokerUnavailable
    raised."""
    try:
        send_run(celery, run.id, queue, spec_devices(run.spec))
    except BROKER_ERRORS as exc:
        lifecycle.fail_unsent(session, run, f"broker unavailable: {exc}")
        changed(run.id)
        raise BrokerUnavailable(f"broker unavailable, run {run.id} not queued: {exc}") from exc
