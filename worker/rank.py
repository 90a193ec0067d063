"""One rank of a multi-device run, as torchrun starts it: `python -m worker.rank OUT_DIR` (see worker/launch.py).

Reads the spec and the engine's inputs from OUT_DIR/.launch.json, joins the process group and trains its share.
Rank 0 reports through OUT_DIR/.events.jsonl and reads OUT_DIR/.stop; every rank ends by writing its outcome
to OUT_DIR/.rank-<r>.json. A rank that fails exits at once, without tearing down the process group, so torchrun
sees it die and stops the others instead of leaving them waiting in a collective.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from contrastlab.core.catalog import Status
from contrastlab.core.spec import RunSpec
from contrastlab.queue import die_with_parent
from worker.engine import NullReporter, Reporter, TrainingCanceled, TrainingFailed, train
from worker.engine.device import resolve_device
from worker.engine.distributed import join, leave
from worker.launch import EVENTS, LAUNCH, STOP, decode, outcome_path

log = logging.getLogger(__name__)


class FileReporter:
    """Rank 0's Reporter: one JSON line per event, relayed to the API by the task that started torchrun."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self._file = (out_dir / EVENTS).open("a", encoding="utf-8")
        self._lock = threading.Lock()  # the checkpoint writer's thread reports too

    def _write(self, event: dict[str, Any]) -> None:
        with self._lock:
            self._file.write(json.dumps(event) + "\n")
            self._file.flush()

    def metric(self, name: str, value: float, step: int, epoch: float) -> None:
        self._write({"metric": [name, value, step, epoch]})

    def message(self, text: str) -> None:
        self._write({"message": text})

    def phase(self, name: str, done: int = 0, total: int | None = None, views_per_unit: int = 0) -> None:
        self._write({"phase": [name, done, total, views_per_unit]})

    def should_stop(self) -> bool:
        return (self.out_dir / STOP).exists()

    def checkpoint(self, path: Path, epoch: int, step: int) -> None:
        # A link to this epoch's file: the next epoch replaces resume.pt while the task may still be reading it.
        kept = self.out_dir / f".checkpoint-epoch-{epoch}.pt"
        kept.unlink(missing_ok=True)
        os.link(path, kept)
        self._write({"checkpoint": [str(kept), epoch, step]})


def write_outcome(out_dir: Path, rank: int, status: Status, error: str | None = None,
                  summary: dict[str, float] | None = None) -> None:
    """This rank's end, written whole (renamed into place) so the task never reads half of it."""
    path = outcome_path(out_dir, rank)
    tmp = path.with_name(f"{path.name}.tmp")
    tmp.write_text(json.dumps({"rank": rank, "status": status, "error": error, "summary": summary or {},
                               "time": time.time()}))
    os.replace(tmp, path)


def main(argv: Sequence[str] | None = None) -> int:
    die_with_parent()  # torchrun starts ranks in their own sessions: if it is killed, they must not linger
    out_dir = Path((argv if argv is not None else sys.argv[1:])[0])
    rank = int(os.environ["RANK"])
    try:
        launch = json.loads((out_dir / LAUNCH).read_text())
        spec = RunSpec.model_validate(launch["spec"])
        reporter: Reporter = FileReporter(out_dir) if rank == 0 else NullReporter()
        shard = join(resolve_device(spec.device).type)
        summary = train(spec, out_dir, reporter, shard=shard, **decode(launch["inputs"]))
    except TrainingCanceled:  # every rank stops at the same step: rank 0's decision is broadcast
        write_outcome(out_dir, rank, Status.CANCELED)
        return 0
    except Exception as exc:
        if not isinstance(exc, TrainingFailed):
            log.exception("rank %s failed", rank)
        write_outcome(out_dir, rank, Status.FAILED, str(exc) if isinstance(exc, TrainingFailed)
                      else f"{type(exc).__name__}: {exc}")
        sys.stderr.flush()
        os._exit(1)  # no teardown: a collective waiting on this rank would hang it
    leave()
    write_outcome(out_dir, rank, Status.SUCCEEDED, summary=summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
