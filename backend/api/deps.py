"""Dependencies as Annotated aliases, so a route's signature reads like a sentence."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from celery import Celery
from fastapi import Depends, Header, Path, Query, Request
from sqlalchemy.orm import Session

from backend.errors import run_not_found
from backend.models import Run
from backend.streams.feeds import StreamHub
from backend.streams.notifier import Notifier
from contrastlab.core.protocol import LEASE_SECRET_HEADER
from contrastlab.core.settings import Settings


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _session(request: Request) -> Iterator[Session]:
    with request.app.state.sessionmaker() as session:
        yield session


def _notifier(request: Request) -> Notifier:
    return request.app.state.notifier


def _streams(request: Request) -> StreamHub:
    return request.app.state.streams


def _celery(request: Request) -> Celery:
    return request.app.state.celery


SettingsDep = Annotated[Settings, Depends(_settings)]
SessionDep = Annotated[Session, Depends(_session)]
NotifierDep = Annotated[Notifier, Depends(_notifier)]
StreamsDep = Annotated[StreamHub, Depends(_streams)]
CeleryDep = Annotated[Celery, Depends(_celery)]


# Ids are 64-bit: a larger number is a 422, not a database overflow.
RunId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The run's id.")]
Cursor = Annotated[int, Query(ge=0, le=2**63 - 1, description="Return what comes after this event id.")]
# The proof that a worker's call comes from the attempt holding the run's lease (its claim returned it).
LeaseSecret = Annotated[str | None, Header(alias=LEASE_SECRET_HEADER, max_length=200,
                                           description="The lease secret the claim returned.")]


def _run(run_id: RunId, session: SessionDep) -> Run:
    run = session.get(Run, run_id)
    if run is None:
        raise run_not_found(run_id)
    return run


RunDep = Annotated[Run, Depends(_run)]
