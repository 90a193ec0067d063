"""Spec files: a RunSpec, or a study (base, axes, seeds), as YAML with `--set field=value` overrides; and what
differs between runs' specs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml


class SpecFileError(ValueError):
    """A spec file or override that cannot be read; the message names the file or the field."""


def _read_mapping(path: Path, what: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise SpecFileError(f"{path}: cannot read it ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise SpecFileError(f"{path}: not valid YAML: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SpecFileError(f"{path}: {what}, not a {type(data).__name__}")
    return data


def parse_overrides(overrides: Sequence[str]) -> dict[str, Any]:
    """`field=value` pairs as a mapping, each value parsed as YAML (`--set lr=1e-3` is a number)."""
    parsed: dict[str, Any] = {}
    for override in overrides:
        field, sep, value = override.partition("=")
        if not sep or not field.strip():
            raise SpecFileError(f"--set {override!r}: write it as field=value, e.g. --set epochs=5")
        parsed[field.strip()] = yaml.safe_load(value) if value else ""
    return parsed


def load_spec(path: Path, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """The YAML mapping in `path` with each `field=value` override applied (values parsed as YAML)."""
    spec = _read_mapping(path, "a spec is a mapping of RunSpec fields (method: simclr, ...)")
    return spec | parse_overrides(overrides)


STUDY_KEYS = ("name", "base", "axes", "seeds", "search")


def parse_seeds(text: str) -> list[int]:
    """`--seeds 0,1,2` as [0, 1, 2]; a lone count `--seeds 3` as [0, 1, 2]; SpecFileError naming the fix."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    try:
        seeds = [int(p) for p in parts]
    except ValueError:
        seeds = []
    if not seeds or any(s < 0 for s in seeds):
        raise SpecFileError(f"--seeds {text!r}: give seeds as integers ≥ 0, e.g. --seeds 0,1,2 (or a count: 3)")
    if len(seeds) == 1 and "," not in text:
        return list(range(seeds[0])) if seeds[0] >= 1 else [0]
    if len(set(seeds)) != len(seeds):
        raise SpecFileError(f"--seeds {text!r}: each seed once")
    return seeds


def load_study(path: Path, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """A study file as the body of POST /api/studies: `name` (default: the file's stem), `base` (RunSpec fields,
    with each `--set field=value` applied), `axes` (field: [values]), `seeds` (a list, or N for 0..N-1), and for a
    search, `search` (sampler, pruner, trials...) with ranges allowed as axes."""
    study = _read_mapping(path, "a study is a mapping with name, base, axes and seeds")
    unknown = sorted(set(study) - set(STUDY_KEYS))
    if unknown:
        raise SpecFileError(f"{path}: unknown key {', '.join(unknown)}; a study has {', '.join(STUDY_KEYS)} "
                            "(RunSpec fields go under base)")
    base, axes, seeds = study.get("base") or {}, study.get("axes") or {}, study.get("seeds", 1)
    if not isinstance(base, dict):
        raise SpecFileError(f"{path}: base is a mapping of RunSpec fields (method: simclr, ...)")
    if not isinstance(axes, dict) or not axes:
        raise SpecFileError(f"{path}: axes maps a RunSpec field to its values, e.g. axes: {{method: [simclr, supcon]}}")
    search = study.get("search")
    if search is not None and not isinstance(search, dict):
        raise SpecFileError(f"{path}: search is a mapping, e.g. search: {{sampler: tpe, pruner: asha, trials: 24}}")
    for field, values in axes.items():
        if search is not None and isinstance(values, dict):
            continue  # a search's range, {low, high, log}: the server checks it
        if not isinstance(values, list) or not values:
            raise SpecFileError(f"{path}: axes.{field} is a non-empty list of values, e.g. [0.1, 0.5]"
                                + ("" if search is None else " (or a range {low: 0.0001, high: 0.01, log: true})"))
    if isinstance(seeds, int) and not isinstance(seeds, bool) and seeds >= 1:
        seeds = list(range(seeds))
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and not isinstance(s, bool)
                                                           for s in seeds):
        raise SpecFileError(f"{path}: seeds is a list of integers (seeds: [0, 1, 2]) or a count (seeds: 3)")
    changes = parse_overrides(overrides)
    varied = sorted(set(changes) & set(axes))
    if varied:
        raise SpecFileError(f"--set {varied[0]}: {varied[0]} is an axis of this study; change its values under "
                            "axes in the file")
    body = {"name": str(study.get("name") or path.stem), "base": base | changes, "axes": axes, "seeds": seeds}
    return body if search is None else {**body, "search": search}



def differing_fields(specs: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """The spec fields whose values are not the same in every run, with each run's value."""
    fields = sorted({key for spec in specs for key in spec})
    return {key: [spec.get(key) for spec in specs] for key in fields
            if len({repr(spec.get(key)) for spec in specs}) > 1}
