"""Workers that die, get told to stop, or receive a message twice: runs resume, never run twice, lose nothing.

Each test prints the figures it measured (run pytest with -s or -rP to see them).
"""

from __future__ import annotations

import signal
import time
from datetime import datetime
from typing import Any

import pytest

from tests.stack import Stack
from worker.system import SAMPLED

pytestmark = pytest.mark.integration

STEPS_PER_EPOCH = 10
# Digits, 640 training images in batches of 64: 10 steps an epoch; evaluation kept small.
FAST: dict[str, Any] = {"method": "simclr", "dataset": "digits", "batch_size": 64, "max_train_samples": 640,
                        "probe_epochs": 5, "tsne_samples": 50, "random_baseline": False, "knn_every": 1000}
FINAL = {"succeeded", "failed", "canceled"}


def mid_epoch_after_a_checkpoint(stack: Stack, run_id: int) -> bool:
    """True once resume.pt is stored and training is a few steps into a later epoch."""
    if "resume.pt" not in stack.artifact_names(run_id):
        return False
    steps = [p["step"] for p in stack.points(run_id) if p["name"] == "loss"]
    return bool(steps) and max(steps) > STEPS_PER_EPOCH and max(steps) % STEPS_PER_EPOCH >= 3


def logged_at(entry: dict[str, Any]) -> float:
    return datetime.fromisoformat(entry["time"].replace("Z", "+00:00")).timestamp()


def entry(stack: Stack, run_id: int, starts: str) -> dict[str, Any]:
    found = [e for e in stack.log_entries(run_id) if e["text"].startswith(starts)]
    assert found, f"no log entry starting {starts!r}: {stack.log_entries(run_id)}"
    return found[0]


def assert_every_point_once(stack: Stack, run_id: int, epochs: int, before: list[dict[str, Any]]) -> int:
    """No (name, step) twice, no loss step missing, and every point recorded before the fault unchanged. The
    worker's samples of the machine are keyed by sample, not (name, step): several may share a step, across
    attempts too, and are left out of the (name, step) check."""
    points = stack.points(run_id)
    keys = [(p["name"], p["step"]) for p in points if p["name"] not in SAMPLED]
    assert len(keys) == len(set(keys)), "a point was stored twice"
    assert sorted(s for n, s in keys if n == "loss") == list(range(1, epochs * STEPS_PER_EPOCH + 1))
    now = {p["id"]: p["value"] for p in points}
    assert all(now.get(p["id"]) == p["value"] for p in before), "a point recorded before the fault changed"
    return len(points)


def test_a_run_whose_worker_dies_every_time_fails_after_max_attempts(faults: Stack) -> None:
    run = faults.submit(**FAST, epochs=50, name="cursed")

    def state() -> tuple[str, int]:
        shown = faults.get(f"/api/runs/{run['id']}")
        return shown["status"], shown["attempt"]

    noticed_after = []
    for attempt in (1, 2, 3):  # MAX_ATTEMPTS=3 on the fault stack
        doomed = faults.start_worker(f"doomed-{attempt}")
        faults.wait_until(f"attempt {attempt} runs", lambda a=attempt: state() == ("running", a))  # type: ignore[misc]
        faults.kill(doomed, signal.SIGKILL)
        killed_at = time.monotonic()
        faults.wait_until(f"attempt {attempt} noticed", lambda: state()[0] != "running")
        noticed_after.append(f"{time.monotonic() - killed_at:.1f}")
    final = faults.get(f"/api/runs/{run['id']}")
    assert final["status"] == "failed" and final["attempt"] == 3 and final["lost_leases"] == 3, final
    assert final["error"].endswith("gave up after 3 lost attempts (MAX_ATTEMPTS=3)")
    keys = [(p["name"], p["step"]) for p in faults.points(run["id"]) if p["name"] not in SAMPLED]  # as above
    assert len(keys) == len(set(keys))
    print(f"\nFAULT max attempts: 3 workers killed in turn, each loss noticed after {', '.join(noticed_after)} s "
          f"(the first within the API's start-up grace of LEASE_SECONDS + 10 s); the run ended {final['status']}: "
          f"{final['error']!r}")


