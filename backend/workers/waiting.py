"""Why a queued run waits, in words, from the connected workers and the queue; and what to tell a submitter."""

from __future__ import annotations

from sqlalchemy.orm import Session

from backend.models import Run, Worker
from backend.runs.lifecycle import queue_place
from backend.workers.registry import connected
from contrastlab.queue import spec_devices

NO_WORKER = "no worker is connected; it starts when one is (`make run`, or `contrastlab worker`)"
START_ONE = "start a worker with that many (`contrastlab worker --gpus 0,1,...`, or `--slots N` on CPUs)"


def _runs(count: int) -> str:
    return f"{count} run{'' if count == 1 else 's'}"


def _devices(count: int) -> str:
    return f"{count} device{'' if count == 1 else 's'}"


def _too_small(devices: int, workers: list[Worker]) -> str | None:
    largest = max(worker.devices for worker in workers)
    if largest >= devices:
        return None
    return f"needs {_devices(devices)}; the largest connected worker has {largest}"


def waiting_reason(session: Session, run: Run, lost_seconds: float) -> str:
    """Why the queued `run` has not started: no worker, none large enough, a worker waiting for its device
    slots, runs ahead of it, or every able worker busy."""
    devices = spec_devices(run.spec)
    workers = connected(session, lost_seconds)
    if not workers:
        return NO_WORKER
    if small := _too_small(devices, workers):
        return small
    holder = next((worker for worker in workers if worker.run_id == run.id), None)
    if holder is not None:
        return (f"worker {holder.name} holds it and waits for {_devices(devices)} of its host's "
                f"{len(holder.slots) or 1} to be free")
    position, _running = queue_place(session, run)
    if position > 1:
        return f"{_runs(position - 1)} ahead of it"
    able = [worker for worker in workers if worker.devices >= devices]
    busy = [worker for worker in able if worker.run_id is not None]
    if len(busy) == len(able):
        return (f"next in line; the {len(able)} connected worker{'' if len(able) == 1 else 's'} that can take it "
                f"{'is' if len(able) == 1 else 'are'} busy")
    return "next in line; a worker takes it in a moment"


def submit_warnings(session: Session, devices: int, lost_seconds: float) -> list[str]:
    """What a submitter should know at once: the run is accepted, but no connected worker can take it now."""
    workers = connected(session, lost_seconds)
    if not workers:
        return [f"{NO_WORKER}."]
    if small := _too_small(devices, workers):
        return [f"{small}: the run waits until a worker with {_devices(devices)} connects; {START_ONE}."]
    return []
