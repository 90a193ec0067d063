"""A run on several devices: torchrun started by the Celery task, rank 0's reports relayed to the API.

The task's process is a daemonic Celery pool process: it cannot start training processes with multiprocessing,
and it never touches CUDA. It starts `torchrun --standalone --nproc_per_node N -m worker.rank OUT_DIR` (torchrun's
own main in this interpreter, told first to die with its parent) and waits on it. Rank 0
writes its metrics, messages and checkpoints as JSON lines to OUT_DIR/.events.jsonl, which this process hands to
its HttpReporter; a cancel or a shutdown becomes the file OUT_DIR/.stop, which rank 0 reads and every rank obeys
at the same step. torchrun runs with --max_restarts 0: when a rank fails, it stops the others at once, and the
run fails with the error of the rank that failed first (each rank writes OUT_DIR/.rank-<r>.json as it ends).
"""

from __future__ import annotations

import collections
import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from contrastlab.core.catalog import Status
from contrastlab.core.settings import LoaderConfig
from contrastlab.core.spec import RunSpec
from worker.outcome import Outcome
from worker.slots import is_gpu

if TYPE_CHECKING:
    from worker.engine.report import Reporter

log = logging.getLogger(__name__)

RANK_MODULE = "worker.rank"
# torchrun's entry point after PR_SET_PDEATHSIG: a pool process killed outright takes torchrun (and so its ranks)
# with it. Set in the new interpreter: a preexec_fn is unsafe in this process, whose reporter threads run. {parent}:
# this process's pid, so a torchrun whose parent died before the call stops at once.
TORCHRUN = ("from contrastlab.queue import die_with_parent; die_with_parent({parent}); "
            "from torch.distributed.run import main; main()")
LAUNCH, EVENTS, STOP = ".launch.json", ".events.jsonl", ".stop"  # dot files are not uploaded as artifacts
POLL_S = 0.2
EXIT_GRACE_S = 30.0  # after a rank reported its failure, torchrun has this long to stop the others
TAIL_LINES = 8  # of torchrun's stderr, in the run's error when a rank died without a Python error


def _cores() -> int:
    """CPUs this process may run on (a container's cpuset, not the host's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def outcome_path(out_dir: Path, rank: int) -> Path:
    return out_dir / f".rank-{rank}.json"


def torchrun_command(devices: int, out_dir: Path, module: str = RANK_MODULE) -> list[str]:
    """torchrun on one host (its own rendezvous on a free port), no restarts: a failed rank ends the run."""
    return [sys.executable, "-c", TORCHRUN.format(parent=os.getpid()), "--standalone", "--nproc_per_node", str(devices),
            "--max_restarts", "0", "--monitor_interval", "0.2", "-m", module, str(out_dir)]


def train_on_devices(spec: RunSpec, out_dir: Path, reporter: Reporter, inputs: dict[str, Any],
                     slots: Sequence[str] | None, module: str = RANK_MODULE) -> Outcome:
    """Train the run in spec.devices processes on the held slots."""
    if slots is None or len(slots) != spec.devices:
        return Outcome.failed(f"devices {spec.devices}: this worker holds {len(slots or ())} device slot(s) for the "
                              "run; start workers with `contrastlab worker --gpus 0,1,...` (or --slots N for CPUs)")
    (out_dir / LAUNCH).write_text(json.dumps({"spec": spec.model_dump(mode="json"), "inputs": encode(inputs)}))
    env = dict(os.environ)
    if is_gpu(slots[0]):
        env["CUDA_VISIBLE_DEVICES"] = ",".join(slots)
    # CPU ranks share the host's cores (torchrun would give each one thread).
    env.setdefault("OMP_NUM_THREADS", str(max(1, _cores() // spec.devices)))
    reporter.message(f"starting {spec.devices} processes with torchrun")
    # Its own session: a signal to the worker's process group is the worker's to handle (hand the run back).
    process = subprocess.Popen(torchrun_command(spec.devices, out_dir, module), env=env, stderr=subprocess.PIPE,
                               start_new_session=True)
    assert process.stderr is not None
    tail = _tee(process.stderr)
    relay = Relay(out_dir / EVENTS, reporter)
    failed_at: float | None = None
    while process.poll() is None:
        relay.pump()
        if reporter.should_stop():
            (out_dir / STOP).touch()
        if failed_at is None and _first_failure(out_dir, spec.devices) is not None:
            failed_at = time.monotonic()
        if failed_at is not None and time.monotonic() - failed_at > EXIT_GRACE_S:
            log.error("torchrun did not stop the other ranks within %.0f s; ending it", EXIT_GRACE_S)
            _end(process)
        time.sleep(POLL_S)
    relay.pump()
    return outcome(out_dir, spec.devices, process.returncode, list(tail))


def outcome(out_dir: Path, devices: int, returncode: int, tail: list[str]) -> Outcome:
    """The run's result from the ranks' outcome files: the first failure wins; else rank 0's."""
    failure = _first_failure(out_dir, devices)
    if failure is not None:
        return Outcome.failed(f"{failure['error']} (rank {failure['rank']} of {devices})")
    main = _read_outcome(out_dir, 0)
    if main is not None and main["status"] == Status.CANCELED:
        return Outcome.canceled()
    if main is not None and main["status"] == Status.SUCCEEDED and returncode == 0:
        return Outcome.succeeded(dict(main["summary"]))
    lines = " | ".join(line.strip() for line in tail if line.strip())
    return Outcome.failed(f"a training process ended without reporting an error (torchrun exit code {returncode}; "
                          f"out of memory or killed?): {lines}")


