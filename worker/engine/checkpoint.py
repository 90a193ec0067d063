"""Artifacts on disk: safetensors checkpoints and JSON, each written atomically."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, safe_open, save_file
from torch import nn

from contrastlab.core.spec import RunSpec

from .errors import TrainingFailed
from .models import Encoder, build_encoder

ENCODER_FORMAT = "contrastlab-encoder-v1"


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    """safetensors file, written beside the target and renamed: a reader never sees half a file."""
    cpu = {name: t.detach().to("cpu").contiguous() for name, t in tensors.items()}
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(cpu, str(tmp), metadata=metadata)
    os.replace(tmp, path)


def write_json(path: Path, obj: Any) -> None:
    """JSON file, written atomically; NaN and infinities become null so any JSON parser reads it."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(_finite(obj), indent=1, allow_nan=False))
    os.replace(tmp, path)


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {key: _finite(value) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(value) for value in obj]
    return obj


def save_module(path: Path, module: nn.Module, spec: RunSpec, fmt: str) -> None:
    """A module's state_dict, with the spec that builds it in the metadata."""
    save_tensors(path, module.state_dict(), {"spec": spec.model_dump_json(), "format": fmt})


def save_encoder(path: Path, encoder: nn.Module, spec: RunSpec, image_shape: list[int] | None = None) -> None:
    """The encoder's weights with the spec and the image shape [C, H, W] it was built for."""
    metadata = {"spec": spec.model_dump_json(), "format": ENCODER_FORMAT}
    if image_shape is not None:
        metadata["image_shape"] = json.dumps(image_shape)
    save_tensors(path, encoder.state_dict(), metadata)


def load_encoder(path: Path, spec: RunSpec, in_channels: int, image_size: int | None = None) -> nn.Module:
    """A freshly built encoder with the saved weights, in eval mode, on the CPU."""
    if image_size is None:
        image_size = _saved_image_shape(path)[-1]
    encoder = build_encoder(spec, in_channels, image_size)
    encoder.load_state_dict(load_file(str(path)))
    return encoder.eval()


def _saved_image_shape(path: Path) -> list[int]:
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata() or {}
    return list(json.loads(metadata.get("image_shape", "[0, 32, 32]")))


def load_weights_into(encoder: Encoder, path: Path, spec: RunSpec) -> None:
    """init_from_run: copy a saved encoder's weights (safetensors, never a pickle) into `encoder`,
    failing with what differs when the architectures do not match."""
    try:
        saved = load_file(str(path))
        saved_spec = spec_from_checkpoint(path).encoder
    except (OSError, ValueError, RuntimeError) as error:
        raise TrainingFailed(f"init_from_run: cannot read the encoder checkpoint {path.name}: {error}") from error
    own = encoder.state_dict()
    mismatched = sorted(k for k in own.keys() | saved.keys()
                        if k not in own or k not in saved or own[k].shape != saved[k].shape)
    if mismatched:
        raise TrainingFailed(
            f"init_from_run: that run's encoder ({saved_spec}) does not fit this spec's encoder ({spec.encoder}) "
            f"on these images (first differing tensor: {mismatched[0]}); set encoder to {saved_spec} and use "
            "a dataset with the same image channels and size class")
    encoder.load_state_dict(saved)


def spec_from_checkpoint(path: Path) -> RunSpec:
    """The RunSpec stored in a checkpoint's metadata."""
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata() or {}
    if "spec" not in metadata:
        raise ValueError(f"{path} has no spec in its metadata")
    return RunSpec.model_validate_json(metadata["spec"])
