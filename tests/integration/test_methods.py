"""Every method of the catalogue trains end to end through the real service on digits, and learns: its loss falls.

The session's stack with the embedded broker and SQLite (API, one Celery worker); all runs are
submitted at once and the worker takes them in turn, so the cost is the training itself.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterator
from typing import Any

import pytest

from contrastlab.core.catalog import METHODS as CATALOGUE
from tests.integration.conftest import Stacks
from tests.stack import Stack

pytestmark = pytest.mark.integration

METHODS = list(CATALOGUE)
EPOCHS, SAMPLES, BATCH = 3, 640, 128
TINY = {"dataset": "digits", "epochs": EPOCHS, "batch_size": BATCH, "max_train_samples": SAMPLES,
        "probe_epochs": 20, "tsne_samples": 50, "knn_every": 1}
STEPS = EPOCHS * SAMPLES // BATCH  # 15
# Sizes a CPU test affords; the rest is each method's paper defaults. DINO's defaults are ImageNet's: at 15 steps
# the centring (momentum 0.9) flattens the teacher as fast as the student learns and its loss stays flat
# (last/first 0.98-1.01, measured); with a slower centre and no teacher warm-up it falls (0.93).
OVERRIDES: dict[str, dict[str, Any]] = {
    "dino": {"dino_prototypes": 256, "small_crops": 2, "dino_warmup_teacher_epochs": 0, "dino_center_momentum": 0.99},
}
TARGET_NETWORK = {"byol", "moco_v3", "dino"}  # each reports its EMA's tau per step
ENDS = 5  # steps averaged at each end of the run: one step's loss is noisy (each batch draws new augmentations)


@pytest.fixture(scope="module")
def finished(stacks: Stacks) -> Iterator[tuple[Stack, dict[str, dict[str, Any]]]]:
    """Each method's final run record, after all of them ran on one stack (the session's embedded one)."""
    stack = stacks.get("embedded")
    runs = {method: stack.submit(method=method, name=method, **TINY, **OVERRIDES.get(method, {}))
            for method in METHODS}
    yield stack, {method: stack.wait(run["id"], {"succeeded", "failed", "canceled"}, timeout=600)
                  for method, run in runs.items()}
    print(stack.all_logs())  # shown by pytest only when a test failed


@pytest.mark.parametrize("method", METHODS)
def test_method_trains_through_the_service(finished, method):
    stack, runs = finished
    run = runs[method]
    assert run["status"] == "succeeded", (run.get("error"), stack.all_logs())
    summary = run["summary"]
    # Digits are easy and random features already strong: any working method clears 0.5 (chance is 0.1), so
    # the accuracies show only that evaluation works; the loss falling shows that the method learns.
    for key in ("linear_acc", "knn_acc", "random_linear_acc", "random_knn_acc"):
        assert 0.5 < summary[key] <= 1.0, (key, summary)
    assert ("linear_acc_head" in summary) == (method != "supervised")
    metrics = stack.http.get(f"/api/runs/{run['id']}/metrics", params={"limit": 10000}).json()["items"]
    losses = [m["value"] for m in metrics if m["name"] == "loss"]
    assert len(losses) == STEPS and all(math.isfinite(value) for value in losses)
    first, last = statistics.fmean(losses[:ENDS]), statistics.fmean(losses[-ENDS:])
    # Measured on CPU, seed 0: the last steps' mean is 0.18x (contrastive) to 0.92x (triplet_semihard) the first's.
    assert last < 0.98 * first, (method, losses)
    taus = [m["value"] for m in metrics if m["name"] == "tau"]
    assert len(taus) == (STEPS if method in TARGET_NETWORK else 0), method
    assert taus == sorted(taus) and all(0 < tau <= 1 for tau in taus)  # a cosine rising towards 1
    names = {a["name"] for a in stack.http.get(f"/api/runs/{run['id']}/artifacts").json()["items"]}
    assert {"encoder.safetensors", "evaluation.json", "run.json"} <= names
    evaluation = stack.http.get(f"/api/runs/{run['id']}/artifacts/evaluation.json").json()
    assert sum(map(sum, evaluation["confusion_matrix"])) == 360
    assert evaluation["linear_acc"] == pytest.approx(summary["linear_acc"])