def _first_failure(out_dir: Path, devices: int) -> dict[str, Any] | None:
    failures = [o for o in (_read_outcome(out_dir, rank) for rank in range(devices))
                if o is not None and o["status"] == Status.FAILED]
    return min(failures, key=lambda o: o["time"]) if failures else None


def _read_outcome(out_dir: Path, rank: int) -> dict[str, Any] | None:
    try:
        return dict(json.loads(outcome_path(out_dir, rank).read_text()))
    except (FileNotFoundError, json.JSONDecodeError):  # not written yet (it is renamed into place whole)
        return None


def _end(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to torchrun (it stops its ranks), SIGKILL if it lingers; the ranks die with it (PDEATHSIG)."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


def _tee(stream: IO[bytes]) -> collections.deque[str]:
    """Copy torchrun's stderr to the worker's, keeping the last lines for the run's error."""
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)

    def copy() -> None:
        for raw in stream:
            line = raw.decode(errors="replace")
            sys.stderr.write(line)
            tail.append(line)

    threading.Thread(target=copy, name="torchrun-stderr", daemon=True).start()
    return tail


class Relay:
    """Reads rank 0's event lines as they are appended and hands them to the reporter."""

    def __init__(self, path: Path, reporter: Reporter) -> None:
        self.path, self.reporter, self.offset = path, reporter, 0

    def pump(self) -> None:
        try:
            with self.path.open("rb") as file:
                file.seek(self.offset)
                chunk = file.read()
        except FileNotFoundError:
            return
        complete = chunk[:chunk.rfind(b"\n") + 1]  # a line still being written waits for the next pump
        self.offset += len(complete)
        for line in complete.splitlines():
            self._handle(json.loads(line))

    def _handle(self, event: dict[str, Any]) -> None:
        if "metric" in event:
            name, value, step, epoch = event["metric"]
            self.reporter.metric(name, float(value), int(step), float(epoch))
        elif "message" in event:
            self.reporter.message(str(event["message"]))
        elif "phase" in event:
            name, done, total, views_per_unit = event["phase"]
            self.reporter.phase(str(name), int(done), None if total is None else int(total), int(views_per_unit))
        elif "checkpoint" in event:
            path, epoch, step = event["checkpoint"]
            self.reporter.checkpoint(Path(path), int(epoch), int(step))  # opens it: the handle keeps the file
            Path(path).unlink(missing_ok=True)


def encode(inputs: dict[str, Any]) -> dict[str, Any]:
    """The engine's keyword inputs as JSON: paths, lists of paths, the loader config, plain values."""
    encoded: dict[str, Any] = {}
    for name, value in inputs.items():
        if isinstance(value, LoaderConfig):
            encoded[name] = {"loader": dataclasses.asdict(value)}
        elif isinstance(value, Path):
            encoded[name] = {"path": str(value)}
        elif isinstance(value, list | tuple) and all(isinstance(item, Path) for item in value):
            encoded[name] = {"paths": [str(item) for item in value]}
        else:
            encoded[name] = {"value": value}
    return encoded


def decode(encoded: dict[str, Any]) -> dict[str, Any]:
    """The inverse of encode."""
    return {name: Path(item["path"]) if "path" in item else LoaderConfig(**item["loader"]) if "loader" in item else
            [Path(p) for p in item["paths"]] if "paths" in item else item["value"]
            for name, item in encoded.items()}
