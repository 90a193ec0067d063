"""Readers for the on-disk formats torchvision downloads: CIFAR's pickled batches and STL-10's binaries
(whole, or streamed through a memory map).

Read here rather than through torchvision's classes, which refuse files whose md5 they do not know;
CIFAR's pickles go through an unpickler that builds only dicts, lists, bytes and numpy arrays.
"""

from __future__ import annotations

import functools
import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from contrastlab.core.settings import LoaderConfig

from .errors import TrainingFailed
from .stream import ArrayImages

CIFAR_FOLDERS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}
STL_FOLDER = "stl10_binary"
STL_SIZE = 96
STL_IMAGE_BYTES = 3 * STL_SIZE * STL_SIZE


class _ArraysOnly(pickle.Unpickler):
    """Unpickles numpy arrays and builtin containers, nothing that could run code."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a dataset file")
        return super().find_class(module, name)


def _unpickle(path: Path) -> dict[str, Any]:
    try:
        result = _ArraysOnly(io.BytesIO(path.read_bytes()), encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError) as error:
        raise TrainingFailed(f"{path} is not a CIFAR batch file: {error}") from error
    if not isinstance(result, dict):
        raise TrainingFailed(f"{path} is not a CIFAR batch file")
    return result


def _cifar_split(folder: Path, names: list[str], label_key: str) -> tuple[torch.Tensor, torch.Tensor]:
    batches = [_unpickle(folder / name) for name in names]
    images = np.concatenate([np.asarray(b["data"], dtype=np.uint8) for b in batches]).reshape(-1, 3, 32, 32)
    labels = np.concatenate([np.asarray(b[label_key], dtype=np.int64) for b in batches])
    return torch.from_numpy(images), torch.from_numpy(labels)


def read_cifar(folder: Path, name: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, list[str]]:
    """(train images, train labels, test images, test labels, class names) of a cifar-*-python folder."""
    if name == "cifar10":
        train_files, test_files, meta_file = [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], "batches.meta"
        label_key, names_key = "labels", "label_names"
    else:
        train_files, test_files, meta_file = ["train"], ["test"], "meta"
        label_key, names_key = "fine_labels", "fine_label_names"
    classes = [str(c) for c in _unpickle(folder / meta_file)[names_key]]
    return (*_cifar_split(folder, train_files, label_key), *_cifar_split(folder, test_files, label_key), classes)


def stl_count(path: Path) -> int:
    """Images in an STL-10 *_X.bin file, from its size alone."""
    size = path.stat().st_size
    if size % STL_IMAGE_BYTES:
        raise TrainingFailed(f"{path} is truncated: {size} bytes is no whole number of 96x96 images")
    return size // STL_IMAGE_BYTES


def stl_rows(path: Path) -> np.ndarray:
    """An STL-10 *_X.bin file as images [N, 3, 96, 96] through a read-only memory map: a row is read when used."""
    stl_count(path)
    # Stored column-major per channel, as torchvision's STL10 reads it.
    return np.memmap(path, dtype=np.uint8, mode="r").reshape(-1, 3, STL_SIZE, STL_SIZE).transpose(0, 1, 3, 2)


def _stl_images(path: Path) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(stl_rows(path)))


def _stl_labels(path: Path) -> torch.Tensor:
    return torch.from_numpy(np.fromfile(path, dtype=np.uint8).astype(np.int64) - 1)  # stored 1..10


StreamedSTL = tuple[ArrayImages, torch.Tensor, ArrayImages, torch.Tensor, list[str], ArrayImages | None]


def stream_stl10(folder: Path, unlabeled: bool, side: int, loader: LoaderConfig) -> StreamedSTL:
    """read_stl10's splits as sources that read each image from its file when it is used (labels in memory)."""
    def images(name: str) -> ArrayImages:
        path = folder / f"{name}_X.bin"
        return ArrayImages(functools.partial(stl_rows, path), stl_count(path), 3, side, loader)

    classes = (folder / "class_names.txt").read_text().split()
    return (images("train"), _stl_labels(folder / "train_y.bin"), images("test"), _stl_labels(folder / "test_y.bin"),
            classes, images("unlabeled") if unlabeled else None)


def read_stl10(folder: Path, unlabeled: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor,
                                                      list[str], torch.Tensor | None]:
    """(train images, labels, test images, labels, class names, unlabeled images or None) of stl10_binary."""
    classes = (folder / "class_names.txt").read_text().split()
    extra = _stl_images(folder / "unlabeled_X.bin") if unlabeled else None
    return (_stl_images(folder / "train_X.bin"), _stl_labels(folder / "train_y.bin"),
            _stl_images(folder / "test_X.bin"), _stl_labels(folder / "test_y.bin"), classes, extra)
