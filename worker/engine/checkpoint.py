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

from worker.spec import RunSpec

from .models import build_encoder

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


def save_encoder(path: Path, encoder: nn.Module, spec: RunSpec) -> None:
    save_module(path, encoder, spec, ENCODER_FORMAT)


def load_encoder(path: Path, spec: RunSpec, in_channels: int) -> nn.Module:
    """A freshly built encoder with the saved weights, in eval mode, on the CPU."""
    encoder = build_encoder(spec, in_channels)
    encoder.load_state_dict(load_file(str(path)))
    return encoder.eval()


def spec_from_checkpoint(path: Path) -> RunSpec:
    """The RunSpec stored in a checkpoint's metadata."""
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata() or {}
    if "spec" not in metadata:
        raise ValueError(f"{path} has no spec in its metadata")
    return RunSpec.model_validate_json(metadata["spec"])
