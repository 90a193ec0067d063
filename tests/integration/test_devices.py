"""Multi-device runs through the real stack: a worker with two CPU device slots (`contrastlab worker --slots 2`)
runs two 1-device runs and a 2-device run (torchrun, gloo) from Redis, and never uses more than two slots; the
preview consumer it starts beside them draws a preview."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from contrastlab.core import paths
from tests.stack import REDIS_TEST_URL, Stack, post_preview

TINY = {"dataset": "digits", "epochs": 1, "batch_size": 32, "max_train_samples": 128, "probe_epochs": 5,
        "tsne_samples": 20, "random_baseline": False}
SLOTS_MESSAGE = "device slots "


@pytest.fixture
def slot_stack(tmp_path: Path) -> Iterator[Stack]:
    # One thread per process: the ranks, the workers and the API share this machine's two cores.
    stack = Stack(tmp_path / "data", broker_url=REDIS_TEST_URL, OMP_NUM_THREADS="1")
    try:
        stack.start_api()
        stack.workers.append(stack._spawn([sys.executable, "-m", "worker.supervise", "--slots", "2"], "worker.log"))
        yield stack
    finally:
        stack.stop()
        print(stack.all_logs())


def _slots(stack: Stack, run_id: int) -> list[str]:
    """The device slots the worker gave the run, from the run's log."""
    texts = [e["text"] for e in stack.log_entries(run_id) if e["text"].startswith(SLOTS_MESSAGE)]
    assert len(texts) == 1, texts
    return texts[0].removeprefix(SLOTS_MESSAGE).split(" of worker")[0].split(", ")


def test_a_two_slot_worker_runs_one_and_two_device_runs_without_oversubscribing(slot_stack: Stack) -> None:
    stack = slot_stack
    submitted = [stack.submit(**TINY, name="one-a"), stack.submit(**TINY, name="two", devices=2, method="supcon"),
                 stack.submit(**TINY, name="one-b")]
    runs = [stack.wait(run["id"], {"succeeded", "failed", "canceled"}) for run in submitted]
    assert [run["status"] for run in runs] == ["succeeded"] * 3, [run["error"] for run in runs]

    two = runs[1]
    losses = [p for p in stack.points(two["id"]) if p["name"] == "loss"]
    assert [p["step"] for p in losses] == [1, 2, 3, 4]  # rank 0 alone reports: each step once
    assert {"encoder.safetensors", "embeddings.json", "run.json"} <= stack.artifact_names(two["id"])
    assert any("starting 2 processes with torchrun" in e["text"] for e in stack.log_entries(two["id"]))

    # Never more than the worker's two slots at once, and never one slot twice: each run holds its slots from
    # before its claim (started_at) until after its finish (finished_at).
    held = [(datetime.fromisoformat(run["started_at"]), datetime.fromisoformat(run["finished_at"]),
             _slots(stack, run["id"])) for run in runs]
    assert [len(slots) for _, _, slots in held] == [1, 2, 1]
    for start, _, _ in held:
        busy = [slot for begun, ended, slots in held if begun <= start < ended for slot in slots]
        assert len(busy) == len(set(busy)) <= 2, held

    consumer = next(w for w in stack.get(paths.WORKERS)["items"] if w["name"].startswith("preview-worker@"))
    assert (consumer["role"], consumer["status"], consumer["slots"]) == ("previews", "online", [])
    preview = post_preview(stack.http, {"spec": {"dataset": "digits"}, "images": 2})
    assert preview.status_code == 200 and preview.headers["content-type"] == "image/png", preview.text
