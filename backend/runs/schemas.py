"""One schema per direction: what the API accepts and what it returns."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_serializer, field_validator

from backend.models import Artifact, Event
from backend.runs.artifacts import download_name
from contrastlab.core.catalog import Status
from contrastlab.core.protocol import Phase
from contrastlab.core.spec import SPEC_VERSION, RunSpec


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


class RunPublic(BaseModel):
    """A run as the API shows it, read straight off the row: `RunPublic.model_validate(run)`."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    status: Status
    spec: dict[str, Any]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    attempt: int
    progress: float
    cancel_requested: bool
    error: str | None
    summary: dict[str, float]
    group_id: int | None = Field(None, description="Runs launched together with several seeds share this id.")
    lost_leases: int = Field(0, description="Attempts whose worker stopped renewing its lease (died).")
    requeue_reason: str | None = Field(None, description="Why the run was last put back in the queue.")
    spec_version: int = Field(SPEC_VERSION, description="The RunSpec version the spec was stored under.")
    study_id: int | None = Field(None, description="The study that launched this run, if any.")
    phase: Phase | None = Field(None, description="Where the run is (pretraining, features, probe, t-SNE, ...) and "
                                "that phase's progress and speed, as its worker last reported; kept once it ends.")
    queue_position: int | None = Field(None, description="A queued run read alone (GET /api/runs/{id}): its place "
                                       "in its queue, 1 when it starts next; null otherwise.")
    runs_running: int | None = Field(None, description="With queue_position: how many runs are running now.")
    waiting_reason: str | None = Field(None, description="A queued run read alone: why it has not started, e.g. "
                                       "\"needs 2 devices; the largest connected worker has 1\" or \"3 runs ahead "
                                       "of it\"; null otherwise.")
    tags: list[str] = Field(default_factory=list, description="`key` or `key:value` tags (PATCH sets them).")
    notes: str = Field("", description="Markdown notes (PATCH sets them); the page renders them without HTML.")
    trashed_at: datetime | None = Field(None, description="When DELETE moved the run to the trash; null otherwise.")

    @field_serializer("created_at", "started_at", "finished_at", "trashed_at")
    def _iso(self, value: datetime | None) -> str | None:
        return iso(value)

    @field_validator("tags", mode="before")
    @classmethod
    def _no_tags(cls, value: list[str] | None) -> list[str]:
        return value or []

    @field_validator("notes", mode="before")
    @classmethod
    def _no_notes(cls, value: str | None) -> str:
        return value or ""

    @field_validator("summary", mode="before")
    @classmethod
    def _no_summary(cls, value: dict[str, float] | None) -> dict[str, float]:
        return value or {}

    @field_validator("lost_leases", mode="before")
    @classmethod
    def _no_losses(cls, value: int | None) -> int:
        return value or 0


class RunSubmitted(RunPublic):
    """The answer to a submit: the run, and what the submitter should know at once."""

    warnings: list[str] = Field(default_factory=list, description="The run is accepted, but e.g. no connected "
                                "worker offers its device count: it waits until one does.")


class RunsPublic(BaseModel):
    items: list[RunPublic]
    total: int = Field(description="How many runs match; with total_exact false, at least this many (10,000+).")
    total_exact: bool = Field(True, description="False when the count stopped at its cap (10,000).")
    next_after: str | None = Field(None, description="Pass as `after` for the next page (same sort and order): "
                                   "as fast at page 2,000 as at page 2; null on the last page.")


def _distinct(seeds: list[int]) -> list[int]:
    if len(set(seeds)) != len(seeds):
        raise ValueError("seeds must be distinct, e.g. [0, 1, 2]")
    return seeds


Seed = Annotated[int, Field(ge=0, le=2**31 - 1)]
# A list of seeds, one run each: distinct integers ≥ 0 (a group's and a study's).
Seeds = Annotated[list[Seed], AfterValidator(_distinct)]


class RunGroupCreate(BaseModel):
    """One spec launched once per seed; the runs share a group id (mean ± std on the compare page)."""

    spec: RunSpec
    seeds: Seeds = Field(min_length=1, max_length=20,
                         description="One run per seed (its `seed` field); 1 to 20 distinct integers ≥ 0.")


class RunIds(BaseModel):
    """A selection of runs (bulk trash and restore)."""

    ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] = Field(min_length=1, max_length=500)


class RunGroupPublic(BaseModel):
    group_id: int
    items: list[RunPublic]
    warnings: list[str] = Field(default_factory=list, description="As a single submit's.")


class SeriesPublic(BaseModel):
    x: list[float]
    y: list[float | None] = Field(description="null where the value was not finite (NaN or inf).")
    count: int = Field(description="Points recorded; x and y hold at most `points` of them.")


class RunSeriesPublic(BaseModel):
    run_id: int
    x_axis: Literal["step", "epoch", "time"]
    series: dict[str, SeriesPublic]


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
    filename: str  # what a browser saves it as: run-<id>-<name>

    @classmethod
    def of(cls, artifact: Artifact) -> ArtifactPublic:
        return cls(name=artifact.name, size=artifact.size, sha256=artifact.sha256,
                   url=f"/api/runs/{artifact.run_id}/artifacts/{artifact.name}",
                   filename=download_name(artifact.run_id, artifact.name))


class ArtifactsPublic(BaseModel):
    items: list[ArtifactPublic]
