"""A batch of points and messages into the event log in one statement, without the ORM's per-row work.

At 2,000 points a batch the ORM's bulk insert spent four fifths of its time building and type-processing each
row's parameters in Python; here each row is one tuple, the batch's default time is converted once, and the
driver gets one executemany (SQLite, looped in C) or one INSERT of unnested arrays (PostgreSQL). A retried batch
inserts nothing twice: (run_id, key) is unique and a conflict does nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from backend.models import Event
from contrastlab.core.protocol import EventBatch

COLUMNS = ("run_id", "kind", "key", "name", "step", "epoch", "value", "text", "time")
# PostgreSQL: the rows as one array a column, unnested in their order (a VALUES list of 2,000 rows costs the
# driver more to parse than the server to insert).
POSTGRES_INSERT = (
    f"INSERT INTO events ({', '.join(COLUMNS)}) SELECT %s, u.kind, u.key, u.name, u.step, u.epoch, u.value, u.text, "
    "u.time FROM unnest(%s::varchar[], %s::varchar[], %s::varchar[], %s::bigint[], %s::float8[], %s::float8[], "
    "%s::text[], %s::timestamptz[]) WITH ORDINALITY AS u(kind, key, name, step, epoch, value, text, time, n) "
    "ORDER BY u.n ON CONFLICT (run_id, key) DO NOTHING")


def event_rows(run_id: int, batch: EventBatch, now: datetime, convert: Any) -> list[tuple[Any, ...]]:
    """The batch's rows in COLUMNS order, points first, each time converted for the driver by `convert`."""
    stamp = convert(now)
    rows: list[tuple[Any, ...]] = [(run_id, "metric", p.key, p.name, p.step, p.epoch, p.value, None,
             stamp if p.time is None else convert(p.time)) for p in batch.points]
    rows += [(run_id, "log", m.key, None, None, None, None, m.text, stamp if m.time is None else convert(m.time))
             for m in batch.logs]
    return rows


def insert_events(session: Session, run_id: int, batch: EventBatch, now: datetime) -> None:
    """Store the batch's points and messages, in order, skipping any key the run already has."""
    connection = session.connection()
    dialect = connection.dialect
    # The time column's conversion on this dialect, as the ORM's inserts apply it (SQLite: the text SQLAlchemy
    # writes), once for the batch's shared time: handed datetimes, sqlite3 would call its adapter on every row.
    processor = Event.__table__.c.time.type.dialect_impl(dialect).bind_processor(dialect) or (lambda value: value)
    if not batch.points and not batch.logs:
        return
    # The count of points received, for /metrics (backend.operations.observability reads this option).
    counted = {"metric_points": len(batch.points)}
    if dialect.name != "postgresql":
        placeholders = ", ".join("?" * len(COLUMNS))
        connection.exec_driver_sql(f"INSERT INTO events ({', '.join(COLUMNS)}) VALUES ({placeholders})"
                                   " ON CONFLICT (run_id, key) DO NOTHING",
                                   event_rows(run_id, batch, now, processor), execution_options=counted)
        return
    connection.exec_driver_sql(POSTGRES_INSERT, (run_id, *event_arrays(batch, processor(now), processor)),
                               execution_options=counted)


def event_arrays(batch: EventBatch, stamp: datetime, convert: Any) -> list[str]:
    """The batch's COLUMNS after run_id, one array literal each (9 parameters however many rows), points first."""
    points, logs = batch.points, batch.logs
    no_points, no_logs = [None] * len(points), [None] * len(logs)
    return [array_literal(["metric"] * len(points), ["log"] * len(logs)),
            array_literal([p.key for p in points], [m.key for m in logs]),
            array_literal([p.name for p in points], no_logs),
            array_literal([p.step for p in points], no_logs),
            array_literal([p.epoch for p in points], no_logs),
            array_literal([p.value for p in points], no_logs),
            array_literal(no_points, [m.text for m in logs]),
            array_literal([stamp if p.time is None else convert(p.time) for p in points],
                          [stamp if m.time is None else convert(m.time) for m in logs])]


def _element(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, datetime):
        return '"' + value.isoformat() + '"'
    return repr(value)  # int, or a finite float (the protocol refuses NaN and inf)


def _elements(values: list[Any]) -> str:
    """One list's elements, comma-separated, in a few joins where the list is of one kind (all NULL, all numbers, all
    strings, one time repeated), else element by element."""
    if not values:
        return ""
    first, count = values[0], len(values)
    if values.count(first) == count and (first is None or isinstance(first, datetime)):
        return ",".join([_element(first)] * count)
    kinds = set(map(type, values))
    if kinds <= {int, float}:
        return ",".join(map(repr, values))
    if kinds == {str}:
        joined = "\x00".join(values)  # a separator no value holds (checked): escaped with the values in one pass
        if joined.count("\x00") == count - 1:
            return '"' + joined.replace("\\", "\\\\").replace('"', '\\"').replace("\x00", '","') + '"'
    written: dict[Any, str] = {}
    return ",".join([written.get(v) or written.setdefault(v, _element(v)) for v in values])


def array_literal(*parts: list[Any]) -> str:
    """A PostgreSQL array literal of the parts' values in order ('{1,2.5,NULL}', '{"a","b\\"c"}'), each part
    written in a few joins: psycopg would dump a list element by element in Python."""
    return "{" + ",".join([text for text in map(_elements, parts) if text]) + "}"
