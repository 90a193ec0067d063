"""torchvision's datasets and image folders as uint8 tensors: downloaded when missing, decoded once,
resized to one side so a batch is a single tensor."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .data_files import CIFAR_FOLDERS, STL_FOLDER, read_cifar, read_stl10
from .errors import TrainingFailed

DOWNLOAD_ROOT = Path.home() / ".cache" / "contrastlab" / "datasets"
DEFAULT_SIZE = {"cifar10": 32, "cifar100": 32, "stl10": 96}
FOLDER_SIZE = 64  # imagenette, flowers102, oxford_pets, image_folder: small enough for a CPU, large enough to see
SPLIT_SEED = 0  # an image folder without train/ and test/ is split 80/20 with this fixed seed
Arrays = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, list[str]]


def _download(name: str, make: Callable[[bool], Any], root: Path) -> None:
    """Fetch a dataset with torchvision into root, or fail with what to do when there is no network."""
    root.mkdir(parents=True, exist_ok=True)
    try:
        make(True)
    except Exception as error:  # noqa: BLE001 - urllib, http and tar errors all mean "could not fetch"
        raise TrainingFailed(
            f"dataset {name} is not in {root} and could not be downloaded ({type(error).__name__}: {error}). "
            f"On a machine with a network, run a short job with dataset {name} there or use torchvision "
            f"(download=True, root={root}), then copy the folder into {root} on this worker") from error


def load_vision(name: str, root: Path | None, size: int | None, unlabeled: bool = False,
                ) -> tuple[Arrays, torch.Tensor | None]:
    """One of torchvision's sets by RunSpec name, from root (downloaded there first when missing)."""
    import torchvision.datasets as tvd

    root = Path(root) if root is not None else DOWNLOAD_ROOT
    if name in CIFAR_FOLDERS:
        folder = root / CIFAR_FOLDERS[name]
        if not folder.is_dir():
            cls = tvd.CIFAR10 if name == "cifar10" else tvd.CIFAR100
            _download(name, lambda d: cls(str(root), train=True, download=d), root)
        return _resized(read_cifar(folder, name), size or DEFAULT_SIZE[name]), None
    if name == "stl10":
        folder = root / STL_FOLDER
        if not folder.is_dir():
            _download(name, lambda d: tvd.STL10(str(root), split="train", download=d), root)
        *arrays, extra = read_stl10(folder, unlabeled)
        side = size or DEFAULT_SIZE[name]
        return _resized(tuple(arrays), side), (resize_uint8(extra, side) if extra is not None else None)  # type: ignore[arg-type]
    if name == "imagenette":
        return _pil_pair(name, lambda split, d: tvd.Imagenette(str(root), split=split, size="160px", download=d),
                         ("train", "val"), root, size), None
    if name == "flowers102":
        return _pil_pair(name, lambda split, d: tvd.Flowers102(str(root), split=split, download=d),
                         ("train", "test"), root, size), None
    if name == "oxford_pets":
        return _pil_pair(name, lambda split, d: tvd.OxfordIIITPet(str(root), split=split, download=d),
                         ("trainval", "test"), root, size), None
    raise TrainingFailed(f"unknown dataset {name!r}")


def _pil_pair(name: str, make: Callable[[str, bool], Any], splits: tuple[str, str], root: Path,
              size: int | None) -> Arrays:
    """Train and test splits of a torchvision set of PIL images, downloading when it is not there."""
    try:
        train = make(splits[0], False)
    except (RuntimeError, FileNotFoundError):  # torchvision's "Dataset not found"
        _download(name, lambda d: make(splits[0], d), root)
        train = make(splits[0], False)
    try:
        test = make(splits[1], False)
    except (RuntimeError, FileNotFoundError) as error:
        raise TrainingFailed(f"dataset {name} in {root} is incomplete: {error}") from error
    side = size or FOLDER_SIZE
    train_x, train_y = decode_all(train, side)
    test_x, test_y = decode_all(test, side)
    return train_x, train_y, test_x, test_y, class_names(train)


