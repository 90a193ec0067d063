"""One schema per direction: what the API accepts and what it returns."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_serializer

from backend.models import Artifact, Event, Run


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


class RunPublic(BaseModel):
    id: int
    name: str
    status: Literal["queued", "running", "succeeded", "failed", "canceled"]
    spec: dict[str, Any]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    attempt: int
    progress: float
    cancel_requested: bool
    error: str | None
    summary: dict[str, float]

    @field_serializer("created_at", "started_at", "finished_at")
    def _iso(self, value: datetime | None) -> str | None:
        return iso(value)

    @classmethod
    def of(cls, run: Run) -> RunPublic:
        return cls(
            id=run.id, name=run.name, status=run.status, spec=run.spec, created_at=run.created_at,
            started_at=run.started_at, finished_at=run.finished_at, attempt=run.attempt,
            progress=run.progress, cancel_requested=run.cancel_requested, error=run.error,
            summary=run.summary or {},
        )


class RunsPublic(BaseModel):
    items: list[RunPublic]
    total: int


class MetricPoint(BaseModel):
    id: int
    name: str
    step: int
    epoch: float
    value: float
    time: str

    @classmethod
    def of(cls, event: Event) -> MetricPoint:
        return cls(id=event.id, name=event.name or "", step=event.step or 0, epoch=event.epoch or 0.0,
                   value=event.value if event.value is not None else float("nan"), time=iso(event.time) or "")


class MetricsPage(BaseModel):
    items: list[MetricPoint]
    next_cursor: int = Field(description="Pass as `after` to get the points that follow.")


class LogEntry(BaseModel):
    id: int
    kind: Literal["status", "log"]
    text: str
    time: str

    @classmethod
    def of(cls, event: Event) -> LogEntry:
        return cls(id=event.id, kind=event.kind, text=event.text or "", time=iso(event.time) or "")


class LogPage(BaseModel):
    items: list[LogEntry]
    next_cursor: int


class ArtifactPublic(BaseModel):
    name: str
    size: int
    sha256: str
    url: str

    @classmethod
    def of(cls, artifact: Artifact) -> ArtifactPublic:
        return cls(name=artifact.name, size=artifact.size, sha256=artifact.sha256,
                   url=f"/api/runs/{artifact.run_id}/artifacts/{artifact.name}")


class ArtifactsPublic(BaseModel):
    items: list[ArtifactPublic]


# Worker → API. Every call names the worker and the attempt it holds, so a worker
# whose lease was taken over cannot write into the new attempt.

class Claim(BaseModel):
    worker: str = Field(min_length=1, max_length=200)


class ClaimGranted(BaseModel):
    run: RunPublic
    attempt: int
    lease_seconds: int


class WorkerCall(BaseModel):
    worker: str = Field(min_length=1, max_length=200)
    attempt: int = Field(ge=1)


class Heartbeat(WorkerCall):
    progress: float | None = Field(None, ge=0.0, le=1.0)


class LeaseState(BaseModel):
    cancel_requested: bool
    lease_seconds: int


class PointIn(BaseModel):
    key: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=120)
    step: int = Field(ge=0)
    epoch: float = Field(ge=0.0)
    value: float
    time: datetime | None = None


class LogIn(BaseModel):
    key: str = Field(min_length=1, max_length=64)
    text: str = Field(max_length=2000)
    time: datetime | None = None


class EventBatch(WorkerCall):
    points: list[PointIn] = Field(default_factory=list, max_length=10_000)
    logs: list[LogIn] = Field(default_factory=list, max_length=1000)
    progress: float | None = Field(None, ge=0.0, le=1.0)


class BatchReceived(LeaseState):
    received: int = Field(description="Points and messages received; ones already stored are ignored.")


class Finish(WorkerCall):
    status: Literal["succeeded", "failed", "canceled"]
    error: str | None = Field(None, max_length=4000)
    summary: dict[str, float] = Field(default_factory=dict)
