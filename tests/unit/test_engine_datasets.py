"""torchvision-format datasets read from small files written here in their on-disk formats (no network),
image folders inside and outside the allowed roots, and the offline download failure."""

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from contrastlab.core.spec import RunSpec
from worker.engine import ListReporter, TrainingFailed, load_dataset, train

RNG = np.random.default_rng(0)


def _fake_cifar10(root: Path) -> np.ndarray:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    first = None
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = RNG.integers(0, 256, (4, 3072), dtype=np.uint8)
        first = data if first is None else first
        with (folder / name).open("wb") as f:
            pickle.dump({"data": data, "labels": [0, 1, 2, 3]}, f)
    with (folder / "batches.meta").open("wb") as f:
        pickle.dump({"label_names": ["airplane", "automobile", "bird", "cat"]}, f)
    assert first is not None
    return first


def test_cifar10_reads_pickled_batches(tmp_path):
    first = _fake_cifar10(tmp_path)
    data = load_dataset(RunSpec(dataset="cifar10"), tmp_path)
    assert isinstance(data.train_images, torch.Tensor)  # 60 images: far below STREAM_ABOVE_MB
    assert data.train_images.shape == (20, 3, 32, 32) and data.test_images.shape == (4, 3, 32, 32)
    assert data.train_images.dtype == torch.uint8 and data.classes[:2] == ["airplane", "automobile"]
    assert np.array_equal(data.train_images[0].numpy().reshape(-1), first[0])
    assert data.train_labels.tolist() == [0, 1, 2, 3] * 5
    resized = load_dataset(RunSpec(dataset="cifar10", image_size=16), tmp_path)
    assert resized.train_images.shape == (20, 3, 16, 16)


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    _fake_cifar10(tmp_path)
    with (tmp_path / "cifar-10-batches-py" / "test_batch").open("wb") as f:
        pickle.dump({"data": Path("/etc/passwd"), "labels": [0]}, f)  # any class beyond numpy arrays
    with pytest.raises(TrainingFailed, match="is not allowed in a dataset file"):
        load_dataset(RunSpec(dataset="cifar10"), tmp_path)


def _fake_stl10(root: Path) -> None:
    folder = root / "stl10_binary"
    folder.mkdir(parents=True)
    for split, n in (("train", 6), ("test", 4), ("unlabeled", 5)):
        RNG.integers(0, 256, n * 3 * 96 * 96, dtype=np.uint8).tofile(folder / f"{split}_X.bin")
        if split != "unlabeled":
            (np.arange(n, dtype=np.uint8) % 2 + 1).tofile(folder / f"{split}_y.bin")
    (folder / "class_names.txt").write_text("airplane\nbird\n")


def test_stl10_reads_binaries_and_the_unlabeled_split(tmp_path):
    _fake_stl10(tmp_path)
    data = load_dataset(RunSpec(dataset="stl10", image_size=32), tmp_path)
    assert data.train_images.shape == (6, 3, 32, 32) and data.unlabeled_images is None
    assert data.train_labels.tolist() == [0, 1] * 3 and data.classes == ["airplane", "bird"]
    full = load_dataset(RunSpec(dataset="stl10", use_unlabeled=True), tmp_path)
    assert full.unlabeled_images is not None and full.unlabeled_images.shape == (5, 3, 96, 96)
    assert full.train_images.shape == (6, 3, 96, 96)
    assert full.pretrain_images.shape[0] == 11 and full.pretrain_labels.tolist()[-5:] == [-1] * 5


