"""Datasets larger than memory: image folders and STL-10 streamed from disk give the in-memory pixels,
train the same, and the threshold or the spec chooses the path. All data is generated here, small."""

import multiprocessing
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from pydantic import ValidationError

from contrastlab.core.settings import LoaderConfig
from contrastlab.core.spec import RunSpec
from worker.engine import ListReporter, load_dataset, train
from worker.engine.stream import Streamed, as_tensor, batches

CPU = torch.device("cpu")
SIDE = 24
STL_IMAGE = 3 * 96 * 96


@pytest.fixture(scope="module")
def jpeg_folder(tmp_path_factory) -> Path:
    """64 JPEGs of varied sizes in two class folders; a class is told apart by its colour."""
    root = tmp_path_factory.mktemp("jpegs")
    rng = np.random.default_rng(0)
    for c, name in enumerate(("red", "blue")):
        (root / name).mkdir()
        for i in range(32):
            pixels = rng.integers(0, 90, (30 + i % 7, 40 + i % 5, 3), dtype=np.uint8)
            pixels[..., 2 * c] += 150
            Image.fromarray(pixels).save(root / name / f"{i}.jpg", quality=90)
    return root


def _spec(folder: Path, loading: str, **fields) -> RunSpec:
    return RunSpec(dataset="image_folder", data_path=str(folder), image_size=SIDE, data_loading=loading, **fields)


def test_a_streamed_image_folder_gives_the_in_memory_pixels(jpeg_folder):
    memory = load_dataset(_spec(jpeg_folder, "memory"), allowed_roots=[jpeg_folder])
    stream = load_dataset(_spec(jpeg_folder, "stream"), allowed_roots=[jpeg_folder], loader=LoaderConfig(workers=2))
    assert isinstance(memory.train_images, torch.Tensor) and isinstance(stream.train_images, Streamed)
    assert stream.train_images.shape == memory.train_images.shape == (51, 3, SIDE, SIDE)
    assert torch.equal(stream.train_labels, memory.train_labels) and stream.classes == ["blue", "red"]
    picks = [torch.tensor([50, 0, 7, 7]), torch.tensor([3, 31])]
    for streamed in (batches(stream.train_images, picks, CPU),  # decoded by 2 DataLoader processes
                     batches(stream.train_images, picks, CPU, jpegs_on_device=True)):  # the GPU's batched path
        for idx, batch in zip(picks, streamed, strict=True):
            assert torch.equal(batch, memory.train_images[idx])
    assert torch.equal(next(batches(stream.test_images, [torch.arange(13)], CPU)), as_tensor(memory.test_images))


def _pixels_in_a_daemonic_process(folder: str) -> tuple[bool, int, list[int]]:
    data = load_dataset(_spec(Path(folder), "stream"), allowed_roots=[Path(folder)], loader=LoaderConfig(workers=2))
    reader = batches(data.train_images, [torch.tensor([1, 2]), torch.tensor([3])], CPU)
    first = next(reader)
    workers = len(multiprocessing.active_children())  # the DataLoader's, started by this daemonic process
    return multiprocessing.current_process().daemon, workers, first.flatten().tolist()


def test_a_celery_pool_process_streams_through_dataloader_workers(jpeg_folder):
    # Celery's prefork children are daemonic, and multiprocessing refuses children to those.
    with multiprocessing.get_context("fork").Pool(1) as pool:
        daemonic, workers, pixels = pool.apply(_pixels_in_a_daemonic_process, (str(jpeg_folder),))
    memory = load_dataset(_spec(jpeg_folder, "memory"), allowed_roots=[jpeg_folder])
    assert daemonic and workers == 2
    assert pixels == as_tensor(memory.train_images)[1:3].flatten().tolist()


def test_a_streamed_image_folder_trains_as_the_in_memory_one(jpeg_folder, tmp_path):
    fields = {"epochs": 1, "batch_size": 16, "probe_epochs": 5, "tsne_samples": 10, "random_baseline": False,
              "device": "cpu"}
    runs = {}
    for loading in ("memory", "stream"):
        reporter = ListReporter()
        summary = train(_spec(jpeg_folder, loading, **fields), tmp_path / loading, reporter,
                        allowed_roots=[jpeg_folder], loader=LoaderConfig(workers=1))
        runs[loading] = (reporter.values("loss"), summary)
    assert len(runs["stream"][0]) == 51 // 16
    assert runs["stream"][0] == runs["memory"][0]  # same images, same augmentation draws: the same steps
    assert runs["stream"][1]["knn_acc"] == runs["memory"][1]["knn_acc"]


