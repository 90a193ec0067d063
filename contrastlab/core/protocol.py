"""The worker protocol: what a worker and the API agree on besides the RunSpec.

A claim answers with a random lease secret that only the claimer receives; every later call of that attempt
(events, release, finish, artifact uploads) sends it in the `X-Lease-Secret` header, and the API keeps only its
sha256. The worker name and attempt number in a call are informational: they are public (the run log shows them),
so they prove nothing. An empty `EventBatch` is the heartbeat: it renews the lease.

Apart from any run, each worker process says it is alive with a `WorkerBeat` every few seconds (what it offers
and the run whose message it holds); the API answers with `WorkerSeen`. A worker not heard from for
WORKER_LOST_SECONDS is shown as lost; leases decide on their own, as before.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, FiniteFloat, field_validator

from contrastlab.core.catalog import WORKER_FINAL_STATUSES, Status

# The longest wait between two tries of an HTTP call (client and worker): the reconciler waits this long past a
# lease before it judges the lease lost, so a worker that is only retrying is not taken for dead.
RETRY_CAP_S = 10.0
# The header every call of an attempt carries: the secret its claim returned.
LEASE_SECRET_HEADER = "X-Lease-Secret"
# Every client of ours (the page, the CLI, workers) sends this header: a page on another site cannot send a
# custom header without the server's CORS consent, so the API refuses state changes that lack it (CSRF).
CLIENT_HEADER = "X-Requested-With"


def no_nul(value: str) -> str:
    """A 422 naming the field for a NUL character: PostgreSQL cannot store one in text (a 500 there otherwise)."""
    if "\x00" in value:
        raise ValueError("must not contain a NUL character (\\u0000); remove it")
    return value


def nul_replaced(value: str | None) -> str | None:
    """Free text (a log line, an error) keeps its other characters: a NUL becomes U+FFFD."""
    return value.replace("\x00", "\ufffd") if value is not None else None


NoNul = Annotated[str, AfterValidator(no_nul)]


def lease_headers(secret: str) -> dict[str, str]:
    """The headers that prove a call comes from the worker holding the attempt's lease."""
    return {LEASE_SECRET_HEADER: secret}


class Claim(BaseModel):
    """POST /api/runs/{id}/claim: take a queued run."""

    worker: NoNul = Field(min_length=1, max_length=200)


class ClaimedRun(BaseModel):
    """The claimed run, as GET /api/runs/{id} returns it: the fields a worker reads, and the rest as they are."""

    model_config = ConfigDict(extra="allow")

    id: int
    spec: dict[str, Any] = Field(description="The spec as stored: load it with `load_stored_spec(spec, "
                                 "spec_version)`, which names what an older spec no longer passes.")
    spec_version: int = Field(1, description="The RunSpec version the spec was stored under.")


class ClaimGranted(BaseModel):
    """The claim's answer: the run as GET /api/runs/{id} returns it (spec, spec_version, ...) and the lease.

    `lease_secret` is sent once, to the claimer only: keep it out of logs, send it as X-Lease-Secret.
    """

    run: ClaimedRun
    attempt: int
    lease_seconds: int
    lease_secret: str = Field(repr=False, description="Send it as the X-Lease-Secret header on every call of "
                              "this attempt; it is never shown again.")


class WorkerCall(BaseModel):
    """Who reports (for the run log); the X-Lease-Secret header, not these fields, proves the caller holds the lease."""

    worker: NoNul = Field(min_length=1, max_length=200)
    attempt: int = Field(ge=1, le=2**31 - 1)


class LeaseState(BaseModel):
    cancel_requested: bool
    lease_seconds: int


class PointIn(BaseModel):
    key: NoNul = Field(min_length=1, max_length=64)
    name: NoNul = Field(min_length=1, max_length=120)
    step: int = Field(ge=0, le=2**63 - 1)
    epoch: float = Field(ge=0.0)
    value: float = Field(allow_inf_nan=False, description="Finite; workers drop NaN and inf points.")
    time: datetime | None = None


class LogIn(BaseModel):
    key: NoNul = Field(min_length=1, max_length=64)
    text: Annotated[str, AfterValidator(nul_replaced)] = Field(max_length=2000)
    time: datetime | None = None


