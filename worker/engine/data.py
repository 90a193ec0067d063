"""Datasets as uint8 images: tensors that sit whole in memory (on the training device when they fit), or
sources streamed from disk batch by batch when they are too large (stream.py).

Every loader returns the same fixed train/test split on every call, so runs
with different seeds are compared on the same test images.
"""

from __future__ import annotations

import dataclasses
import gzip
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from contrastlab.core.settings import LoaderConfig
from contrastlab.core.spec import RunSpec

from .data_vision import inside_allowed, load_image_folder, load_vision
from .errors import TrainingFailed
from .stream import Images, Streamed, StreamPolicy, join, select

DEFAULT_ROOT = Path("/usr/share/datasets")
DIGITS_SPLIT_SEED = 0  # fixed on purpose: the test set must not move with spec.seed
DIGITS_SIZE = 16  # 8x8 upsampled: random crops of 8 pixels leave too little to learn from

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
FASHION_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


@dataclasses.dataclass(frozen=True)
class ImageData:
    train_images: Images  # uint8 [N, C, H, W], or a source streamed from disk with that shape
    train_labels: torch.Tensor  # int64 [N]
    test_images: Images
    test_labels: torch.Tensor
    classes: list[str]
    unlabeled_images: Images | None = None  # extra pretraining images without labels (STL-10's split)

    @property
    def image_shape(self) -> list[int]:
        return list(self.train_images.shape[1:])

    @property
    def streamed(self) -> bool:
        """Whether any split is read from disk batch by batch rather than held in memory."""
        return any(isinstance(images, Streamed) for images in (self.train_images, self.test_images,
                                                                 self.unlabeled_images))

    @property
    def pretrain_images(self) -> Images:
        """What pretraining iterates over: the labelled train split, then any unlabeled images."""
        return join(self.train_images, self.unlabeled_images)

    @property
    def pretrain_labels(self) -> torch.Tensor:
        """Labels of pretrain_images; -1 marks an unlabeled image (only label-free methods see those)."""
        if self.unlabeled_images is None:
            return self.train_labels
        return torch.cat([self.train_labels, torch.full((len(self.unlabeled_images),), -1)])


def load_dataset(dataset: str | RunSpec, root: Path | None = None, allowed_roots: Sequence[Path] = (),
                 loader: LoaderConfig = LoaderConfig()) -> ImageData:
    """Load a RunSpec's dataset (or one by name, with default options).

    root: the folder holding the dataset folders (downloads go there); allowed_roots: the
    folders an image_folder's data_path may lie in (the server's ALLOWED_DATA_ROOTS);
    loader: when data_loading is auto, the decoded size above which a set streams; the DataLoader processes that
    decode it and the longest wait for a batch (the settings STREAM_ABOVE_MB, DATA_WORKERS, DATA_TIMEOUT_S).
    """
    spec = dataset if isinstance(dataset, RunSpec) else None
    name = spec.dataset if spec is not None else str(dataset)
    size = spec.image_size if spec is not None else None
    policy = StreamPolicy(spec.data_loading if spec is not None else "auto", loader)
    if name == "digits":
        return load_digits()
    if name == "fashion_mnist":
        return load_fashion_mnist(root)
    if name == "image_folder":
        folder = inside_allowed(spec.data_path if spec is not None else None, allowed_roots)
        return ImageData(*load_image_folder(folder, size, policy, allowed_roots))
    arrays, unlabeled = load_vision(name, root, size, spec is not None and spec.use_unlabeled, policy)
    return ImageData(*arrays, unlabeled_images=unlabeled)


def load_digits() -> ImageData:
    """scikit-learn's 8x8 digits (values 0..16), stratified 80/20 split with a fixed seed."""
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    bunch = sklearn_digits()
    images = torch.from_numpy(bunch.images.astype(np.float32) / 16.0).unsqueeze(1)
    if DIGITS_SIZE != images.shape[-1]:
        images = F.interpolate(images, size=(DIGITS_SIZE, DIGITS_SIZE), mode="bilinear", align_corners=False)
    images = (images.clamp(0, 1) * 255).round().to(torch.uint8)
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    train_idx, test_idx = train_test_split(
        np.arange(len(labels)), test_size=0.2, stratify=bunch.target, random_state=DIGITS_SPLIT_SEED
    )
    train_idx, test_idx = torch.from_numpy(np.sort(train_idx)), torch.from_numpy(np.sort(test_idx))
    return ImageData(images[train_idx], labels[train_idx], images[test_idx], labels[test_idx],
                     [str(d) for d in range(10)])


def load_fashion_mnist(root: Path | None = None) -> ImageData:
    """Fashion-MNIST (60k train / 10k test, 28x28) from Debian's dataset-fashion-mnist files."""
    folder = _fashion_folder(Path(root) if root is not None else DEFAULT_ROOT)
    arrays = {key: read_idx(_find_idx(folder, stem)) for key, stem in FASHION_FILES.items()}
    return ImageData(
        train_images=torch.from_numpy(arrays["train_images"]).unsqueeze(1),
        train_labels=torch.from_numpy(arrays["train_labels"].astype(np.int64)),
        test_images=torch.from_numpy(arrays["test_images"]).unsqueeze(1),
        test_labels=torch.from_numpy(arrays["test_labels"].astype(np.int64)),
        classes=list(FASHION_CLASSES),
    )


def _fashion_folder(root: Path) -> Path:
    # Debian installs into <root>/fashion-mnist; a folder holding the files themselves works too.
    nested = root / "fashion-mnist"
    return nested if nested.is_dir() else root


def _find_idx(folder: Path, stem: str) -> Path:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    raise TrainingFailed(
        f"Fashion-MNIST file {folder / stem}.gz not found. Install the dataset with "
        f"`apt-get install dataset-fashion-mnist` (it puts the files in {DEFAULT_ROOT / 'fashion-mnist'}), "
        "or copy the four idx-ubyte(.gz) files there."
    )


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file of unsigned bytes (LeCun's MNIST format), gzipped or not."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise TrainingFailed(f"{path} is not an idx file of unsigned bytes")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    offset = 4 + 4 * ndim
    expected = int(np.prod(shape))
    if len(raw) - offset != expected:
        raise TrainingFailed(f"{path} is truncated: header says {shape}, file holds {len(raw) - offset} bytes")
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(shape).copy()


def stratified_subset(labels: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """Sorted indices of n items with the class proportions of labels, drawn by a seeded shuffle."""
    total = len(labels)
    if n >= total:
        return torch.arange(total)
    order = torch.randperm(total, generator=torch.Generator().manual_seed(seed))
    counts = torch.bincount(labels).double()
    exact = counts * n / total
    quota = exact.floor().long()
    # Largest remainder: the classes closest to their next image get the leftovers.
    leftover = n - int(quota.sum())
    quota[torch.argsort(exact - quota, descending=True, stable=True)[:leftover]] += 1
    shuffled = labels[order]
    keep = [order[shuffled == c][: int(quota[c])] for c in range(len(quota))]
    return torch.cat(keep).sort().values


def subset_train(data: ImageData, n: int | None, seed: int) -> ImageData:
    """The dataset with its training split cut to n stratified images (None: unchanged)."""
    if n is None or n >= len(data.train_labels):
        return data
    idx = stratified_subset(data.train_labels, n, seed)
    return dataclasses.replace(data, train_images=select(data.train_images, idx), train_labels=data.train_labels[idx])
