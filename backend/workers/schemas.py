"""What GET /api/workers returns: each worker as it last described itself, and what it is doing."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, field_serializer

from backend.models import Worker
from backend.runs.schemas import iso
from backend.workers.registry import LOST, ONLINE, is_online
from contrastlab.core.catalog import Status
from contrastlab.queue import is_preview_consumer

Activity = Literal["idle", "waiting", "busy"]
Role = Literal["runs", "previews"]


class WorkerPublic(BaseModel):
    name: str = Field(description="The Celery node name (worker1@host).")
    host: str
    role: Role = Field(description="runs: a worker that trains runs; previews: the preview consumer beside a host's "
                       "workers, which draws augmentation previews (CPU only) and takes no run.")
    status: Literal["online", "lost", "stopped"] = Field(description="online: heard from within "
                                                         "WORKER_LOST_SECONDS; lost: silent since; stopped: said so.")
    activity: Activity = Field(description="idle; waiting: it holds a queued run and waits for device slots; "
                               "busy: its run is training.")
    devices: int = Field(description="The most devices one run may use on it.")
    slots: list[str] = Field(description="The host's device slots it shares (GPU ids, cpu0, ...); empty: a plain "
                             "worker.")
    gpu: bool
    queues: list[str]
    version: str
    run_id: int | None = Field(description="The run whose message it holds; null: idle.")
    first_seen: datetime
    last_seen: datetime

    @field_serializer("first_seen", "last_seen")
    def _iso(self, value: datetime) -> str | None:
        return iso(value)

    @classmethod
    def of(cls, worker: Worker, run_status: str | None, lost_seconds: float, now: datetime) -> WorkerPublic:
        status = worker.status
        if status == ONLINE and not is_online(worker, lost_seconds, now):
            status = LOST  # silent, and the reconciler has not passed yet
        holds = worker.run_id if status == ONLINE else None
        activity: Activity = "idle" if holds is None else "busy" if run_status == Status.RUNNING else "waiting"
        role: Role = "previews" if is_preview_consumer(worker.queues or []) else "runs"
        return cls(name=worker.name, host=worker.host, role=role, status=status, activity=activity,
                   devices=worker.devices, slots=list(worker.slots or []), gpu=worker.gpu,
                   queues=list(worker.queues or []),
                   version=worker.version, run_id=worker.run_id if status == ONLINE else None,
                   first_seen=worker.first_seen, last_seen=worker.last_seen)


class WorkersPublic(BaseModel):
    items: list[WorkerPublic]
    heartbeat_seconds: float = Field(description="How often a worker beats (WORKER_HEARTBEAT_SECONDS).")
    lost_after_seconds: float = Field(description="Silent this long, a worker is lost (WORKER_LOST_SECONDS).")