def _image_tree(folder: Path, classes: tuple[str, ...] = ("cat", "dog"), per_class: int = 5,
                suffix: str = ".png") -> None:
    for c, name in enumerate(classes):
        (folder / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = np.full((20 + i, 30, 3), 40 + 150 * c, dtype=np.uint8)
            Image.fromarray(pixels).save(folder / name / f"{i}{suffix}", format="PNG" if suffix == ".png" else "JPEG")


def test_image_folder_inside_an_allowed_root_with_and_without_a_split(tmp_path):
    _image_tree(tmp_path / "flat")
    data = load_dataset(RunSpec(dataset="image_folder", data_path=str(tmp_path / "flat"), image_size=16),
                        allowed_roots=[tmp_path])
    assert isinstance(data.train_images, torch.Tensor)
    assert data.train_images.shape == (8, 3, 16, 16) and data.test_images.shape == (2, 3, 16, 16)
    assert data.classes == ["cat", "dog"] and sorted(data.test_labels.tolist()) == [0, 1]
    assert data.train_images[data.train_labels == 1].float().mean() > 150  # the dog images are brighter
    _image_tree(tmp_path / "split" / "train")
    _image_tree(tmp_path / "split" / "val", per_class=2)
    split = load_dataset(RunSpec(dataset="image_folder", data_path=str(tmp_path / "split")),
                         allowed_roots=[tmp_path])
    assert split.train_images.shape == (10, 3, 64, 64) and len(split.test_labels) == 4


def test_image_folder_outside_the_allowed_roots_is_refused(tmp_path):
    _image_tree(tmp_path / "outside")
    (tmp_path / "allowed").mkdir()
    (tmp_path / "allowed" / "link").symlink_to(tmp_path / "outside")
    for path, roots in ((tmp_path / "outside", [tmp_path / "allowed"]), (tmp_path / "allowed" / "link",
                                                                        [tmp_path / "allowed"]),
                        (tmp_path / "allowed" / ".." / "outside", [tmp_path / "allowed"]), (tmp_path, [])):
        spec = RunSpec(dataset="image_folder", data_path=str(path))
        with pytest.raises(TrainingFailed, match="data_path: .* ALLOWED_DATA_ROOTS"):
            load_dataset(spec, allowed_roots=roots)


def test_a_class_folder_or_image_linked_outside_the_allowed_root_is_refused(tmp_path):
    """Resolving data_path alone let a class folder inside it that links outside be read (24 images from
    outside the root, in the finding); every image path is resolved now."""
    _image_tree(tmp_path / "outside", classes=("secret",))
    _image_tree(tmp_path / "allowed" / "set")
    (tmp_path / "allowed" / "set" / "secret").symlink_to(tmp_path / "outside" / "secret")
    spec = RunSpec(dataset="image_folder", data_path=str(tmp_path / "allowed" / "set"), image_size=16)
    with pytest.raises(TrainingFailed, match=r"data_path: .*secret.* leads to .*outside.* ALLOWED_DATA_ROOTS"):
        load_dataset(spec, allowed_roots=[tmp_path / "allowed"])
    (tmp_path / "allowed" / "set" / "secret").unlink()
    (tmp_path / "allowed" / "set" / "cat" / "9.png").symlink_to(tmp_path / "outside" / "secret" / "0.png")
    with pytest.raises(TrainingFailed, match=r"9\.png leads to .*outside"):
        load_dataset(spec, allowed_roots=[tmp_path / "allowed"])
    (tmp_path / "allowed" / "set" / "cat" / "9.png").unlink()
    (tmp_path / "allowed" / "shared").mkdir()
    (tmp_path / "allowed" / "shared" / "bird").symlink_to(tmp_path / "allowed" / "set" / "dog")
    (tmp_path / "allowed" / "set" / "bird").symlink_to(tmp_path / "allowed" / "shared" / "bird")
    data = load_dataset(spec, allowed_roots=[tmp_path / "allowed"])  # links that stay inside the root are read
    assert data.classes == ["bird", "cat", "dog"] and len(data.train_labels) + len(data.test_labels) == 15


def test_imagenette_folder_through_torchvision(tmp_path):
    root = tmp_path / "imagenette2-160"
    for split in ("train", "val"):
        _image_tree(root / split, classes=("n01440764", "n02102040"), per_class=2, suffix=".JPEG")
    data = load_dataset(RunSpec(dataset="imagenette", image_size=24), tmp_path)
    assert data.train_images.shape == (4, 3, 24, 24) and data.classes == ["tench", "English springer"]


def test_missing_dataset_offline_fails_at_once_with_the_download_hint(tmp_path):
    with pytest.raises(TrainingFailed, match=r"dataset cifar100 is not in .* could not be downloaded"):
        train(RunSpec(dataset="cifar100", device="cpu"), tmp_path / "out", ListReporter(), tmp_path / "data")
