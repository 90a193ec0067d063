"""Training that fails (NaN loss, out of memory, a dataset that is not there) or is canceled, on the real stack.

The NaN and out-of-memory faults are injected into a real worker process by tests.stack.faulty_worker.
Each test prints the figures it measured (run pytest with -s or -rP to see them).
"""

from __future__ import annotations

import io
from datetime import datetime

import pytest
import torch

from tests.integration.test_faults_workers import FAST, FINAL, STEPS_PER_EPOCH, mid_epoch_after_a_checkpoint
from tests.stack import Stack

pytestmark = pytest.mark.integration


def stamp(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def test_nan_loss_fails_the_run_naming_the_step_and_keeps_the_last_good_checkpoint(faults: Stack) -> None:
    faults.start_worker("nan", fault="nan@25")
    run = faults.submit(**FAST, epochs=5, name="diverges")
    final = faults.wait(run["id"], FINAL, timeout=240)
    assert final["status"] == "failed" and final["error"] == "loss diverged at step 25", final
    loss_steps = [p["step"] for p in faults.points(run["id"]) if p["name"] == "loss"]
    assert loss_steps == list(range(1, 25))
    checkpoint = torch.load(io.BytesIO(faults.http.get(f"/api/runs/{run['id']}/artifacts/resume.pt").content),
                            weights_only=True)
    assert checkpoint["epoch"] == 2 and checkpoint["step"] == 2 * STEPS_PER_EPOCH
    print(f"\nFAULT NaN: failed with {final['error']!r}; {len(loss_steps)} loss points kept; resume.pt kept from "
          f"epoch {checkpoint['epoch']} (step {checkpoint['step']})")


def test_out_of_memory_fails_naming_the_batch_size_with_a_suggestion(faults: Stack) -> None:
    faults.start_worker("oom", fault="oom@3")
    run = faults.submit(**FAST, epochs=2, name="out of memory")
    final = faults.wait(run["id"], FINAL, timeout=240)
    assert final["status"] == "failed" and "memory with batch_size 64" in final["error"], final
    assert "lower batch_size" in final["error"]
    print(f"\nFAULT OOM: failed with {final['error']!r}")


def test_missing_dataset_offline_fails_at_once_with_the_download_hint(faults: Stack) -> None:
    faults.start_worker("offline")
    run = faults.submit(**{**FAST, "dataset": "cifar10"}, epochs=1, name="no network")
    final = faults.wait(run["id"], FINAL, timeout=120)
    assert final["status"] == "failed" and "could not be downloaded" in final["error"], final
    assert "On a machine with a network" in final["error"]
    # Nothing trained: no point but the worker's samples of the machine while it tried (system.*).
    assert [p["name"] for p in faults.points(run["id"]) if not p["name"].startswith("system.")] == []
    seconds = stamp(final["finished_at"]) - stamp(final["started_at"])
    print(f"\nFAULT dataset missing: failed {seconds:.1f} s after it started: {final['error'][:90]}...")


def test_a_batch_too_large_for_the_worker_fails_before_training_naming_the_largest_that_fits(faults: Stack) -> None:
    faults.start_worker("too-big")
    # ResNet-50 keeps 28 px maps at full size (small-image stem): about 40 MB per image and view, so a step of
    # 640 images x 2 views needs about 100 GB, more than this machine has in all.
    spec = {**FAST, "dataset": "fashion_mnist", "encoder": "resnet50", "batch_size": 640}
    run = faults.submit(**spec, epochs=1, name="too big")
    final = faults.wait(run["id"], FINAL, timeout=180)
    assert final["status"] == "failed", final
    error = final["error"]
    assert error.startswith("batch_size 640 needs about") and "GB per training step on cpu" in error, error
    largest = int(error.rsplit("fits is about ", 1)[1])
    assert 2 <= largest < 640
    assert not [p for p in faults.points(run["id"]) if p["name"] == "loss"]  # not one step was tried
    seconds = stamp(final["finished_at"]) - stamp(final["started_at"])
    print(f"\nFAULT batch too large: failed {seconds:.1f} s after it started: {error}")


def test_cancel_stops_within_a_few_steps_and_keeps_checkpoint_and_metrics(faults: Stack) -> None:
    faults.start_worker("canceled")
    run = faults.submit(**FAST, epochs=50, name="to cancel")
    faults.wait_until("a checkpoint and a few steps past it", lambda: mid_epoch_after_a_checkpoint(faults, run["id"]))
    assert faults.http.post(f"/api/runs/{run['id']}/cancel").json()["cancel_requested"] is True
    at_request = max(p["step"] for p in faults.points(run["id"]) if p["name"] == "loss")
    final = faults.wait(run["id"], FINAL, timeout=120)
    assert final["status"] == "canceled", final
    last = max(p["step"] for p in faults.points(run["id"]) if p["name"] == "loss")
    assert last - at_request < STEPS_PER_EPOCH, "it ran on to the end of the epoch or beyond"
    assert "resume.pt" in faults.artifact_names(run["id"])
    print(f"\nFAULT cancel: {last - at_request} step(s) after the request was stored; ended canceled with "
          f"{len(faults.points(run['id']))} points and resume.pt kept")