class Phase(BaseModel):
    """Where a running run is: a phase of the catalogue's PHASES and its progress, as its worker last measured."""

    name: str = Field(min_length=1, max_length=40, description="A key of the catalogue's `phases` (pretraining, "
                      "features, probe, t-SNE, ...); a page shows a name it does not know as it is.")
    done: int = Field(0, ge=0, le=2**63 - 1, description="Units done: steps, images or probe epochs (the "
                      "phase's `unit` in the catalogue).")
    total: int | None = Field(None, ge=0, le=2**63 - 1, description="Units in the phase; null: no measure.")
    rate: float | None = Field(None, ge=0.0, allow_inf_nan=False,
                               description="Units per second over the last seconds; null until measured.")
    views_per_s: float | None = Field(None, ge=0.0, allow_inf_nan=False,
                                      description="Training: augmented views processed per second.")


class EventBatch(WorkerCall):
    """POST /api/runs/{id}/events: metric points and messages, idempotent by each item's key."""

    points: list[PointIn] = Field(default_factory=list, max_length=10_000)
    logs: list[LogIn] = Field(default_factory=list, max_length=1000)
    progress: float | None = Field(None, ge=0.0, le=1.0)
    phase: Phase | None = Field(None, description="The run's phase now; null: unchanged.")


class BatchReceived(LeaseState):
    received: int = Field(description="Points and messages received; ones already stored are ignored.")


class Release(WorkerCall):
    """POST /api/runs/{id}/release: a worker shutting down hands its run back."""

    reason: Annotated[str, AfterValidator(nul_replaced)] = Field(min_length=1, max_length=500,
                                                                 description="Why the worker hands the run back.")


# A worker finishes a run with one of these (catalog.WORKER_FINAL_STATUSES; `pruned` is the API's to give).
FinalStatus = Literal[Status.SUCCEEDED, Status.FAILED, Status.CANCELED]


class Finish(WorkerCall):
    """POST /api/runs/{id}/finish: the run's final status, error and summary metrics."""

    status: FinalStatus
    error: Annotated[str | None, AfterValidator(nul_replaced)] = Field(None, max_length=4000)
    summary: dict[str, FiniteFloat] = Field(default_factory=dict, description="Finite numbers only.")

    @field_validator("status", mode="before")
    @classmethod
    def _final(cls, value: object) -> object:
        """Refused in words (pydantic's own message would list the members' reprs)."""
        if not isinstance(value, str) or value not in WORKER_FINAL_STATUSES:
            *others, last = (status.value for status in WORKER_FINAL_STATUSES)
            raise ValueError(f"a run finishes {', '.join(others)} or {last}, not {value!r}")
        return value


class WorkerBeat(BaseModel):
    """POST /api/workers/heartbeat: one worker process says it is alive, what it offers and what it holds."""

    name: NoNul = Field(min_length=1, max_length=200, description="The Celery node name (worker1@host).")
    host: NoNul = Field("", max_length=200, description="The machine the worker runs on.")
    devices: int = Field(1, ge=1, le=64, description="The most devices one run may use on this worker: its "
                         "device slots, or 1.")
    slots: list[Annotated[NoNul, Field(max_length=80)]] = Field(
        default_factory=list, max_length=64, description="The host's device slots it shares (GPU ids, or cpu0, "
        "cpu1, ...); empty: a plain worker that trains on what it sees.")
    gpu: bool = Field(False, description="Whether its slots (or its one device) are GPUs.")
    queues: list[Annotated[NoNul, Field(max_length=200)]] = Field(default_factory=list, max_length=64)
    version: NoNul = Field("", max_length=64, description="The ContrastLab version it runs.")
    run_id: int | None = Field(None, ge=1, le=2**63 - 1, description="The run whose message it holds now "
                               "(waiting for device slots or training); null: idle.")
    stopping: bool = Field(False, description="The last beat of a worker that is stopping.")


class WorkerSeen(BaseModel):
    """The answer to a beat: how often to beat, and when the API takes a silent worker for lost."""

    heartbeat_seconds: float
    lost_after_seconds: float
