"""Run one run by id: claim it, train it, upload its artifacts, finish it.

"Asserts the world" first: the claim fails (409) unless the run is queued or
its previous worker's lease ran out, so a redelivered message does nothing.
"""

from __future__ import annotations

import logging
import math
import shutil
from pathlib import Path

from worker.reporting import ApiClient, HttpReporter
from worker.spec import RunSpec

log = logging.getLogger(__name__)


def execute(run_id: int, api: ApiClient, work_dir: Path, worker: str) -> str:
    """Returns what happened, for the worker's log: the final status, or why it did nothing."""
    response = api.call("POST", f"/api/runs/{run_id}/claim", json={"worker": worker})
    if response.status_code in (404, 409):
        log.info("run %s not claimed: %s", run_id, response.json().get("detail"))
        return "skipped"
    response.raise_for_status()
    grant = response.json()
    attempt, spec = grant["attempt"], RunSpec.model_validate(grant["run"]["spec"])
    heartbeat_s = max(1.0, grant["lease_seconds"] / 4)
    reporter = HttpReporter(api, run_id, worker, attempt, spec.epochs, heartbeat_s=heartbeat_s)
    out_dir = work_dir / f"run-{run_id}-attempt-{attempt}"
    out_dir.mkdir(parents=True, exist_ok=True)

    status, error, summary = _train(spec, out_dir, reporter)
    reporter.close()
    if reporter.lease_lost:
        return "lease lost"
    for path in sorted(out_dir.iterdir()):
        if path.is_file() and not path.name.startswith("."):
            with path.open("rb") as body:
                api.call("PUT", f"/api/runs/{run_id}/artifacts/{path.name}", content=body).raise_for_status()
    finish = {"worker": worker, "attempt": attempt, "status": status, "error": error,
              "summary": {k: float(v) for k, v in summary.items() if _is_number(v)}}
    api.call("POST", f"/api/runs/{run_id}/finish", json=finish).raise_for_status()
    shutil.rmtree(out_dir, ignore_errors=True)
    return status


def _train(spec: RunSpec, out_dir: Path, reporter: HttpReporter) -> tuple[str, str | None, dict[str, float]]:
    reporter.start()
    try:
        from worker.engine import TrainingCanceled, TrainingFailed, train  # torch loads here, in the child
    except Exception as exc:  # noqa: BLE001
        log.exception("cannot import the training engine")
        return "failed", f"worker cannot load the training engine: {exc}", {}
    try:
        return "succeeded", None, train(spec, out_dir, reporter)
    except TrainingCanceled:
        return "canceled", None, {}
    except TrainingFailed as exc:
        return "failed", str(exc), {}
    except Exception as exc:  # noqa: BLE001 - any crash ends the run as failed, with the reason
        log.exception("run failed")
        return "failed", f"{type(exc).__name__}: {exc}", {}


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
