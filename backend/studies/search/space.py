"""A search's axes as Optuna distributions, checked before anything is stored: lists are categorical, ranges are
float or integer (as the RunSpec field is), each end of a range and each listed value validated by RunSpec."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from backend.studies.grid import (
    MAX_ERRORS,
    NOT_AXES,
    Cell,
    StudyInvalid,
    _axis_problem,
    _error,
    _properties,
    _validated,
    applies,
    cell_key,
)
from backend.studies.schemas import AxisRange
from contrastlab.core.catalog import METRICS
from contrastlab.core.settings import Settings

Axes = Mapping[str, Any]  # field -> a list of values, or an AxisRange (or its dict)


def as_range(value: Any) -> AxisRange | None:
    """The axis's range, or None for a list of values."""
    if isinstance(value, AxisRange):
        return value
    return AxisRange.model_validate(value) if isinstance(value, dict) else None


def _numeric(field: str) -> str | None:
    """"integer" or "number" for a numeric RunSpec field, else None."""
    schema = _properties().get(field, {})
    types = {schema.get("type")} | {option.get("type") for option in schema.get("anyOf", [])}
    return "integer" if "integer" in types else "number" if "number" in types else None


def distributions(axes: Axes) -> dict[str, BaseDistribution]:
    """Each axis as the distribution Optuna samples it from."""
    found: dict[str, BaseDistribution] = {}
    for field, value in axes.items():
        bounds = as_range(value)
        if bounds is None:
            found[field] = CategoricalDistribution(list(value))
        elif _numeric(field) == "integer":
            found[field] = IntDistribution(int(bounds.low), int(bounds.high), log=bounds.log)
        else:
            found[field] = FloatDistribution(bounds.low, bounds.high, log=bounds.log)
    return found


def cell_values(base: Mapping[str, Any], axes: Axes, params: Mapping[str, Any]) -> dict[str, Any]:
    """A trial's axis values, less the axes that do not apply to it (as a grid's cell)."""
    context = {**base, **params}
    return {field: params[field] for field in axes if field in params and applies(field, context)}


def baseline_values(base: Mapping[str, Any], axes: Axes) -> dict[str, Any]:
    """The baseline's values of the axes: the base spec's, or RunSpec's defaults."""
    context = {f: base.get(f, _properties().get(f, {}).get("default")) for f in axes}
    return cell_values(base, axes, context)


def _range_problem(field: str, bounds: AxisRange) -> str | None:
    if field in NOT_AXES:
        return NOT_AXES[field]
    if field not in _properties():
        return f"{field} is not a RunSpec field; see GET /api/schema/run-spec for the fields"
    kind = _numeric(field)
    if kind is None:
        return f"{field} is not numeric: give its values as a list instead of a range"
    if kind == "integer" and not (bounds.low.is_integer() and bounds.high.is_integer()):
        return f"{field} takes whole numbers: give low and high as integers"
    return None


def check(base: Mapping[str, Any], axes: Axes, metric: str, sampler: str, settings: Settings) -> Cell:
    """StudyInvalid naming each bad axis (a list as a grid's, a range's field and ends, the grid sampler given a
    range) or an unknown metric; else the baseline's validated cell."""
    errors: list[dict[str, Any]] = []
    info = METRICS.get(metric)
    if info is None or info.direction is None:
        errors.append(_error(("search", "metric"), f"{metric!r} is not a metric a study can rank by; choose a "
                             "catalogue metric with a direction, e.g. knn_acc", metric))
    for field, value in axes.items():
        bounds = as_range(value)
        if bounds is None:
            problem = _axis_problem(field, list(value), settings.study_max_axis_values)
        elif sampler == "grid":
            problem = f"{field} is a range: the grid sampler takes lists of values only"
        else:
            problem = _range_problem(field, bounds)
        if problem:
            errors.append(_error(("axes", field), problem, value))
    if errors:
        raise StudyInvalid(errors[:MAX_ERRORS])
    for field, value in axes.items():  # every listed value and each end of a range, on the base
        bounds = as_range(value)
        points = [bounds.low, bounds.high] if bounds is not None else list(value)
        if bounds is not None and _numeric(field) == "integer":
            points = [int(p) for p in points]
        for point in points:
            result = _validated({field: point}, base, settings)
            if not isinstance(result, Cell):
                errors.extend(result)
    baseline = _validated(baseline_values(base, axes), base, settings)
    if not isinstance(baseline, Cell):
        errors.extend(baseline)
    if errors:
        raise StudyInvalid(errors[:MAX_ERRORS])
    assert isinstance(baseline, Cell)
    return Cell(cell_key(baseline.values), baseline.values, baseline.spec)
