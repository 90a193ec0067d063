"""The runs list query: server-side filter, sort and pagination, so 100,000 runs stay fast.

Every sort key walks an index on (key, id): the columns, and the generated columns of migration 0014 for the
summary metrics, the duration and the common spec fields (backend.sortkeys); other spec fields come out of the JSON
by a scan. Rows without a value (no summary yet, still running, field unset) sort last either way: they are a second
query by id once the first runs out, so each stays one index walk. The count stops at COUNT_CAP; `after` (keyset)
pages go as deep as the first page costs. Free text and tags are index lookups too (migration 0017:
backend.runs.textsearch, the run_tags table).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any, Literal, get_args

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session

from backend.models import Run
from backend.runs.annotate import tag_condition, tagged
from backend.runs.textsearch import fts_candidates, text_condition
from backend.sortkeys import SPEC_NUMBERS, SPEC_TEXTS, spec_column, summary_column
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
COUNT_CAP = 10_000  # past this many matches the count stops: "10,000+" (a count must not scan 100,000 rows)
COMMON = 1_000  # SQLite: a tag or text that matches this many runs is checked run by run (Plan)


@dataclass(frozen=True)
class Plan:
    """SQLite's way to a page's tags and text. SQLite starts from any list of ids it is given, however long (it
    cannot tell), then reads every run listed, and sorts them unless the sort is by id. So a tag that matches COMMON
    runs or more is looked up run by run along the sort's index (soon a page is full), and so is common text under
    another sort than id (about where reading and sorting the matches costs as much as walking to 50 of them, at
    100,000 runs). Counts always start from the lists: they read every match up to the cap anyway. PostgreSQL weighs
    the two ways from its statistics: its plan stays empty."""

    text: bool = False  # the text is common
    tags: frozenset[str] = frozenset()  # these tags are


def plan_for(session: Session, where: RunFilter, sort: str) -> Plan:
    """The Plan of a page: its tags and text counted in their indexes, counts that stop at COMMON."""
    if session.get_bind().dialect.name != "sqlite":
        return Plan()

    def common(ids: Select[Any]) -> bool:
        return (session.scalar(select(func.count()).select_from(ids.limit(COMMON).subquery())) or 0) >= COMMON

    candidates = fts_candidates(where.text) if sort != "id" else None
    return Plan(text=candidates is not None and common(candidates),
                tags=frozenset(tag for tag in where.tags if common(tagged(tag))))


@dataclass(frozen=True)
class Cursor:
    """Where a page ended: the sort, its direction, the last row's sort value and id (keyset pagination)."""

    sort: str
    descending: bool
    value: Any
    run_id: int

    def dump(self) -> str:
        value = {"t": self.value.isoformat()} if isinstance(self.value, datetime) else self.value
        raw = json.dumps([self.sort, self.descending, value, self.run_id], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def parse(cls, text: str, sort: str, descending: bool) -> Cursor:
        """The cursor `text` of a page in this order; a ValueError that says why it is not one."""
        try:
            raw = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            key, desc, value, run_id = raw
            if isinstance(value, dict):
                value = datetime.fromisoformat(value["t"])
        except (ValueError, TypeError, KeyError, binascii.Error):
            raise ValueError(f"{text[:40]!r} is not a cursor this list gave (use a page's next_after)") from None
        if not isinstance(run_id, int) or isinstance(value, list | dict):
            raise ValueError(f"{text[:40]!r} is not a cursor this list gave (use a page's next_after)")
        if (key, desc) != (sort, descending):
            raise ValueError(f"the cursor is of sort={key}, order={'desc' if desc else 'asc'}: ask in that order, "
                             "or start again without it")
        kind = sort_expression(sort).type.python_type
        kinds = (int, float) if kind in (int, float) else (kind,)
        if value is not None and (not isinstance(value, kinds) or isinstance(value, bool) != (kind is bool)):
            raise ValueError(f"{text[:40]!r} is not a cursor this list gave (use a page's next_after)")
        return cls(sort, descending, value, run_id)


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


def _spec_column(name: str) -> ColumnElement[Any] | None:
    """The generated, indexed column of a spec field (backend.sortkeys), or None where the field has none."""
    if name in SPEC_NUMBERS or name in SPEC_TEXTS:
        return Run.__table__.c[spec_column(name)]
    return None


def _spec_condition(name: str, value: Any) -> ColumnElement[bool]:
    """The spec's `name` equals `value`, compared as the JSON type it is stored as (by its index where it has one)."""
    column = _spec_column(name)
    if column is not None and not isinstance(value, bool):
        if value is None:
            return column.is_(None)
        return column == (float(value) if isinstance(value, int | float) else str(value))
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
    column = _spec_column(name)
    if column is not None:
        return column
    kinds = set(get_args(RunSpec.model_fields[name].annotation)) or {RunSpec.model_fields[name].annotation}
    if kinds - {type(None)} <= {int, float}:
        return Run.spec[name].as_float()
    if kinds - {type(None)} == {bool}:
        return Run.spec[name].as_boolean()
    return Run.spec[name].as_string()


def sort_expression(key: str, dialect: str = "") -> ColumnElement[Any]:
    """The SQL expression a sort key orders by: a column with an index, or (spec fields without one) JSON."""
    columns: dict[str, Any] = {
        "id": Run.id, "name": func.lower(Run.name), "method": Run.method, "dataset": Run.dataset,
        "encoder": Run.encoder, "status": Run.status, "progress": Run.progress, "created": Run.created_at,
        "duration": Run.__table__.c.duration,
    }
    if key in columns:
        return columns[key]
    if key in SUMMARY_METRICS:
        return Run.__table__.c[summary_column(key)]
    if key in SPEC_KEYS:
        return _spec_value(key.removeprefix("spec."))
    raise ValueError(f"sort key {key!r} is not one of {', '.join(SORT_KEYS)}")


def _where(query: Select[Any], where: RunFilter, plan: Plan = Plan()) -> Select[Any]:
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
        query = query.where(tag_condition(tag, tag in plan.tags))
    if where.trashed is not None:
        query = query.where(Run.trashed_at.is_not(None) if where.trashed else Run.trashed_at.is_(None))
    text = text_condition(where.text, plan.text)
    if text is not None:
        query = query.where(text)
    return query


def _known(key: ColumnElement[Any], sort: str) -> ColumnElement[bool] | None:
    """Rows that have a value for a key that may be missing; None for keys every row has."""
    return key.is_not(None) if sort in NULLABLE_KEYS else None


def _ordered(query: Select[Any], key: Any, descending: bool) -> Select[Any]:
    """Ordered by the key, ties by id, in one direction, so that one index (key, id) walks either way."""
    return query.order_by(key.desc(), Run.id.desc()) if descending else query.order_by(key.asc(), Run.id.asc())


def _beyond(key: ColumnElement[Any], value: Any, run_id: int, descending: bool) -> ColumnElement[bool]:
    """Rows after (value, run_id) in the order: a range on the index (key, id), as keyset pagination needs."""
    if descending:
        return and_(key <= value, or_(key < value, Run.id < run_id))
    return and_(key >= value, or_(key > value, Run.id > run_id))


def page_query(where: RunFilter, sort: str, descending: bool, limit: int, offset: int, dialect: str = "",
               after: Cursor | None = None, plan: Plan = Plan()) -> Select[Any]:
    """The rows of a page that have a value for the sort key, with that value (missing ones come after them)."""
    key = sort_expression(sort, dialect)
    query = _where(select(Run, key.label("sort_value")), where, plan)
    known = _known(key, sort)
    if known is not None:
        query = query.where(known)
    if after is not None:
        query = query.where(_beyond(key, after.value, after.run_id, descending))
    return _ordered(query, key, descending).limit(limit).offset(offset)


def _missing_query(where: RunFilter, sort: str, descending: bool, limit: int, offset: int,
                   after_id: int | None, plan: Plan) -> Select[Any]:
    """The rows without a value for the sort key, which sort last either way, by id."""
    key = sort_expression(sort)
    query = _where(select(Run, key.label("sort_value")), where, plan).where(key.is_(None))
    if after_id is not None:
        query = query.where(Run.id < after_id if descending else Run.id > after_id)
    return _ordered(query, Run.id, descending).limit(limit).offset(offset)


def count_runs(session: Session, where: RunFilter, cap: int | None) -> tuple[int, bool]:
    """How many runs match, and whether that is exact: past `cap` the count stops (10,000+)."""
    matching = _where(select(Run.id), where)
    if cap is None:
        return session.scalar(select(func.count()).select_from(matching.subquery())) or 0, True
    total = session.scalar(select(func.count()).select_from(matching.limit(cap + 1).subquery())) or 0
    return min(total, cap), total <= cap


@dataclass(frozen=True)
class Page:
    """A page of runs, how many match (exact up to COUNT_CAP), and the cursor of the page after it."""

    runs: list[Run]
    total: int
    total_exact: bool
    next_after: str | None


def list_runs(session: Session, where: RunFilter, sort: str = "id", descending: bool = True,
              limit: int = 50, offset: int = 0, after: str | None = None) -> Page:
    """The page of runs: rows with a value for the sort key by its index, then (nullable keys) those without one.

    `after` (the previous page's `next_after`) continues from that row by an index range, however deep; `offset`
    skips rows after it (or from the start)."""
    cursor = Cursor.parse(after, sort, descending) if after else None
    how = plan_for(session, where, sort)
    rows: list[Any] = []
    if cursor is None or cursor.value is not None:
        rows = list(session.execute(page_query(where, sort, descending, limit, offset, after=cursor,
                                               plan=how)).all())
    if len(rows) < limit and sort in NULLABLE_KEYS:
        if cursor is not None and cursor.value is None:  # the cursor is among the rows without a value
            skip, after_id = offset, cursor.run_id
        else:  # the offset went past every row with a value: skip what is left of it among the others
            skip = 0 if rows else offset - _known_before(session, where, sort, descending, offset, cursor)
            after_id = None
        rows += session.execute(_missing_query(where, sort, descending, limit - len(rows), skip, after_id,
                                               how)).all()
    if cursor is None and len(rows) < limit and (rows or offset == 0):  # the last page: every match is counted
        total, exact = min(offset + len(rows), COUNT_CAP), offset + len(rows) <= COUNT_CAP
    else:
        total, exact = count_runs(session, where, COUNT_CAP)
    following = Cursor(sort, descending, rows[-1].sort_value, rows[-1].Run.id).dump() if len(rows) == limit else None
    return Page([row.Run for row in rows], total, exact, following)


def _known_before(session: Session, where: RunFilter, sort: str, descending: bool, offset: int,
                  cursor: Cursor | None) -> int:
    """How many rows with a value for the key an empty first part skipped (at most `offset`)."""
    if offset == 0:
        return 0
    key = sort_expression(sort)
    query = _where(select(Run.id), where).where(key.is_not(None))
    if cursor is not None:
        query = query.where(_beyond(key, cursor.value, cursor.run_id, descending))
    return session.scalar(select(func.count()).select_from(query.limit(offset).subquery())) or 0
