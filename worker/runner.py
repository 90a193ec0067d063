"""Run one run by id: claim it, train it (resuming an earlier attempt), upload its artifacts, finish it.

"Asserts the world" first: the claim fails (409) unless the run is queued, so a
redelivered message does nothing. A worker told to shut down (SIGTERM) stops at
the next step (or the evaluation's next stage) and hands the run back; the next
attempt resumes from the last epoch's checkpoint, which every epoch uploads as
the artifact `resume.pt` (after the last epoch, it evaluates only).
Any error after the claim (a stored spec that no longer validates, a download or
an upload the API refuses) ends the run at once as `failed` with its reason, and
the reporter's threads stop with it: a run never waits for its lease to expire.
Every call after the claim carries the lease secret the claim returned (and
only the claim returns it), so nobody else can write into the attempt.
A run of one device trains in this process; a run of several, in the
processes torchrun starts (worker/launch.py).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from contrastlab.client.http import ApiError
from contrastlab.core.catalog import DATASETS, DATASETS_FOLDER, Artifact, Status
from contrastlab.core.protocol import Claim, ClaimGranted, Release
from contrastlab.core.settings import Settings
from contrastlab.core.spec import RunSpec, load_stored_spec
from worker.api import Lease, LeaseLost, NotClaimed, WorkerApi
from worker.launch import train_on_devices
from worker.outcome import Outcome
from worker.reporting import SHUTDOWN, HttpReporter
from worker.slots import is_gpu
from worker.system import SystemSampler, gpu_indices

log = logging.getLogger(__name__)

WORK_FOLDER = "work"  # under DATA_DIR: one folder per attempt, removed when the attempt ends
RESUME_FROM = ".resume-from.pt"  # dot files in out_dir are not uploaded as artifacts
INIT_ENCODER = ".init-encoder.safetensors"


def execute(run_id: int, api: WorkerApi, settings: Settings, worker: str, slots: Sequence[str] | None = None) -> str:
    """Returns what happened, for the worker's log: the final status, or why it did nothing.

    slots: the host's device slots this run holds (None: a plain worker, one run on the devices it sees)."""
    try:
        grant = api.claim(run_id, Claim(worker=worker))
    except NotClaimed as exc:
        log.info("run %s not claimed: %s", run_id, exc)
        return "skipped"
    lease = Lease(api, run_id, worker, grant)
    try:
        spec = load_stored_spec(grant.run.spec, grant.run.spec_version)
    except ValueError as exc:  # the message names the version, the field and the reason
        return fail(lease, str(exc))
    reporter = HttpReporter(lease, heartbeat_s=max(0.5, grant.lease_seconds / 4))
    out_dir = settings.data_dir / WORK_FOLDER / f"run-{run_id}-attempt-{grant.attempt}"
    try:
        return _attempt(spec, api, grant, settings, reporter, out_dir, slots)
    except Exception as exc:  # any error ends the run now, with its reason, rather than at its lease's end
        log.exception("run %s: the worker failed", run_id)
        reporter.stop()
        if reporter.lease_lost or isinstance(exc, LeaseLost):
            return "lease lost"
        return fail(lease, f"{type(exc).__name__}: {exc}")
    finally:
        reporter.stop()
        shutil.rmtree(out_dir, ignore_errors=True)


def _attempt(spec: RunSpec, api: WorkerApi, grant: ClaimGranted, settings: Settings, reporter: HttpReporter,
             out_dir: Path, slots: Sequence[str] | None) -> str:
    """Train, then hand the run back (shutdown), or upload its files and finish it; errors propagate."""
    lease = reporter.lease
    out_dir.mkdir(parents=True, exist_ok=True)
    reporter.start()
    if slots is not None:
        reporter.message(f"device slots {', '.join(slots)} of worker {lease.worker}")
    inputs = engine_inputs(api, settings, lease.run_id, spec, grant.attempt, out_dir)
    sampler = SystemSampler(reporter, gpu_indices(slots, spec.device), settings.system_sample_seconds)
    if settings.system_sample_seconds > 0:
        sampler.start()
    try:
        if spec.devices > 1 and isinstance(inputs, dict):
            outcome = train_on_devices(spec, out_dir, reporter, inputs, slots)  # torchrun; this process never trains
        else:
            outcome = _train(spec, out_dir, reporter, inputs, slots)
    finally:
        sampler.stop()  # its last sample goes with the reporter's last batch
    reporter.close()
    if reporter.lease_lost:
        return "lease lost"
    if outcome.status == Status.CANCELED and SHUTDOWN.is_set() and not reporter.cancel_requested:
        lease.release(Release(worker=lease.worker, attempt=lease.attempt, reason=_handback_reason(reporter)))
        return "handed back"
    with reporter.keeping_lease():
        _upload(lease, out_dir)
    lease.finish(outcome.finish(lease.worker, lease.attempt))
    return outcome.status