def class_names(dataset: Any) -> list[str]:
    """torchvision's class names ("tench" or ("tench", "Tinca tinca") or wnids), one string each."""
    classes = getattr(dataset, "classes", None) or []
    return [c[0] if isinstance(c, tuple | list) else str(c) for c in classes]


def decode_all(dataset: Any, side: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every (PIL image, label) of a dataset as uint8 RGB [N, 3, side, side]: shorter side resized, centre crop."""
    from torchvision.transforms.v2 import functional as TF

    images = torch.empty(len(dataset), 3, side, side, dtype=torch.uint8)
    labels = torch.empty(len(dataset), dtype=torch.int64)
    for i in range(len(dataset)):
        image, label = dataset[i]
        image = TF.center_crop(TF.resize(image.convert("RGB"), side, antialias=True), [side, side])
        images[i] = TF.pil_to_tensor(image)
        labels[i] = int(label)
    return images, labels


def resize_uint8(images: torch.Tensor, side: int) -> torch.Tensor:
    """Square uint8 images [N, C, H, W] resized to side, antialiased, in chunks to bound memory."""
    if images.shape[-1] == side and images.shape[-2] == side:
        return images
    from torchvision.transforms.v2 import functional as TF

    return torch.cat([TF.resize(chunk, [side, side], antialias=True) for chunk in images.split(4096)])


def _resized(arrays: Arrays, side: int) -> Arrays:
    train_x, train_y, test_x, test_y, classes = arrays
    return resize_uint8(train_x, side), train_y, resize_uint8(test_x, side), test_y, classes


def inside_allowed(path_text: str | None, allowed_roots: Sequence[Path]) -> Path:
    """data_path resolved (links followed) and refused unless it lies under one of the allowed roots."""
    if not path_text:
        raise TrainingFailed("data_path: dataset image_folder needs a folder of class sub-folders")
    path = Path(path_text).expanduser().resolve()
    roots = [Path(root).expanduser().resolve() for root in allowed_roots]
    if not any(path.is_relative_to(root) for root in roots):
        allowed = ", ".join(str(r) for r in roots) or "none"
        raise TrainingFailed(f"data_path: {path} is outside the folders this server allows for image_folder "
                             f"(setting ALLOWED_DATA_ROOTS: {allowed}); move the images under one of them "
                             "or ask the administrator to add the folder")
    if not path.is_dir():
        raise TrainingFailed(f"data_path: {path} is not a folder")
    return path


def load_image_folder(folder: Path, size: int | None) -> Arrays:
    """class-per-sub-folder images; train/ with val/ or test/ inside gives the split, else a fixed 80/20 one."""
    from torchvision.datasets import ImageFolder

    side = size or FOLDER_SIZE
    test_name = next((n for n in ("test", "val") if (folder / n).is_dir()), None)
    try:
        if (folder / "train").is_dir() and test_name is not None:
            train, test = ImageFolder(str(folder / "train")), ImageFolder(str(folder / test_name))
            if train.classes != test.classes:
                raise TrainingFailed(f"data_path: {folder}/train and {folder}/{test_name} hold different classes")
            return (*decode_all(train, side), *decode_all(test, side), list(train.classes))
        everything = ImageFolder(str(folder))
    except FileNotFoundError as error:
        raise TrainingFailed(f"data_path: {error}") from error
    images, labels = decode_all(everything, side)
    from sklearn.model_selection import train_test_split

    train_idx, test_idx = train_test_split(np.arange(len(labels)), test_size=0.2, random_state=SPLIT_SEED,
                                           stratify=labels.numpy())
    tr, te = torch.from_numpy(np.sort(train_idx)), torch.from_numpy(np.sort(test_idx))
    return images[tr], labels[tr], images[te], labels[te], list(everything.classes)
