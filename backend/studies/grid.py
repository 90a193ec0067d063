"""A study's grid: expand a base spec, axes and seeds into cells of validated specs, before anything is stored.

A cell is one combination of the axes' values. An axis whose field does not apply to a cell (its JSON-schema
tag `methods`, `datasets` or `optimizers` does not list the cell's method, dataset or optimizer) is not varied
there, so `temperature` × `method: [simclr, supervised]` gives one supervised cell, not one per temperature.
Every cell is validated by RunSpec before anything is stored (backend.studies.store stores them).
"""

from __future__ import annotations

import difflib
import itertools
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import ValidationError

from backend.access.admission import spec_problems
from backend.errors import InvalidFields
from backend.studies.schemas import StudyCreate
from contrastlab.core.choices import APPLIES_TAGS
from contrastlab.core.settings import Settings
from contrastlab.core.spec import RunSpec

CONTEXT_FIELDS = frozenset(APPLIES_TAGS.values())
NOT_AXES = {"seed": "seeds vary through `seeds`, e.g. \"seeds\": [0, 1, 2]; remove the seed axis",
            "name": "runs are named after the study and their cell; remove the name axis"}
MAX_ERRORS = 20  # one 422 names this many problems at most


class StudyInvalid(InvalidFields):
    """The study cannot be created; `errors` are FastAPI-style validation errors (loc, msg, type, input)."""


@dataclass(frozen=True)
class Cell:
    """One combination of the axes: its key, the values of the axes that apply to it, its validated spec."""

    key: str
    values: dict[str, Any]
    spec: RunSpec


@cache
def _properties() -> dict[str, dict[str, Any]]:
    return RunSpec.model_json_schema()["properties"]


def applies(field: str, spec: Mapping[str, Any]) -> bool:
    """Whether a spec field matters for a spec with these values (missing ones take RunSpec's defaults)."""
    schema = _properties().get(field, {})
    for tag, context in APPLIES_TAGS.items():
        if tag in schema and spec.get(context, _properties()[context].get("default")) not in schema[tag]:
            return False
    return True


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def cell_key(values: Mapping[str, Any]) -> str:
    """The cell's stable key: its axis values in axis order, "method=supcon,temperature=0.1"."""
    return ",".join(f"{field}={_text(value)}" for field, value in values.items())


def _error(loc: Sequence[str | int], msg: str, value: Any = None) -> dict[str, Any]:
    return {"loc": ["body", *loc], "msg": msg, "type": "value_error", "input": value}


def canonical(value: Any) -> Any:
    """A hashable key equal for the values RunSpec validates to the same value (1, 1.0 and true are one)."""
    if isinstance(value, bool | int):
        return ("n", int(value))
    if isinstance(value, float):
        return ("n", int(value)) if value.is_integer() else ("n", value)
    if isinstance(value, list | tuple):
        return ("l", tuple(canonical(v) for v in value))
    if isinstance(value, dict):
        return ("d", tuple(sorted((str(k), canonical(v)) for k, v in value.items())))
    return ("s", value) if isinstance(value, str) else ("o", repr(value))


def _axis_problem(field: str, values: list[Any], max_values: int) -> str | None:
    if field in NOT_AXES:
        return NOT_AXES[field]
    if field not in RunSpec.model_fields:
        close = difflib.get_close_matches(field, list(RunSpec.model_fields), n=1)
        hint = f"did you mean {close[0]}?" if close else "see GET /api/schema/run-spec for the fields"
        return f"{field} is not a RunSpec field; {hint}"
    if not values:
        return f"{field} has no values; give at least one, e.g. [{_text(_properties()[field].get('default'))}]"
    if len(values) > max_values:
        return (f"{field} lists {len(values)} values; an axis may list at most {max_values} "
                "(STUDY_MAX_AXIS_VALUES)")
    seen: set[Any] = set()
    for value in values:  # one pass over canonical keys: linear in the axis's length
        key = canonical(value)
        if key in seen:
            return f"{field} lists {_text(value)} twice; each value once"
        seen.add(key)
    return None


