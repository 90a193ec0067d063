"""Generated columns the runs list sorts and filters by (migration 0014): final metrics, duration, spec fields.

The runs table keeps the summary and the spec as JSON; each key people sort by is also a generated column with its
own index, so a page of 50 out of 100,000 runs walks an index instead of sorting every row. One SQL text per dialect
(SQLite: virtual columns from json_extract; PostgreSQL: stored columns from ->>), used by the model and the
migration alike.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ColumnElement

from contrastlab.core.catalog import SUMMARY_METRICS

# Spec fields with an indexed column: numbers, then text. Any other spec field still sorts and filters, by a scan.
SPEC_NUMBERS = ("lr", "batch_size", "epochs", "temperature", "weight_decay", "seed")
SPEC_TEXTS = ("optimizer",)
SUMMARY_KEYS = SUMMARY_METRICS


def summary_column(key: str) -> str:
    return f"summary_{key}"


def spec_column(key: str) -> str:
    return f"spec_{key}"


def generated_sql(column: str, dialect: str) -> str:
    """The SQL a generated column is computed by, on `dialect` ("sqlite" or "postgresql")."""
    if column == "duration":  # seconds from start to finish; NULL until the run has finished
        if dialect == "sqlite":
            return "(julianday(finished_at) - julianday(started_at)) * 86400.0"
        return "CAST(EXTRACT(EPOCH FROM (finished_at - started_at)) AS DOUBLE PRECISION)"
    source, _, key = column.partition("_")
    if dialect == "sqlite":
        return f"json_extract({source}, '$.{key}')"
    if source == "spec" and key in SPEC_TEXTS:
        return f"({source} ->> '{key}')"
    return f"CAST(({source} ->> '{key}') AS DOUBLE PRECISION)"


def generated_columns() -> tuple[tuple[str, bool], ...]:
    """Every generated column: (name, is text)."""
    return (("duration", False), *((summary_column(k), False) for k in SUMMARY_KEYS),
            *((spec_column(k), False) for k in SPEC_NUMBERS), *((spec_column(k), True) for k in SPEC_TEXTS))


class GeneratedSQL(ColumnElement[Any]):
    """A generated column's expression, written for the dialect that compiles it (the model's Computed)."""

    inherit_cache = False

    def __init__(self, column: str) -> None:
        self.column = column


@compiles(GeneratedSQL)
def _compile(element: GeneratedSQL, compiler: SQLCompiler, **kw: Any) -> str:
    return generated_sql(element.column, compiler.dialect.name)
