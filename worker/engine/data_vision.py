"""torchvision's datasets and image folders: downloaded when missing, resized to one side so a batch is a
single tensor, and either decoded once into uint8 tensors or streamed from disk (stream.py)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .data_files import CIFAR_FOLDERS, STL_FOLDER, read_cifar, read_stl10, stl_count, stream_stl10
from .errors import TrainingFailed
from .stream import ArrayImages, ImageFiles, Images, StreamPolicy, materialize

DOWNLOAD_ROOT = Path.home() / ".cache" / "contrastlab" / "datasets"
DEFAULT_SIZE = {"cifar10": 32, "cifar100": 32, "stl10": 96}
FOLDER_SIZE = 64  # imagenette, flowers102, oxford_pets, image_folder: small enough for a CPU, large enough to see
SPLIT_SEED = 0  # an image folder without train/ and test/ is split 80/20 with this fixed seed
Arrays = tuple[Images, torch.Tensor, Images, torch.Tensor, list[str]]


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
                policy: StreamPolicy = StreamPolicy()) -> tuple[Arrays, Images | None]:
    """One of torchvision's sets by RunSpec name, from root (downloaded there first when missing);
    in memory or streamed as the policy says."""
    import torchvision.datasets as tvd

    root = Path(root) if root is not None else DOWNLOAD_ROOT
    if name in CIFAR_FOLDERS:
        folder = root / CIFAR_FOLDERS[name]
        if not folder.is_dir():
            cls = tvd.CIFAR10 if name == "cifar10" else tvd.CIFAR100
            _download(name, lambda d: cls(str(root), train=True, download=d), root)
        arrays = read_cifar(folder, name)
        side = size or DEFAULT_SIZE[name]
        if policy.streams(len(arrays[1]) + len(arrays[3]), 3, side):  # kept at 32 px, resized per image
            return _streamed_arrays(arrays, side, policy), None
        return _resized(arrays, side), None
    if name == "stl10":
        return _stl10(root, size or DEFAULT_SIZE[name], unlabeled, policy)
    if name == "imagenette":
        return _file_pair(name, lambda split, d: tvd.Imagenette(str(root), split=split, size="160px", download=d,
                                                                loader=str),
                          ("train", "val"), root, size, policy), None
    if name == "flowers102":
        return _file_pair(name, lambda split, d: tvd.Flowers102(str(root), split=split, download=d, loader=str),
                          ("train", "test"), root, size, policy), None
    if name == "oxford_pets":
        return _file_pair(name, lambda split, d: tvd.OxfordIIITPet(str(root), split=split, download=d),
                          ("trainval", "test"), root, size, policy), None
    raise TrainingFailed(f"unknown dataset {name!r}")


def _stl10(root: Path, side: int, unlabeled: bool, policy: StreamPolicy) -> tuple[Arrays, Images | None]:
    """STL-10 whole in memory, or every split read image by image from its binary file (the unlabeled
    split alone is 2.7 GB at 96 px)."""
    import torchvision.datasets as tvd

    folder = root / STL_FOLDER
    if not folder.is_dir():
        _download("stl10", lambda d: tvd.STL10(str(root), split="train", download=d), root)
    splits = ("train", "test", "unlabeled") if unlabeled else ("train", "test")
    if policy.streams(sum(stl_count(folder / f"{s}_X.bin") for s in splits), 3, side):
        *streamed, unlabeled_source = stream_stl10(folder, unlabeled, side, policy.loader)
        return tuple(streamed), unlabeled_source  # type: ignore[return-value]
    *arrays, extra = read_stl10(folder, unlabeled)
    return _resized(tuple(arrays), side), (resize_uint8(extra, side) if extra is not None else None)  # type: ignore[arg-type]


def _streamed_arrays(arrays: Arrays, side: int, policy: StreamPolicy) -> Arrays:
    train_x, train_y, test_x, test_y, classes = arrays

    def source(images: Images) -> ArrayImages:
        rows = np.asarray(images)
        return ArrayImages(functools.partial(np.asarray, rows), len(rows), int(rows.shape[1]), side, policy.loader)

    return source(train_x), train_y, source(test_x), test_y, classes


def _file_pair(name: str, make: Callable[[str, bool], Any], splits: tuple[str, str], root: Path,
               size: int | None, policy: StreamPolicy) -> Arrays:
    """Train and test splits of a torchvision set of image files, downloading when it is not there."""
    try:
        train = make(splits[0], False)
    except (RuntimeError, FileNotFoundError):  # torchvision's "Dataset not found"
        _download(name, lambda d: make(splits[0], d), root)
        train = make(splits[0], False)
    try:
        test = make(splits[1], False)
    except (RuntimeError, FileNotFoundError) as error:
        raise TrainingFailed(f"dataset {name} in {root} is incomplete: {error}") from error
    return from_files(file_list(train), file_list(test), class_names(train), size or FOLDER_SIZE, policy)


def file_list(dataset: Any) -> tuple[list[str], torch.Tensor]:
    """(file paths, labels) of a torchvision set of image files, without opening an image."""
    if hasattr(dataset, "_images"):  # OxfordIIITPet takes no loader= argument; its file list is this
        return [str(p) for p in dataset._images], torch.tensor(dataset._labels, dtype=torch.int64)
    pairs = [dataset[i] for i in range(len(dataset))]  # made with loader=str: (path, label), nothing decoded
    return [str(p) for p, _ in pairs], torch.tensor([int(label) for _, label in pairs], dtype=torch.int64)


def from_files(train: tuple[list[str], torch.Tensor], test: tuple[list[str], torch.Tensor], classes: list[str],
               side: int, policy: StreamPolicy) -> Arrays:
    """Image files as (train images, labels, test images, labels, classes): decoded once into memory, or
    left on disk for DataLoader workers to decode batch by batch; the same pixels either way."""
    streams = policy.streams(len(train[0]) + len(test[0]), 3, side)
    images = []
    for paths in (train[0], test[0]):
        files = ImageFiles(paths, side, policy.loader)
        images.append(files if streams else materialize(files))
    return images[0], train[1], images[1], test[1], classes


def class_names(dataset: Any) -> list[str]:
    """torchvision's class names ("tench" or ("tench", "Tinca tinca") or wnids), one string each."""
    classes = getattr(dataset, "classes", None) or []
    return [c[0] if isinstance(c, tuple | list) else str(c) for c in classes]


