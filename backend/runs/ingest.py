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
    processor = Event.__table__.c.time.type.bind_processor(dialect)
    rows = event_rows(run_id, batch, now, processor or (lambda value: value))
    if not rows:
        return
    # The count of points received, for /metrics (backend.operations.observability reads this option).
    counted = {"metric_points": len(batch.points)}
    if dialect.name != "postgresql":
        placeholders = ", ".join("?" * len(COLUMNS))
        connection.exec_driver_sql(f"INSERT INTO events ({', '.join(COLUMNS)}) VALUES ({placeholders})"
                                   " ON CONFLICT (run_id, key) DO NOTHING", rows, execution_options=counted)
        return
    columns = list(zip(*rows, strict=True))[1:]  # one array a column: 9 parameters however many rows
    connection.exec_driver_sql(POSTGRES_INSERT, (run_id, *(array_literal(values) for values in columns)),
                               execution_options=counted)


def _element(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, datetime):
        return '"' + value.isoformat() + '"'
    return repr(value)  # int, or a finite float (the protocol refuses NaN and inf)


def array_literal(values: tuple[Any, ...]) -> str:
    """A PostgreSQL array literal ('{1,2.5,NULL}', '{"a","b\\"c"}'), written in one join: psycopg would dump
    a list element by element in Python. A column of plain numbers joins their repr; repeated values (the
    batch's time) are written once."""
    if all(type(value) in (int, float) for value in values):
        return "{" + ",".join(map(repr, values)) + "}"
    written: dict[Any, str] = {}
    return "{" + ",".join([written.get(v) or written.setdefault(v, _element(v)) for v in values]) + "}"
