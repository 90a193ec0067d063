"""Image files to uint8 RGB squares: the one decoding rule of the in-memory and the streamed paths.

torchvision.io decodes JPEG, PNG, GIF and WebP (libjpeg-turbo on a CPU, nvjpeg on a GPU); the formats it
does not read (BMP, TIFF, PPM) go through PIL. The shorter side is resized to `side` (antialiased), then
the centre is cropped, so a batch is one tensor. torchvision is imported by `load_decoders`, which a
streamed dataset calls when it is made, in the training process: DataLoader workers forked before that
import would each repeat it, every epoch. Not at this module's import: torchvision's package import pulls in
torch._dynamo (about 1.5 s of CPU), which a run on in-memory tensors (digits, Fashion-MNIST) never uses.
"""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image, UnidentifiedImageError

from .errors import TrainingFailed

JPEG_MAGIC = (0xFF, 0xD8, 0xFF)  # every JPEG starts with SOI and a marker


def load_decoders() -> None:
    """Import torchvision's decoders and resizing now (see the module's docstring)."""
    import torchvision.io  # noqa: F401
    import torchvision.transforms.v2.functional  # noqa: F401


def read_bytes(path: str | Path) -> torch.Tensor:
    """A file's bytes as a 1-D uint8 tensor (what torchvision's decoders take)."""
    from torchvision.io import read_file

    return read_file(str(path))


def is_jpeg(data: torch.Tensor) -> bool:
    return len(data) >= 3 and tuple(data[:3].tolist()) == JPEG_MAGIC


def decode_bytes(data: torch.Tensor, path: str | Path) -> torch.Tensor:
    """uint8 RGB [3, H, W] of an encoded image; path names the file in errors and for PIL's formats."""
    from torchvision.io import ImageReadMode, decode_image
    from torchvision.transforms.v2 import functional as TF

    try:
        image = decode_image(data, mode=ImageReadMode.RGB)
    except RuntimeError:
        image = _decode_with_pil(path)
    if image.dtype != torch.uint8:  # 16-bit PNGs
        image = TF.to_dtype(image, torch.uint8, scale=True)
    return image


def _decode_with_pil(path: str | Path) -> torch.Tensor:
    from torchvision.transforms.v2 import functional as TF

    try:
        with Image.open(path) as image:
            return TF.pil_to_tensor(image.convert("RGB"))
    except (UnidentifiedImageError, OSError) as error:
        raise TrainingFailed(f"data_path: {path} is not an image torchvision or PIL can read ({error}); "
                             "remove it or convert it to JPEG or PNG") from error


def square(image: torch.Tensor, side: int) -> torch.Tensor:
    """The image [C, H, W] with its shorter side resized to side (antialiased) and its centre cropped square."""
    from torchvision.transforms.v2 import functional as TF

    if image.shape[-2:] != (side, side):
        image = TF.center_crop(TF.resize(image, side, antialias=True), [side, side])
    return image


def decode_jpegs(datas: list[torch.Tensor], side: int, device: torch.device) -> list[torch.Tensor]:
    """Encoded JPEGs decoded together on device (nvjpeg on a GPU), each made a square of side."""
    from torchvision.io import ImageReadMode, decode_jpeg

    images = decode_jpeg(datas, mode=ImageReadMode.RGB, device=device)
    return [square(image, side) for image in images]
