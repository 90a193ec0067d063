"""Method registry: the catalogue's method name -> its Method class (see base.py for what a method is).

Every module of this package is imported here, and each registers its classes with `@register(name)`, so
adding a method is one file in this folder plus its entry in contrastlab/core/catalog.py (METHODS); a
catalogue entry without a method (or the reverse) fails at import.
"""

from __future__ import annotations

import importlib
import pkgutil

from contrastlab.core.catalog import METHODS
from contrastlab.core.spec import RunSpec

from ..distributed import SINGLE, Shard
from ..models import Encoder
from .base import REGISTRY, Method, Progress, Setting, StepOutput, ViewPlan, register

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

if set(REGISTRY) != set(METHODS):
    raise ImportError(f"method registry and catalogue disagree: {sorted(set(REGISTRY) ^ set(METHODS))}")


def build_method(spec: RunSpec, encoder: Encoder, num_classes: int, shard: Shard = SINGLE) -> Method:
    """The spec's method built on the encoder, its modules on the encoder's device (the spec's edge)."""
    method = REGISTRY[spec.method].from_spec(spec, encoder, Setting(num_classes, shard))
    return method.to(next(encoder.parameters()).device)


__all__ = ["REGISTRY", "Method", "Progress", "Setting", "StepOutput", "ViewPlan", "build_method", "register"]