def check_axes(axes: Mapping[str, list[Any]], max_values: int) -> None:
    """Each axis names a RunSpec field other than seed and name, with at most max_values distinct values; else
    StudyInvalid (naming MAX_ERRORS problems at most, so a body of many bad axes costs no more than that)."""
    problems = ((field, values, problem) for field, values in axes.items()
                if (problem := _axis_problem(field, values, max_values)))
    errors = [_error(("axes", field), problem, values) for field, values, problem in
              itertools.islice(problems, MAX_ERRORS)]
    if errors:
        raise StudyInvalid(errors)


def _applying(base: Mapping[str, Any], axes: Mapping[str, list[Any]]) -> Iterator[tuple[dict[str, Any], set[str]]]:
    """Each combination of the context axes (method, dataset, optimizer, schedule), with the other axes that
    apply there: what the cells are made of, walked without the product of the axes that do not apply."""
    context_axes = [f for f in axes if f in CONTEXT_FIELDS]
    for combo in itertools.product(*(axes[f] for f in context_axes)):
        chosen = dict(zip(context_axes, combo, strict=True))
        context = {**base, **chosen}
        yield chosen, {f for f in axes if f not in CONTEXT_FIELDS and applies(f, context)}


def _combinations(base: Mapping[str, Any], axes: Mapping[str, list[Any]]) -> Iterator[dict[str, Any]]:
    """The distinct cells' raw axis values: the product of the axes, each left out where it does not apply, in
    the order of the full product (a cell where first met), walking only the axes that apply."""
    index = {f: {canonical(v): i for i, v in enumerate(values)} for f, values in axes.items()}
    found: dict[str, tuple[tuple[int, ...], dict[str, Any]]] = {}
    for chosen, varied in _applying(base, axes):
        fields = [f for f in axes if f in varied]
        for combo in itertools.product(*(axes[f] for f in fields)):
            picked = {**chosen, **dict(zip(fields, combo, strict=True))}
            context = {**base, **picked}
            values = {f: picked[f] for f in axes if f in picked and applies(f, context)}
            order = tuple(index[f][canonical(picked[f])] if f in picked else 0 for f in axes)
            signature = json.dumps(list(values.items()))
            if signature not in found or order < found[signature][0]:
                found[signature] = (order, values)
    yield from (values for _, values in sorted(found.values(), key=lambda item: item[0]))


def count_cells(base: Mapping[str, Any], axes: Mapping[str, list[Any]], most: int) -> tuple[int, bool]:
    """(cells, exact): counted per combination of the context axes without enumerating the others; when those
    combinations alone are more than `most`, their number (a lower bound: each is at least one cell)."""
    context_axes = [f for f in axes if f in CONTEXT_FIELDS]
    contexts = math.prod(len(axes[f]) for f in context_axes)
    if contexts > most:
        return contexts, False
    return sum(math.prod(len(axes[f]) for f in varied) for _, varied in _applying(base, axes)), True


def check_unused(base: Mapping[str, Any], axes: Mapping[str, list[Any]]) -> None:
    """StudyInvalid naming each axis that applies to no cell at all (temperature with method supervised),
    found from the context axes alone, before any cell is made."""
    used: set[str] = set(f for f in axes if f in CONTEXT_FIELDS)
    for _, varied in _applying(base, axes):
        used |= varied
    errors = [_unused_error(field, axes[field]) for field in axes if field not in used]
    if errors:
        raise StudyInvalid(errors[:MAX_ERRORS])


def check_size(base: Mapping[str, Any], axes: Mapping[str, list[Any]], seeds: int, max_runs: int) -> int:
    """The number of runs (cells × seeds); StudyInvalid giving the run count when it exceeds max_runs."""
    cells, exact = count_cells(base, axes, max_runs)
    if cells * seeds > max_runs:
        count = f"{cells * seeds} runs ({cells} cells × {seeds} seeds)" if exact else f"more than {cells * seeds} runs"
        raise StudyInvalid([_error((), f"this study would launch {count}; at most {max_runs} are allowed "
                                        "(STUDY_MAX_RUNS): drop values or seeds, or raise STUDY_MAX_RUNS", None)])
    return cells * seeds