def fail(lease: Lease, reason: str) -> str:
    """End the attempt as `failed` with the reason; never raises (the lease expiring is the last resort)."""
    log.error("run %s failed: %s", lease.run_id, reason)
    try:
        lease.finish(Outcome.failed(reason).finish(lease.worker, lease.attempt))
    except LeaseLost as exc:
        log.error("run %s: lease lost before the failure was reported: %s", lease.run_id, exc)
        return "lease lost"
    except ApiError as exc:
        log.error("run %s: the API refused the failure report: %s", lease.run_id, exc)
        return "failed (not reported)"
    except Exception:  # the API is unreachable: the reconciler fails the run when its lease expires
        log.exception("run %s: could not report its failure", lease.run_id)
        return "failed (not reported)"
    return Status.FAILED


def _handback_reason(reporter: HttpReporter) -> str:
    kept = reporter.uploaded_checkpoint
    where = f"resumes after epoch {kept[0]} (step {kept[1]})" if kept else "no checkpoint yet, starts over"
    return f"worker shutting down (SIGTERM); {where}"


def engine_inputs(api: WorkerApi, settings: Settings, run_id: int, spec: RunSpec, attempt: int,
                  out_dir: Path) -> dict[str, Any] | str:
    """The engine's keyword inputs (data folder, allowed roots, checkpoint to resume, encoder to start from);
    or why the run cannot start."""
    inputs: dict[str, Any] = {}
    if DATASETS[spec.dataset].source == "download":
        # Into the worker's data folder (a volume in compose), not a home cache; the offline sets keep their
        # own homes (Fashion-MNIST: Debian's folder).
        inputs["data_root"] = settings.data_dir / DATASETS_FOLDER
    if settings.data_roots:
        inputs["allowed_roots"] = settings.data_roots
    inputs["loader"] = settings.loader
    if attempt > 1 and api.download_artifact(run_id, Artifact.RESUME, out_dir / RESUME_FROM):
        inputs["resume_from"] = out_dir / RESUME_FROM
    source = spec.init_from_run
    if source is not None:
        if not api.download_artifact(source, Artifact.ENCODER, out_dir / INIT_ENCODER):
            return (f"init_from_run {source} has no {Artifact.ENCODER}: pick a run that succeeded, "
                    "or leave init_from_run empty")
        inputs["init_encoder"] = out_dir / INIT_ENCODER
    return inputs


def _upload(lease: Lease, out_dir: Path) -> None:
    for path in sorted(out_dir.iterdir()):
        if path.is_file() and not path.name.startswith("."):
            with path.open("rb") as body:
                lease.upload(path.name, body)


def _train(spec: RunSpec, out_dir: Path, reporter: HttpReporter, inputs: dict[str, Any] | str,
           slots: Sequence[str] | None = None) -> Outcome:
    if isinstance(inputs, str):
        return Outcome.failed(inputs)
    if slots and is_gpu(slots[0]):
        # Before CUDA starts in this process: GPU workers start a fresh pool process for every run.
        os.environ["CUDA_VISIBLE_DEVICES"] = slots[0]
    try:
        from worker.engine import TrainingCanceled, TrainingFailed, train  # torch loads here, in the child
    except Exception as exc:  # a broken install fails the run with the reason instead of killing the worker
        log.exception("cannot import the training engine")
        return Outcome.failed(f"worker cannot load the training engine: {exc}")
    try:
        return Outcome.succeeded(train(spec, out_dir, reporter, **inputs))
    except TrainingCanceled:
        return Outcome.canceled()
    except TrainingFailed as exc:
        return Outcome.failed(str(exc))
    except Exception as exc:  # any crash ends the run as failed, with the reason
        log.exception("run failed")
        return Outcome.failed(f"{type(exc).__name__}: {exc}")