def resize_uint8(images: torch.Tensor, side: int) -> torch.Tensor:
    """Square uint8 images [N, C, H, W] resized to side, antialiased, in chunks to bound memory."""
    if images.shape[-1] == side and images.shape[-2] == side:
        return images
    from torchvision.transforms.v2 import functional as TF

    return torch.cat([TF.resize(chunk, [side, side], antialias=True) for chunk in images.split(4096)])


def _resized(arrays: Arrays, side: int) -> Arrays:
    train_x, train_y, test_x, test_y, classes = arrays
    assert isinstance(train_x, torch.Tensor) and isinstance(test_x, torch.Tensor)
    return resize_uint8(train_x, side), train_y, resize_uint8(test_x, side), test_y, classes


def _roots(allowed_roots: Sequence[Path]) -> list[Path]:
    return [Path(root).expanduser().resolve() for root in allowed_roots]


def _outside(what: str, roots: Sequence[Path]) -> str:
    """The refusal of a path outside the roots; `what` says which ("/data/x is", "a leads to /b, which is")."""
    allowed = ", ".join(str(r) for r in roots) or "none"
    return (f"data_path: {what} outside the folders this server allows for image_folder (setting "
            f"ALLOWED_DATA_ROOTS: {allowed}); move the images under one of them or ask the administrator to add "
            "the folder")


def inside_allowed(path_text: str | None, allowed_roots: Sequence[Path]) -> Path:
    """data_path resolved (links followed) and refused unless it lies under one of the allowed roots."""
    if not path_text:
        raise TrainingFailed("data_path: dataset image_folder needs a folder of class sub-folders")
    path = Path(path_text).expanduser().resolve()
    roots = _roots(allowed_roots)
    if not any(path.is_relative_to(root) for root in roots):
        raise TrainingFailed(_outside(f"{path} is", roots))
    if not path.is_dir():
        raise TrainingFailed(f"data_path: {path} is not a folder")
    return path


def load_image_folder(folder: Path, size: int | None, policy: StreamPolicy = StreamPolicy(),
                      allowed_roots: Sequence[Path] | None = None) -> Arrays:
    """class-per-sub-folder images; train/ with val/ or test/ inside gives the split, else a fixed 80/20 one.

    Every image is resolved (links followed) and refused unless it lies under one of allowed_roots (default: the
    folder itself): a class folder or a file inside the root that links outside it is not read."""
    from torchvision.datasets import ImageFolder

    roots = _roots(allowed_roots if allowed_roots is not None else [folder])
    side = size or FOLDER_SIZE
    test_name = next((n for n in ("test", "val") if (folder / n).is_dir()), None)
    try:
        if (folder / "train").is_dir() and test_name is not None:
            train = ImageFolder(str(folder / "train"), loader=str)
            test = ImageFolder(str(folder / test_name), loader=str)
            if train.classes != test.classes:
                raise TrainingFailed(f"data_path: {folder}/train and {folder}/{test_name} hold different classes")
            return from_files(_samples(train, roots), _samples(test, roots), list(train.classes), side, policy)
        everything = ImageFolder(str(folder), loader=str)
    except FileNotFoundError as error:
        raise TrainingFailed(f"data_path: {error}") from error
    paths, labels = _samples(everything, roots)
    from sklearn.model_selection import train_test_split

    train_idx, test_idx = train_test_split(np.arange(len(labels)), test_size=0.2, random_state=SPLIT_SEED,
                                           stratify=labels.numpy())
    tr, te = np.sort(train_idx), np.sort(test_idx)
    return from_files(([paths[i] for i in tr], labels[tr]), ([paths[i] for i in te], labels[te]),
                      list(everything.classes), side, policy)


def _samples(folder: Any, roots: Sequence[Path]) -> tuple[list[str], torch.Tensor]:
    """(paths, labels) of a torchvision ImageFolder, read from its index without opening a file; each path
    resolved, and TrainingFailed for the first that leads outside the roots (through a linked folder or file)."""
    paths = []
    for listed, _ in folder.samples:
        path = Path(listed).resolve()
        if not any(path.is_relative_to(root) for root in roots):
            raise TrainingFailed(_outside(f"{listed} leads to {path}, which is", roots))
        paths.append(str(path))
    return paths, torch.tensor(folder.targets, dtype=torch.int64)