def run_count(body: StudyCreate, settings: Settings) -> int:
    """How many runs the study launches, checked cheaply before any cell is made: the axes, the axes that apply
    to no cell, and STUDY_MAX_RUNS; StudyInvalid naming the field otherwise. The work is bounded whatever the
    body: at most STUDY_MAX_RUNS combinations of the context axes are walked, and no others."""
    ranges = [field for field, values in body.axes.items() if not isinstance(values, list)]
    if ranges:
        raise StudyInvalid([_error(("axes", field), f"{field} is a range: only a search samples ranges; list its "
                                   "values, or add \"search\": {\"trials\": N}", None) for field in ranges])
    check_axes(body.axes, settings.study_max_axis_values)  # type: ignore[arg-type]
    runs = check_size(body.base, body.axes, len(body.seeds), settings.study_max_runs)  # type: ignore[arg-type]
    check_unused(body.base, body.axes)  # type: ignore[arg-type]
    return runs


def _unused_error(field: str, values: list[Any]) -> dict[str, Any]:
    tags = {tag: _properties()[field][tag] for tag in APPLIES_TAGS if tag in _properties()[field]}
    where = "; ".join(f"{APPLIES_TAGS[tag]} {', '.join(choices)}" for tag, choices in tags.items())
    return _error(("axes", field), f"{field} applies to no cell of this study: it is read only with {where}", values)


def _cell_input(base: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """The spec of a cell: the base, less the fields that do not apply to this cell, with the cell's values."""
    context = {**base, **values}
    kept = {k: v for k, v in base.items() if k not in NOT_AXES and (k not in _properties() or applies(k, context))}
    return {**kept, **values}


def _cell_errors(key: str, values: Mapping[str, Any], error: ValidationError) -> list[dict[str, Any]]:
    """RunSpec's errors for one cell, each placed at the axis or base field it names, the cell in the message."""
    found = []
    for e in error.errors():
        field = str(e["loc"][0]) if e["loc"] else ""
        where = ("axes", field) if field in values else ("base", field) if field else ("base",)
        message = str(e["msg"]).removeprefix("Value error, ")
        found.append(_error(where, f"cell {key}: {field}: {message}" if field else f"cell {key}: {message}",
                            e.get("input")))
    return found


def _validated(raw: Mapping[str, Any], base: Mapping[str, Any], settings: Settings) -> Cell | list[dict]:
    """The cell with its validated spec, or the errors that name it."""
    shown = cell_key(raw)
    try:
        spec = RunSpec.model_validate(_cell_input(base, raw))
    except ValidationError as error:
        return _cell_errors(shown, raw, error)
    dumped = spec.model_dump(mode="json")
    values = {field: dumped[field] for field in raw}
    problems = spec_problems(spec, settings)
    if problems:
        return [_error(("axes", field) if field in raw else ("base", field), f"cell {shown}: {field}: {why}", value)
                for field, why, value in problems]
    return Cell(cell_key(values), values, spec)


def expand(body: StudyCreate, settings: Settings) -> list[Cell]:
    """The study's cells, each validated; StudyInvalid naming every bad axis, cell and field (nothing stored)."""
    run_count(body, settings)
    raw_cells = list(_combinations(body.base, body.axes))  # type: ignore[arg-type]
    errors: list[dict[str, Any]] = []
    cells: list[Cell] = []
    seen: set[tuple[tuple[str | int, ...], str]] = set()
    for raw in raw_cells:
        result = _validated(raw, body.base, settings)
        if isinstance(result, Cell):
            cells.append(result)
            continue
        for e in result:  # the same problem in many cells is named once, with the first cell
            problem = (tuple(e["loc"]), str(e["msg"]).split(": ", 1)[1])
            if problem not in seen:
                seen.add(problem)
                errors.append(e)
    if errors:
        raise StudyInvalid(errors[:MAX_ERRORS])
    return cells


def run_name(study: str, cell: Cell, seed: int) -> str:
    """"losses · method=supcon · seed 1", cut to the 120 characters a name holds."""
    return run_label(study, cell.values, seed)


def run_label(study: str, values: Mapping[str, Any], seed: int) -> str:
    """A run's name from its study's name, its cell's values and its seed (run_name, for a stored cell)."""
    shown = ", ".join(f"{field}={_text(value)}" for field, value in values.items())
    return f"{study} · {shown} · seed {seed}"[:120]
