"""What the API returns, as typed models; unknown fields are kept, so a newer server never breaks the client."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

FINAL_STATUSES = frozenset({"succeeded", "failed", "canceled"})


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class Run(_Model):
    id: int
    name: str = ""
    status: str
    spec: dict[str, Any] = {}
    created_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    attempt: int = 0
    progress: float = 0.0
    cancel_requested: bool = False
    error: str | None = None
    summary: dict[str, float] = {}

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES


class MetricPoint(_Model):
    id: int
    name: str
    step: int
    epoch: float
    value: float
    time: str = ""


class LogEntry(_Model):
    id: int
    kind: str
    text: str
    time: str = ""


class Artifact(_Model):
    name: str
    size: int
    sha256: str
    url: str


class StreamEvent(_Model):
    """One Server-Sent Event of a run: `metric` (a MetricPoint), `log`, `status` or `end` (a Run)."""

    id: int | None
    event: str
    data: dict[str, Any]
