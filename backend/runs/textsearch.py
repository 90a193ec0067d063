"""The runs list's free text (`q`): the run's name contains it, in any case, or it is the run's id ("#123", "123").

A name substring is answered by an index (migration 0017): on PostgreSQL a pg_trgm GIN index on lower(name), which
LIKE '%...%' uses as it stands; on SQLite an FTS5 table of the names with the trigram tokenizer, kept in step by
triggers and asked for text of 3 characters or more (a trigram index holds nothing shorter: such text scans, and
each character matches many runs, so a page fills quickly). FTS5 folds case as Unicode does, a superset of what the
LIKE matches; the LIKE after it keeps the answer exactly what a scan gives.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Select,
    String,
    column,
    func,
    literal,
    literal_column,
    or_,
    select,
    table,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler

from backend.models import Run

FTS_TABLE = "runs_name_fts"  # SQLite: FTS5, trigram tokenizer, external content (the runs table), rowid = runs.id
TRIGRAM = 3  # the shortest text the trigram index can answer


class NameOrId(ColumnElement[bool]):
    """The name contains `text` (lower-cased), or the run's id is `run_id`: compiled per database; `common` text
    (listing.Plan) walks the sort's index on SQLite."""

    type = Boolean()
    inherit_cache = False
    _is_implicitly_boolean = True  # a condition as it stands: no "= 1" where the database has no boolean type

    def __init__(self, text: str, run_id: int | None, common: bool) -> None:
        self.text = text
        self.run_id = run_id
        self.common = common

    def scan(self) -> ColumnElement[bool]:
        """The condition itself, row by row (PostgreSQL's trigram index answers it as written)."""
        escaped = self.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        # The pattern written into the SQL, not bound: PostgreSQL then plans each text for itself. A bound one is
        # planned once for any text after five runs of the statement (psycopg prepares it), and that plan, made for
        # a text with no trigram, would read the whole trigram index for every other.
        pattern = literal(f"%{escaped}%", String(), literal_execute=True)
        like = func.lower(Run.name).like(pattern, escape="\\")
        return like if self.run_id is None else or_(like, Run.id == self.run_id)


def _normal(text: str) -> str:
    return text.strip().lower()


def text_condition(text: str, common: bool = False) -> ColumnElement[bool] | None:
    """The runs whose name contains `text` or whose id it is ("#42"); None for empty text."""
    text = _normal(text)
    if not text:
        return None
    digits = text.lstrip("#")
    is_id = digits.isascii() and digits.isdigit() and len(digits) <= 18  # "²" is a digit to isdigit(), not int()
    return NameOrId(text, int(digits) if is_id else None, common)


def fts_candidates(text: str) -> Select[Any] | None:
    """SQLite: the ids of the runs whose name holds every trigram of `text`, in a row (a phrase of them: a superset
    of the substring, case folded as Unicode does); None for text too short to have a trigram."""
    text = _normal(text)
    if len(text) < TRIGRAM:
        return None
    fts = table(FTS_TABLE, column("rowid"))
    return select(fts.c.rowid).where(literal_column(FTS_TABLE).op("MATCH")('"' + text.replace('"', '""') + '"'))


@compiles(NameOrId)
def _compile(element: NameOrId, compiler: SQLCompiler, **kw: Any) -> str:
    return f"({compiler.process(element.scan(), **kw)})"  # in brackets: an OR among the list's other conditions


@compiles(NameOrId, "sqlite")
def _compile_sqlite(element: NameOrId, compiler: SQLCompiler, **kw: Any) -> str:
    """The FTS5 table's candidates (and the id), then the LIKE on them; short text scans. The runs are looked up by
    the candidates' ids, or, for common text, the candidates are a list each run the sort's index walks to is
    checked against (a unary + keeps SQLite from looking the ids up)."""
    candidates: Any = fts_candidates(element.text)
    if candidates is None:
        return _compile(element, compiler, **kw)
    if element.run_id is not None:
        candidates = union_all(candidates, select(literal(element.run_id)))
    listed = compiler.process(Run.id.in_(candidates), **kw)
    return f"({'+' if element.common else ''}{listed} AND {compiler.process(element.scan().self_group(), **kw)})"
