"""Where the CLI writes: stdout sized for a terminal or for a pipe, plain lines, tables that fit, one-line errors.

On a terminal, text wraps to its width and a table too wide wraps its columns (layout.fit). In a pipe (a file,
`grep`, `less`), lines are never wrapped or cut, whatever COLUMNS says, so `contrastlab ls | grep supcon` finds
the row with every value whole.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from rich.console import Console, RenderableType
from rich.markup import escape
from rich.table import Table

from contrastlab.client.layout import fit

# Wide enough for any row: piped output is never cut or folded.
PIPE_WIDTH = 100_000


class _Console(Console):
    def on_broken_pipe(self) -> None:
        """`contrastlab compare --csv | head`: the reader has what it wanted; stop quietly with success (rich's
        own exits 1), and let the interpreter's last flush go to /dev/null."""
        self.quiet = True
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, (sys.stderr if self.stderr else sys.stdout).fileno())
        raise SystemExit(0)


def _console(stderr: bool) -> Console:
    """A terminal's width on a terminal, unlimited width anywhere else (COLUMNS is for terminals)."""
    probe = _Console(stderr=stderr)
    return probe if probe.is_terminal else _Console(stderr=stderr, width=PIPE_WIDTH)


class Output:
    """stdout and stderr of one invocation (made per invocation: stdout may be a terminal now, a pipe next)."""

    def __init__(self) -> None:
        self.console, self.errors = _console(False), _console(True)

    def say(self, text: str) -> None:
        """A line of plain text: never read as markup ("[x]" stays), never wrapped in a pipe."""
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def prose(self, text: str) -> None:
        """A sentence: on a terminal it wraps at spaces, never inside a word; in a pipe it stays one line."""
        self.console.print(text, markup=False, highlight=False)

    def note(self, text: str) -> None:
        """A line on stderr, so stdout stays data (a CSV, JSON)."""
        self.errors.print(text, markup=False, highlight=False, soft_wrap=True)

    def show(self, part: RenderableType) -> None:
        """A renderable; a table has its columns wrapped into several tables when the terminal is too narrow."""
        for piece in fit(part, self.console.width) if isinstance(part, Table) else [part]:
            self.console.print(piece, highlight=False)

    def json(self, data: Any) -> None:
        self.console.print_json(json.dumps(data))

    def error(self, message: str) -> None:
        self.errors.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