def test_the_threshold_or_the_spec_chooses_the_path(jpeg_folder):
    # 64 images of 24 x 24 x 3 bytes: 0.1 MiB decoded.
    def streamed(loading: str, above_mb: int) -> bool:
        data = load_dataset(_spec(jpeg_folder, loading), allowed_roots=[jpeg_folder],
                            loader=LoaderConfig(stream_above_mb=above_mb))
        return data.streamed

    assert streamed("auto", 0) and not streamed("auto", 1)
    assert streamed("stream", 1) and not streamed("memory", 0)
    with pytest.raises(ValidationError, match="data_loading"):
        RunSpec(dataset="digits", data_loading="stream")


def _stl_folder(root: Path, unlabeled: int, written: int) -> np.ndarray:
    """STL-10's binary files; the unlabeled one holds `unlabeled` images of which the first `written` are
    random and the rest a hole in a sparse file (no disk used). Returns the written unlabeled bytes."""
    folder = root / "stl10_binary"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for split, n in (("train", 6), ("test", 4)):
        rng.integers(0, 256, n * STL_IMAGE, dtype=np.uint8).tofile(folder / f"{split}_X.bin")
        (np.arange(n, dtype=np.uint8) % 2 + 1).tofile(folder / f"{split}_y.bin")
    extra = rng.integers(0, 256, written * STL_IMAGE, dtype=np.uint8)
    with (folder / "unlabeled_X.bin").open("wb") as f:
        f.write(extra.tobytes())
        f.truncate(unlabeled * STL_IMAGE)
    (folder / "class_names.txt").write_text("airplane\nbird\n")
    return extra


def test_stl10_unlabeled_streams_the_same_pixels_and_trains(tmp_path):
    _stl_folder(tmp_path, unlabeled=40, written=40)
    spec = RunSpec(dataset="stl10", use_unlabeled=True, image_size=32, data_loading="stream")
    stream = load_dataset(spec, tmp_path)
    memory = load_dataset(spec.model_copy(update={"data_loading": "memory"}), tmp_path)
    assert isinstance(stream.unlabeled_images, Streamed) and isinstance(memory.unlabeled_images, torch.Tensor)
    assert stream.pretrain_images.shape == memory.pretrain_images.shape == (46, 3, 32, 32)
    idx = torch.tensor([45, 0, 5, 6, 20])  # across the labelled and the unlabeled split
    assert torch.equal(next(batches(stream.pretrain_images, [idx], CPU)), as_tensor(memory.pretrain_images)[idx])
    reporter = ListReporter()
    train(spec.model_copy(update={"epochs": 1, "batch_size": 16, "probe_epochs": 2, "tsne_samples": 10,
                                  "random_baseline": False, "device": "cpu"}), tmp_path / "out", reporter, tmp_path)
    assert len(reporter.values("loss")) == 46 // 16


def test_stl10_unlabeled_at_full_size_streams_by_default_without_being_read_whole(tmp_path):
    # 100,000 unlabeled images, as STL-10's: 2.7 GB decoded, more than STREAM_ABOVE_MB's default.
    written = _stl_folder(tmp_path, unlabeled=100_000, written=3)
    tracemalloc.start()
    try:
        data = load_dataset(RunSpec(dataset="stl10", use_unlabeled=True), tmp_path)
        first = next(batches(data.pretrain_images, [torch.tensor([6, 7, 8, 100_005])], CPU))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert data.streamed and data.pretrain_images.shape == (100_006, 3, 96, 96)
    assert peak < 50 * 2**20  # numpy's allocations: reading the file whole would take 2.7 GB
    expected = torch.from_numpy(written.reshape(3, 3, 96, 96).transpose(0, 1, 3, 2).copy())
    assert torch.equal(first[:3], expected) and int(first[3].max()) == 0  # a row of the hole
