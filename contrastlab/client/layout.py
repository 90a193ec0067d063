"""How the CLI's tables fit a terminal without cutting a value.

A table that fits is printed as it is. One too wide for the terminal has its columns wrapped into several
tables, as pandas wraps a wide frame, each repeating the first column (the run or the cell) so a row reads
across them; within a column a long value folds onto the next line. rich alone would squeeze every column, and
below a few characters a value vanishes or ends in "…". Cells are plain text, never markup, so a run named
"lr [0.5]" keeps its brackets. A pipe gets all the width it needs (cli.py), so `ls | grep` finds whole rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.markup import escape
from rich.table import Column, Table
from rich.text import Text

CELL_FLOOR = 12  # the narrowest a column gets, unless its widest value is narrower: wider values fold
EDGE = 3  # a column's padding (one space each side) and its left border; the table adds one more border


def table(*columns: str, title: str | None = None, right: Sequence[str] = ()) -> Table:
    """A table whose columns fold long values and never truncate them."""
    grid = Table(title=title)
    for column in columns:
        grid.add_column(escape(column), overflow="fold", no_wrap=False, justify="right" if column in right
                        else "left")
    return grid


def add_row(grid: Table, cells: Iterable[str | Text], style: str | None = None) -> None:
    """A row of plain text (a str is never read as markup: "[x]" stays "[x]")."""
    grid.add_row(*(cell if isinstance(cell, Text) else Text(cell) for cell in cells), style=style)


def _width(cell: object) -> int:
    return cell.cell_len if isinstance(cell, Text) else Text.from_markup(str(cell)).cell_len


def natural(column: Column) -> int:
    """The width a column takes when nothing in it wraps."""
    widest = max((_width(cell) for cell in column.cells), default=0)
    return max(widest, Text.from_markup(str(column.header)).cell_len)


def floor(column: Column) -> int:
    """The narrowest a column may get: its widest value up to CELL_FLOOR, and never less than its header's
    longest word, so a header wraps between words, not inside one."""
    widest = max((_width(cell) for cell in column.cells), default=0)
    header = max((len(word) for word in Text.from_markup(str(column.header)).plain.split()), default=0)
    return max(min(widest, CELL_FLOOR), header, 1)


def _span(floors: Sequence[int]) -> int:
    """The width a table of columns this narrow takes, borders and padding included."""
    return sum(floors) + EDGE * len(floors) + 1


def _chunks(floors: Sequence[int], width: int) -> list[list[int]]:
    """Column indexes after the first, packed greedily into groups that fit `width` beside the first column."""
    chunks: list[list[int]] = [[]]
    for index in range(1, len(floors)):
        if chunks[-1] and _span([floors[0], *(floors[i] for i in chunks[-1]), floors[index]]) > width:
            chunks.append([])
        chunks[-1].append(index)
    return chunks


def _subset(grid: Table, indexes: Sequence[int], width: int, title: object, caption: object) -> Table:
    """The same table with only these columns (their headers, alignment and cells, the rows' styles). When their
    floors fit `width`, a column whose floor is its natural width never wraps: rich shrinks the widest columns
    first and would otherwise squeeze a short value ("94.9 ± 0.7 %") to make room for a long one."""
    part = Table(title=title, caption=caption)  # type: ignore[arg-type]
    columns = [grid.columns[i] for i in indexes]
    pin = _span([floor(column) for column in columns]) <= width
    for column in columns:
        keep = column.no_wrap or (pin and natural(column) <= floor(column))
        part.add_column(column.header, justify=column.justify, overflow=column.overflow, no_wrap=keep)
    cells = [list(column.cells) for column in columns]
    for row, meta in enumerate(grid.rows):
        part.add_row(*(values[row] for values in cells), style=meta.style)
    return part


def fit(grid: Table, width: int) -> list[Table]:
    """The table, or its columns wrapped into several tables when their floors do not fit `width`."""
    everything = list(range(len(grid.columns)))
    if len(everything) < 2 or _span([floor(column) for column in grid.columns]) <= width:
        return [_subset(grid, everything, width, grid.title, grid.caption)]
    chunks = _chunks([floor(column) for column in grid.columns], width)
    return [_subset(grid, [0, *chunk], width, grid.title if n == 0 else None,
                    grid.caption if n == len(chunks) - 1 else None) for n, chunk in enumerate(chunks)]
