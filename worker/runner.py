"""Run one run by id: claim it, train it (resuming an earlier attempt), upload its artifacts, finish it.

"Asserts the world" first: the claim fails (409) unless the run is queued, so a
redelivered message does nothing. A worker told to shut down (SIGTERM) stops at
the next step and hands the run back; the next attempt resumes from the last
epoch's checkpoint, which every epoch uploads as the artifact `resume.pt`.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
from pathlib import Path
from typing import Any

from contrastlab.core.catalog import RESUME_ARTIFACT
from contrastlab.core.spec import RunSpec
from worker.reporting import SHUTDOWN, ApiClient, HttpReporter

log = logging.getLogger(__name__)

RESUME_FROM = ".resume-from.pt"  # dot files in out_dir are not uploaded as artifacts
INIT_ENCODER = ".init-encoder.safetensors"
Outcome = tuple[str, str | None, dict[str, float]]


def allowed_roots() -> tuple[Path, ...]:
    """ALLOWED_DATA_ROOTS: the folders an image_folder dataset may come from (the API checks the same)."""
    return tuple(Path(p.strip()) for p in os.environ.get("ALLOWED_DATA_ROOTS", "").split(",") if p.strip())


def execute(run_id: int, api: ApiClient, work_dir: Path, worker: str) -> str:
    """Returns what happened, for the worker's log: the final status, or why it did nothing."""
    response = api.call("POST", f"/api/runs/{run_id}/claim", json={"worker": worker})
    if response.status_code in (404, 409):
        log.info("run %s not claimed: %s", run_id, response.json().get("detail"))
        return "skipped"
    response.raise_for_status()
    grant = response.json()
    attempt, spec = grant["attempt"], RunSpec.model_validate(grant["run"]["spec"])
    heartbeat_s = max(0.5, grant["lease_seconds"] / 4)
    reporter = HttpReporter(api, run_id, worker, attempt, spec.epochs, heartbeat_s=heartbeat_s)
    out_dir = work_dir / f"run-{run_id}-attempt-{attempt}"
    out_dir.mkdir(parents=True, exist_ok=True)
    reporter.start()
    status, error, summary = _train(spec, out_dir, reporter, _inputs(api, run_id, spec, attempt, out_dir))
    reporter.close()
    if reporter.lease_lost:
        return "lease lost"
    if status == "canceled" and SHUTDOWN.is_set() and not reporter.cancel_requested:
        body = {"worker": worker, "attempt": attempt, "reason": _handback_reason(reporter)}
        api.call("POST", f"/api/runs/{run_id}/release", json=body).raise_for_status()
        shutil.rmtree(out_dir, ignore_errors=True)
        return "handed back"
    _upload(api, run_id, worker, attempt, out_dir)
    finish = {"worker": worker, "attempt": attempt, "status": status, "error": error,
              "summary": {k: float(v) for k, v in summary.items() if _is_number(v)}}
    api.call("POST", f"/api/runs/{run_id}/finish", json=finish).raise_for_status()
    shutil.rmtree(out_dir, ignore_errors=True)
    return status


def _handback_reason(reporter: HttpReporter) -> str:
    kept = reporter.uploaded_checkpoint
    where = f"resumes after epoch {kept[0]} (step {kept[1]})" if kept else "no checkpoint yet, starts over"
    return f"worker shutting down (SIGTERM); {where}"


def _inputs(api: ApiClient, run_id: int, spec: RunSpec, attempt: int, out_dir: Path) -> dict[str, Any] | str:
    """The engine's keyword inputs: the checkpoint to resume, the encoder to start from; or why not."""
    inputs: dict[str, Any] = {}
    roots = allowed_roots()
    if roots:
        inputs["allowed_roots"] = roots
    if attempt > 1 and api.download(f"/api/runs/{run_id}/artifacts/{RESUME_ARTIFACT}", out_dir / RESUME_FROM):
        inputs["resume_from"] = out_dir / RESUME_FROM
    source = getattr(spec, "init_from_run", None)
    if source is not None:
        if not api.download(f"/api/runs/{source}/artifacts/encoder.safetensors", out_dir / INIT_ENCODER):
            return (f"init_from_run {source} has no encoder.safetensors: pick a run that succeeded, "
                    "or leave init_from_run empty")
        inputs["init_encoder"] = out_dir / INIT_ENCODER
    return inputs


def _upload(api: ApiClient, run_id: int, worker: str, attempt: int, out_dir: Path) -> None:
    headers = {"X-Worker": worker, "X-Attempt": str(attempt)}
    for path in sorted(out_dir.iterdir()):
        if path.is_file() and not path.name.startswith("."):
            with path.open("rb") as body:
                api.call("PUT", f"/api/runs/{run_id}/artifacts/{path.name}", content=body,
                         headers=headers).raise_for_status()


def _train(spec: RunSpec, out_dir: Path, reporter: HttpReporter, inputs: dict[str, Any] | str) -> Outcome:
    if isinstance(inputs, str):
        return "failed", inputs, {}
    try:
        from worker.engine import TrainingCanceled, TrainingFailed, train  # torch loads here, in the child
    except Exception as exc:  # noqa: BLE001
        log.exception("cannot import the training engine")
        return "failed", f"worker cannot load the training engine: {exc}", {}
    try:
        return "succeeded", None, train(spec, out_dir, reporter, **inputs)
    except TrainingCanceled:
        return "canceled", None, {}
    except TrainingFailed as exc:
        return "failed", str(exc), {}
    except Exception as exc:  # noqa: BLE001 - any crash ends the run as failed, with the reason
        log.exception("run failed")
        return "failed", f"{type(exc).__name__}: {exc}", {}


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
