"""The RunSpec's choices (methods, datasets, encoders, optimisers, schedules, devices) and the helper that
declares a spec field with its form group, help and the choices it applies to."""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum
from typing import Annotated, Any

from pydantic import AfterValidator, Field, WithJsonSchema

from contrastlab.core.catalog import DATASETS, METHODS


def one_of(kind: str, choices: Iterable[str]) -> Any:
    options = list(choices)

    def check(value: str) -> str:
        if value not in options:
            raise ValueError(f"{value!r} is not a {kind}; choose one of {', '.join(options)}")
        return value

    return AfterValidator(check)


# Methods and datasets are the catalogue's: adding one there adds it here, to the form and to the CLI.
MethodName = Annotated[str, one_of("method", METHODS),
                       WithJsonSchema({"title": "Method", "type": "string", "enum": list(METHODS)})]
DatasetName = Annotated[str, one_of("dataset", DATASETS),
                        WithJsonSchema({"title": "Dataset", "type": "string", "enum": list(DATASETS)})]


class EncoderName(str, Enum):
    small_cnn = "small_cnn"
    resnet18 = "resnet18"
    resnet34 = "resnet34"
    resnet50 = "resnet50"


class OptimizerName(str, Enum):
    sgd = "sgd"
    adam = "adam"
    adamw = "adamw"
    rmsprop = "rmsprop"
    lars = "lars"


class Schedule(str, Enum):
    cosine = "cosine"
    step = "step"
    constant = "constant"


class DataLoading(str, Enum):
    auto = "auto"
    memory = "memory"
    stream = "stream"


# Sets that can stream from disk: all but the small offline ones, which always sit in memory.
STREAMABLE = [name for name, info in DATASETS.items() if info.source != "offline"]


class DeviceName(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


# A tag in a field's JSON schema -> the spec field whose choices it lists (the field applies to those only).
APPLIES_TAGS = {"methods": "method", "datasets": "dataset", "optimizers": "optimizer", "schedules": "schedule"}


def spec_field(default: Any, group: str, help: str, methods: list[str] | None = None,
           datasets: list[str] | None = None, optimizers: list[str] | None = None,
           schedules: list[str] | None = None, **bounds: Any) -> Any:
    """A spec field; `methods`, `datasets`, `optimizers`, `schedules` name the choices it applies to (the form
    hides it otherwise, the compare page shows it as n/a)."""
    extra: dict[str, Any] = {"group": group}
    tags = {"methods": methods, "datasets": datasets, "optimizers": optimizers, "schedules": schedules}
    for key, value in tags.items():
        if value is not None:
            extra[key] = value
    # Strict: `true` is not 1.0 and "5" is not 5 (an int still counts as a float). Enum fields stay lax so that
    # Python callers may pass "adam" as well as OptimizerName.adam.
    strict = not isinstance(default, Enum)
    return Field(default, description=help, json_schema_extra=extra, strict=strict, **bounds)
