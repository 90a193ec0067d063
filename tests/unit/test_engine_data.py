"""Dataset loaders: the fixed digits split, stratified subsets, Fashion-MNIST's idx files."""

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from worker.engine import TrainingFailed, load_dataset
from worker.engine.data import FASHION_FILES, stratified_subset, subset_train
from worker.engine.stream import as_tensor

REAL_FASHION = Path("/usr/share/datasets/fashion-mnist")


def test_digits_split_is_fixed_stratified_and_uint8():
    data = load_dataset("digits")
    assert isinstance(data.train_images, torch.Tensor) and isinstance(data.test_images, torch.Tensor)  # never streams
    assert data.train_images.shape[0] == 1437 and data.test_images.shape[0] == 360
    assert data.train_images.dtype == torch.uint8 and data.train_labels.dtype == torch.int64
    assert data.train_images.shape[1:] == data.test_images.shape[1:] == (1, 16, 16)
    assert data.classes == [str(d) for d in range(10)]
    assert torch.bincount(data.test_labels).tolist() == pytest.approx([36] * 10, abs=1)
    assert data.train_images.max() == 255
    again = load_dataset("digits")
    assert torch.equal(as_tensor(again.test_images), data.test_images)
    assert torch.equal(again.test_labels, data.test_labels)


def test_stratified_subset_keeps_class_proportions_and_follows_the_seed():
    labels = torch.arange(10).repeat_interleave(torch.arange(10, 110, 10))  # 10, 20, ..., 100 per class
    idx = stratified_subset(labels, 110, seed=0)
    assert len(idx) == 110 and len(idx.unique()) == 110
    assert torch.bincount(labels[idx], minlength=10).tolist() == list(range(2, 22, 2))
    assert torch.equal(idx, stratified_subset(labels, 110, seed=0))
    assert not torch.equal(idx, stratified_subset(labels, 110, seed=1))
    assert len(stratified_subset(labels, 57, seed=0)) == 57
    assert torch.equal(stratified_subset(labels, 10_000, seed=0), torch.arange(len(labels)))


def test_subset_train_leaves_the_test_split_alone():
    data = load_dataset("digits")
    small = subset_train(data, 100, seed=0)
    assert len(small.train_labels) == 100 and len(torch.unique(small.train_labels)) == 10
    assert small.test_images is data.test_images
    assert subset_train(data, None, seed=0) is data


def _write_idx(path: Path, array: np.ndarray, compress: bool) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    if compress:
        with gzip.open(path.with_name(path.name + ".gz"), "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)


def _fake_fashion(folder: Path, compress: bool = True) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    arrays = {
        "train_images": rng.integers(0, 256, (30, 28, 28)), "train_labels": np.arange(30) % 10,
        "test_images": rng.integers(0, 256, (20, 28, 28)), "test_labels": np.arange(20) % 10,
    }
    folder.mkdir(parents=True, exist_ok=True)
    for key, stem in FASHION_FILES.items():
        _write_idx(folder / stem, arrays[key], compress)
    return arrays


@pytest.mark.parametrize("compress", [True, False])
def test_fashion_mnist_reads_idx_files(tmp_path, compress):
    arrays = _fake_fashion(tmp_path / "fashion-mnist", compress)
    data = load_dataset("fashion_mnist", tmp_path)
    assert isinstance(data.train_images, torch.Tensor)  # never streams
    assert data.train_images.shape == (30, 1, 28, 28) and data.test_images.shape == (20, 1, 28, 28)
    assert data.train_images.dtype == torch.uint8 and data.test_labels.dtype == torch.int64
    assert np.array_equal(data.train_images[:, 0].numpy(), arrays["train_images"])
    assert np.array_equal(data.test_labels.numpy(), arrays["test_labels"])
    assert len(data.classes) == 10 and data.classes[0] == "T-shirt/top"


def test_fashion_mnist_accepts_the_folder_itself(tmp_path):
    _fake_fashion(tmp_path)
    assert len(load_dataset("fashion_mnist", tmp_path).train_labels) == 30


def test_missing_fashion_mnist_names_the_path_and_the_package(tmp_path):
    with pytest.raises(TrainingFailed) as error:
        load_dataset("fashion_mnist", tmp_path)
    assert "apt-get install dataset-fashion-mnist" in error.value.message
    assert str(tmp_path / "train-images-idx3-ubyte") in error.value.message


def test_truncated_idx_file_is_reported(tmp_path):
    _fake_fashion(tmp_path)
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    with gzip.open(path, "rb") as f:
        raw = f.read()
    with gzip.open(path, "wb") as f:
        f.write(raw[:-3])
    with pytest.raises(TrainingFailed, match="truncated"):
        load_dataset("fashion_mnist", tmp_path)


@pytest.mark.skipif(not REAL_FASHION.is_dir(),
                    reason=f"{REAL_FASHION} absent: apt-get install dataset-fashion-mnist to run this test")
def test_real_fashion_mnist():
    data = load_dataset("fashion_mnist")
    assert data.train_images.shape == (60_000, 1, 28, 28) and data.test_images.shape == (10_000, 1, 28, 28)
    assert torch.bincount(data.train_labels).tolist() == [6000] * 10
    assert torch.bincount(data.test_labels).tolist() == [1000] * 10