def test_killed_worker_is_noticed_and_its_run_resumes_on_another_from_the_checkpoint(faults: Stack) -> None:
    doomed = faults.start_worker("doomed")
    run = faults.submit(**FAST, epochs=8, name="sigkill")
    faults.wait_until("a checkpoint and a few steps past it", lambda: mid_epoch_after_a_checkpoint(faults, run["id"]))
    faults.start_worker("survivor")
    faults.kill(doomed, signal.SIGKILL)
    killed_at = time.time()
    before = faults.points(run["id"])

    final = faults.wait(run["id"], FINAL, timeout=240)
    assert final["status"] == "succeeded", final
    assert final["attempt"] == 2 and final["lost_leases"] == 1
    assert "stopped renewing its lease during attempt 1" in final["requeue_reason"]
    requeued = entry(faults, run["id"], "queued again: worker")
    resumed = entry(faults, run["id"], "resuming after epoch")
    resumed_step = int(resumed["text"].rsplit("step ", 1)[1].rstrip(")"))
    assert resumed_step >= STEPS_PER_EPOCH
    total = assert_every_point_once(faults, run["id"], 8, before)
    last_before = max(p["step"] for p in before if p["name"] == "loss")
    print(f"\nFAULT sigkill: killed at step {last_before}; lease expiry noticed after "
          f"{logged_at(requeued) - killed_at:.1f} s (LEASE_SECONDS=3); resumed after step {resumed_step} "
          f"({last_before - resumed_step} steps redone, their points stored once); points {len(before)} before the "
          f"kill, {total} at the end, 0 duplicates; attempts {final['attempt']}")


def test_redelivered_message_for_a_run_with_a_live_lease_does_nothing(faults: Stack) -> None:
    short = {"VISIBILITY_TIMEOUT": "1"}  # Redis hands the unacknowledged message out again after 1 s
    faults.start_worker("holder", **short)
    run = faults.submit(**FAST, epochs=6, name="redelivered")
    faults.wait_until("running", lambda: faults.get(f"/api/runs/{run['id']}")["status"] == "running")
    faults.start_worker("bystander", **short)
    final = faults.wait(run["id"], FINAL, timeout=240)
    assert final["status"] == "succeeded" and final["attempt"] == 1, final
    assert [e["text"] for e in faults.log_entries(run["id"])].count("queued") == 1
    assert sum(e["text"].startswith("running") for e in faults.log_entries(run["id"])) == 1
    refusals = faults.log("bystander.log").count(f"run {run['id']} not claimed")
    seconds = datetime.fromisoformat(final["finished_at"][:-1]).timestamp() - \
        datetime.fromisoformat(final["started_at"][:-1]).timestamp()
    assert refusals >= 1, "the message was never redelivered: the test proves nothing"
    print(f"\nFAULT redelivery: run took {seconds:.1f} s with VISIBILITY_TIMEOUT=1; message redelivered "
          f"{refusals} time(s) to the other worker, refused each time (live lease); attempts {final['attempt']}")


def test_sigterm_hands_the_run_back_within_the_grace_period_and_it_resumes(faults: Stack) -> None:
    leaving = faults.start_worker("leaving")
    run = faults.submit(**FAST, epochs=8, name="sigterm")
    faults.wait_until("a checkpoint and a few steps past it", lambda: mid_epoch_after_a_checkpoint(faults, run["id"]))
    faults.start_worker("staying")
    faults.kill(leaving, signal.SIGTERM, group=False)  # the main process only, as `docker stop` does
    told_at = time.time()
    leaving.wait(timeout=60)
    exited_after = time.time() - told_at
    before = faults.points(run["id"])

    final = faults.wait(run["id"], FINAL, timeout=240)
    assert final["status"] == "succeeded" and final["attempt"] == 2 and final["lost_leases"] == 0, final
    assert leaving.returncode == 0
    handed = entry(faults, run["id"], "queued again: worker")
    assert "handed attempt 1 back: worker shutting down (SIGTERM); resumes after epoch" in handed["text"]
    resumed = entry(faults, run["id"], "resuming after epoch")
    total = assert_every_point_once(faults, run["id"], 8, before)
    print(f"\nFAULT sigterm: run handed back {logged_at(handed) - told_at:.1f} s after SIGTERM, worker exited "
          f"after {exited_after:.1f} s (code 0); {resumed['text']}; points {len(before)} before, {total} after, "
          f"0 duplicates; attempts {final['attempt']}")
