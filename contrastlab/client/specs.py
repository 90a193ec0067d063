"""Spec files: a RunSpec as YAML with `--set field=value` overrides, and what differs between runs' specs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml


class SpecFileError(ValueError):
    """A spec file or override that cannot be read; the message names the file or the field."""


def load_spec(path: Path, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """The YAML mapping in `path` with each `field=value` override applied (values parsed as YAML)."""
    try:
        spec = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise SpecFileError(f"{path}: cannot read it ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise SpecFileError(f"{path}: not valid YAML: {exc}") from exc
    if spec is None:
        spec = {}
    if not isinstance(spec, dict):
        raise SpecFileError(f"{path}: a spec is a mapping of RunSpec fields (method: simclr, ...), "
                            f"not a {type(spec).__name__}")
    for override in overrides:
        field, sep, value = override.partition("=")
        if not sep or not field.strip():
            raise SpecFileError(f"--set {override!r}: write it as field=value, e.g. --set epochs=5")
        spec[field.strip()] = yaml.safe_load(value) if value else ""
    return spec


def differing_fields(specs: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """The spec fields whose values are not the same in every run, with each run's value."""
    fields = sorted({key for spec in specs for key in spec})
    return {key: [spec.get(key) for spec in specs] for key in fields
            if len({repr(spec.get(key)) for spec in specs}) > 1}
