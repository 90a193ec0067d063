"""A streamed dataset cannot hang a run: a DataLoader worker that stalls or dies fails it with the loader's error."""

import json
import multiprocessing
import os
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from contrastlab.core.settings import LoaderConfig
from contrastlab.core.spec import RunSpec
from worker.engine import ListReporter, TrainingFailed, stream, train
from worker.engine.stream import Streamed, batches
from worker.launch import decode, encode

CPU = torch.device("cpu")


class Faulty(Streamed):
    """8 grey images of 4 x 4 pixels; the image at `at` stalls (sleeps an hour) or kills its reader."""

    side = 4

    def __init__(self, fault: str, at: int, loader: LoaderConfig) -> None:
        self.fault, self.at, self.loader = fault, at, loader

    def __len__(self) -> int:
        return 8

    def __getitem__(self, index: int) -> torch.Tensor:
        if index == self.at:
            if self.fault == "stall":
                time.sleep(3600)
            os.kill(os.getpid(), signal.SIGKILL)
        return torch.full((3, 4, 4), index, dtype=torch.uint8)


DATA_WORKERS_HINT = "(setting DATA_WORKERS=0 decodes in the training process)"


def _image_folder(images: Path, faulty: str) -> Path:
    """2 classes of 6 PNGs of 8 x 8 pixels; the 4th of the second class is named `faulty`."""
    for c in range(2):
        (images / f"class{c}").mkdir(parents=True)
        for i in range(6):
            name = faulty if (c, i) == (1, 3) else str(i)
            Image.fromarray(np.full((8, 8, 3), 60 * c + i, np.uint8)).save(images / f"class{c}" / f"{name}.png")
    return images


def _read(source: Streamed) -> tuple[list[int], str]:
    """The first pixel of each batch of 4 read before the loader gave up, and its error."""
    seen = []
    with pytest.raises(TrainingFailed) as failure:
        for batch in batches(source, torch.arange(8).split(4), CPU):
            seen.append(int(batch[0, 0, 0, 0]))
    assert multiprocessing.active_children() == []  # the stuck or dead worker is not left behind
    return seen, failure.value.message


def test_a_worker_that_stalls_fails_the_read_within_the_bound_and_names_the_setting():
    seen, message = _read(Faulty("stall", 6, LoaderConfig(workers=1, timeout_s=1)))
    assert seen == [0]  # the first batch came; the second never does
    assert "no batch within 1 s (setting DATA_TIMEOUT_S)" in message and "timed out after 1 seconds" in message


def test_a_worker_that_dies_fails_the_read_with_its_error():
    seen, message = _read(Faulty("die", 6, LoaderConfig(workers=1, timeout_s=600)))
    assert seen in ([], [0])  # the worker may die while it reads ahead, before the first batch is taken
    assert message.startswith("data loader: DataLoader worker") and message.endswith(DATA_WORKERS_HINT)


def test_a_worker_that_dies_before_its_sent_batch_is_taken_fails_the_read_with_its_error(monkeypatch):
    # The worker sends batch 0 and dies on batch 1 while the training process is still busy: torch's SIGCHLD
    # handler raises there, or the batch, whose memory is handed over through the dead worker, cannot be received.
    # Either way the read fails with the loader's error (as in a CI run where it raised a bare ConnectionResetError).
    read = stream._next_batch

    def late(iterator: Any, loader: LoaderConfig) -> Any:
        time.sleep(1)
        return read(iterator, loader)

    monkeypatch.setattr(stream, "_next_batch", late)
    seen, message = _read(Faulty("die", 4, LoaderConfig(workers=1, timeout_s=600)))
    assert seen in ([], [0])
    assert message.startswith("data loader: DataLoader worker") and message.endswith(DATA_WORKERS_HINT)


@pytest.mark.parametrize("error", [ConnectionResetError(104, "Connection reset by peer"),
                                   OSError(24, "Too many open files")])
def test_a_batch_that_cannot_be_received_names_the_setting(error: OSError):
    failure = stream.loader_failure(error, LoaderConfig(workers=2))
    assert failure is not None
    assert failure.message.startswith("data loader: DataLoader worker's batch could not be received (")
    assert str(error) in failure.message and failure.message.endswith(DATA_WORKERS_HINT)
    assert stream.loader_failure(RuntimeError("CUDA error: device-side assert"), LoaderConfig()) is None


def test_a_streamed_run_whose_reader_dies_fails_with_the_loader_error(tmp_path: Path, monkeypatch):
    read = stream.read_bytes
    monkeypatch.setattr(stream, "read_bytes",
                        lambda path: os.kill(os.getpid(), signal.SIGKILL) if "dies" in str(path) else read(path))
    images = _image_folder(tmp_path / "images", "dies")
    spec = RunSpec(dataset="image_folder", data_path=str(images), image_size=8, data_loading="stream", epochs=1,
                   batch_size=4, device="cpu")
    with pytest.raises(TrainingFailed) as failure:
        train(spec, tmp_path / "out", ListReporter(), allowed_roots=[images],
              loader=LoaderConfig(workers=1, timeout_s=600))
    assert failure.value.message.startswith("data loader: DataLoader worker")
    assert failure.value.message.endswith(DATA_WORKERS_HINT)
    assert multiprocessing.active_children() == []


def test_a_streamed_run_whose_file_read_never_returns_fails_with_the_loader_error(tmp_path: Path, monkeypatch):
    # As a read from a hung disk or network share: the DataLoader worker (forked: it inherits the patch) waits.
    read = stream.read_bytes
    monkeypatch.setattr(stream, "read_bytes", lambda path: time.sleep(3600) if "stuck" in str(path) else read(path))
    images = _image_folder(tmp_path / "images", "stuck")
    spec = RunSpec(dataset="image_folder", data_path=str(images), image_size=8, data_loading="stream", epochs=1,
                   batch_size=4, device="cpu")
    with pytest.raises(TrainingFailed, match=r"^data loader: no batch within 2 s \(setting DATA_TIMEOUT_S\)"):
        train(spec, tmp_path / "out", ListReporter(), allowed_roots=[images],
              loader=LoaderConfig(workers=1, timeout_s=2))
    assert multiprocessing.active_children() == []


def test_the_loader_config_reaches_every_rank_of_a_multi_device_run(tmp_path: Path):
    # torchrun's ranks read the engine's inputs from a JSON file (worker/launch.py)
    inputs = {"loader": LoaderConfig(stream_above_mb=5, workers=2, timeout_s=7.5), "allowed_roots": [tmp_path]}
    assert decode(json.loads(json.dumps(encode(inputs)))) == inputs
