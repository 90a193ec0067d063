"""The runs list query: server-side filter, sort and pagination, so 10 000 runs stay fast.

Sort keys that are columns use an index (id, created_at, status, method, dataset,
encoder); the catalogue's summary metrics and any spec field (`spec.lr`) come out of the
JSON columns and duration is computed, which costs one scan of the filtered rows (milliseconds at 10 000 runs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, Literal, get_args

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session

from backend.models import Run
from backend.runs.annotate import tag_condition
from contrastlab.core.catalog import SUMMARY_METRICS
from contrastlab.core.spec import RunSpec

COLUMN_KEYS = ("id", "name", "method", "dataset", "encoder", "status", "progress", "created")
SPEC_KEYS = tuple(f"spec.{name}" for name in RunSpec.model_fields)  # any spec field, as the table's columns
# Keys whose value may be missing (no summary yet, not started, field unset): those rows sort last either way.
NULLABLE_KEYS = ("duration", *SUMMARY_METRICS, *SPEC_KEYS)
SORT_KEYS: tuple[str, ...] = (*COLUMN_KEYS, *NULLABLE_KEYS)
if TYPE_CHECKING:
    SortKey = str
else:  # an enum in the OpenAPI document and a 422 naming the choices, built from the catalogue
    SortKey = Literal[SORT_KEYS]


@dataclass(frozen=True)
class RunFilter:
    """What the runs table asks for; empty fields do not filter."""

    statuses: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ()
    encoders: tuple[str, ...] = ()
    text: str = ""
    group_id: int | None = None
    study_id: int | None = None
    ids: tuple[int, ...] = field(default_factory=tuple)
    spec: tuple[tuple[str, Any], ...] = ()  # (RunSpec field, value): the spec holds exactly this value
    tags: tuple[str, ...] = ()  # every one of these tags ("baseline": that key with any value, too)
    trashed: bool | None = False  # only runs out of the trash, only those in it, or (None) both


NULLS = ("", "none", "null")


def parse_spec_filter(text: str) -> tuple[str, Any]:
    """"lr=0.001" -> ("lr", 0.001), typed as the RunSpec field is ("none" or nothing: unset); a ValueError that
    names the field and the fix otherwise."""
    if "\x00" in text:
        raise ValueError(f"{text!r} contains a NUL character (\\u0000); remove it")
    name, sep, raw = text.partition("=")
    name, raw = name.strip(), raw.strip()
    if not sep or name not in RunSpec.model_fields:
        raise ValueError(f"{text!r}: write field=value with a RunSpec field, e.g. optimizer=sgd or lr=0.001")
    if raw.lower() in NULLS:
        return name, None
    try:  # lax: "0.001" is a float and "true" a bool here, as a query string can only say them
        value = TypeAdapter[Any](RunSpec.model_fields[name].annotation or str).validate_python(raw)
    except ValidationError as exc:
        raise ValueError(f"{name}={raw!r}: {exc.errors()[0]['msg']}") from None
    return name, value.value if isinstance(value, Enum) else value


def _spec_condition(name: str, value: Any) -> ColumnElement[bool]:
    """The spec's `name` equals `value`, compared as the JSON type it is stored as."""
    element = Run.spec[name]
    if value is None:
        return element.as_string().is_(None)
    if isinstance(value, bool):
        return element.as_boolean() == value
    if isinstance(value, int | float):
        return element.as_float() == float(value)
    return element.as_string() == str(value)


def _spec_value(name: str) -> ColumnElement[Any]:
    """The spec field `name` as SQL orders it: numbers as numbers (so 0.01 sorts after 0.002), else as text."""
    kinds = set(get_args(RunSpec.model_fields[name].annotation)) or {RunSpec.model_fields[name].annotation}
    if kinds - {type(None)} <= {int, float}:
        return Run.spec[name].as_float()
    if kinds - {type(None)} == {bool}:
        return Run.spec[name].as_boolean()
    return Run.spec[name].as_string()


def _duration(dialect: str) -> ColumnElement[Any]:
    """Seconds from start to finish (or to now while running); NULL before the start."""
    if dialect == "sqlite":
        end = func.coalesce(Run.finished_at, func.datetime("now"))
        return (func.julianday(end) - func.julianday(Run.started_at)) * 86400.0
    return func.extract("epoch", func.coalesce(Run.finished_at, func.now()) - Run.started_at)


def sort_expression(key: str, dialect: str) -> ColumnElement[Any]:
    """The SQL expression a sort key orders by."""
    columns: dict[str, Any] = {
        "id": Run.id, "name": func.lower(Run.name), "method": Run.method, "dataset": Run.dataset,
        "encoder": Run.encoder, "status": Run.status, "progress": Run.progress, "created": Run.created_at,
    }
    if key in columns:
        return columns[key]
    if key in SUMMARY_METRICS:
        return Run.summary[key].as_float()
    if key == "duration":
        return _duration(dialect)
    if key in SPEC_KEYS:
        return _spec_value(key.removeprefix("spec."))
    raise ValueError(f"sort key {key!r} is not one of {', '.join(SORT_KEYS)}")


def _where(query: Select[Any], where: RunFilter) -> Select[Any]:
    for column, values in ((Run.status, where.statuses), (Run.method, where.methods),
                           (Run.dataset, where.datasets), (Run.encoder, where.encoders), (Run.id, where.ids)):
        if values:
            query = query.where(column.in_(values))
    if where.group_id is not None:
        query = query.where(Run.group_id == where.group_id)
    if where.study_id is not None:
        query = query.where(Run.study_id == where.study_id)
    for name, value in where.spec:
        query = query.where(_spec_condition(name, value))
    for tag in where.tags:
        query = query.where(tag_condition(Run.tags, tag))
    if where.trashed is not None:
        query = query.where(Run.trashed_at.is_not(None) if where.trashed else Run.trashed_at.is_(None))
    text = where.text.strip().lower()
    if text:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conditions: list[ColumnElement[bool]] = [func.lower(Run.name).like(pattern, escape="\\")]
        digits = text.lstrip("#")
        if digits.isascii() and digits.isdigit() and len(digits) <= 18:  # "²" is a digit to isdigit(), not to int()
            conditions.append(Run.id == int(digits))
        query = query.where(or_(*conditions))
    return query


def page_query(where: RunFilter, sort: str, descending: bool, limit: int, offset: int,
               dialect: str) -> Select[Any]:
    """One page of runs: filtered, ordered (missing values last, ties by id) and sliced."""
    key = sort_expression(sort, dialect)
    order = key.desc() if descending else key.asc()
    if sort in NULLABLE_KEYS:
        order = order.nulls_last()
    tie = Run.id.desc() if descending else Run.id.asc()
    query = _where(select(Run), where)
    return query.order_by(order, tie).limit(limit).offset(offset)


def list_runs(session: Session, where: RunFilter, sort: str = "id", descending: bool = True,
              limit: int = 50, offset: int = 0) -> tuple[list[Run], int]:
    """The page of runs and how many match the filter in all."""
    dialect = session.get_bind().dialect.name
    total = session.scalar(_where(select(func.count()).select_from(Run), where)) or 0
    rows = session.scalars(page_query(where, sort, descending, limit, offset, dialect)).all()
    return list(rows), total
