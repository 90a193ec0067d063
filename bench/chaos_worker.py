"""The chaos soak's worker: a real Celery worker that also writes what it sends, for the soak to check.

    python -m bench.chaos_worker <celery worker arguments>   (with CHAOS_SENT=<folder> in the environment)

Each attempt gets CHAOS_SENT/run<id>-a<attempt>.jsonl: a first line with the training process's pid, then one line
per metric point the engine reported to the worker's reporter ({"name", "step", "value"}), one per artifact the
worker uploaded ({"artifact", "sha256", "size"}) and a last one once the API took its final status ({"finished"}).
Lines are appended and flushed one at a time, so a SIGKILL leaves every line written before it whole. The patches
are made in the Celery main process; its pool processes (forked) inherit them.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import IO, Any

SENT_ENV = "CHAOS_SENT"


def sent_file(folder: Path, run_id: int, attempt: int) -> Path:
    return folder / f"run{run_id}-a{attempt}.jsonl"


def _append(run_id: int, attempt: int, record: dict[str, Any]) -> None:
    path = sent_file(Path(os.environ[SENT_ENV]), run_id, attempt)
    with path.open("a") as out:
        out.write(json.dumps(record) + "\n")


def _sha256(body: IO[bytes]) -> tuple[str, int]:
    start = body.tell()
    digest, size = hashlib.sha256(), 0
    while chunk := body.read(1 << 20):
        digest.update(chunk)
        size += len(chunk)
    body.seek(start)
    return digest.hexdigest(), size


def install() -> None:
    """Wrap the reporter and the lease so that each attempt's points and uploads are written down as sent."""
    import math

    from contrastlab.core.protocol import Finish
    from worker.api import Lease
    from worker.reporting import HttpReporter

    started, metric, upload, end = HttpReporter.start, HttpReporter.metric, Lease.upload, Lease.finish

    def start(self: HttpReporter) -> None:
        _append(self.run_id, self.attempt, {"pid": os.getpid(), "worker": self.worker})
        started(self)

    def record_metric(self: HttpReporter, name: str, value: float, step: int, epoch: float) -> None:
        metric(self, name, value, step, epoch)
        if math.isfinite(value):  # the reporter drops the rest
            _append(self.run_id, self.attempt, {"name": name, "step": int(step), "value": float(value)})

    def record_upload(self: Lease, name: str, body: IO[bytes]) -> None:
        sha256, size = _sha256(body)
        upload(self, name, body)
        _append(self.run_id, self.attempt, {"artifact": name, "sha256": sha256, "size": size})

    def record_finish(self: Lease, finish: Finish) -> None:
        end(self, finish)
        _append(self.run_id, self.attempt, {"finished": str(finish.status)})

    HttpReporter.start = start  # type: ignore[method-assign]
    HttpReporter.metric = record_metric  # type: ignore[method-assign]
    Lease.upload = record_upload  # type: ignore[method-assign]
    Lease.finish = record_finish  # type: ignore[method-assign]


def main() -> None:
    install()
    from worker.main import app

    app.worker_main(sys.argv[1:])


if __name__ == "__main__":
    main()
