"""`contrastlab tag / untag / note / rename / rm / restore / trash`: what people write on runs, and the trash.

Registered on the main app by `register` (cli.py stays one screen per command family)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer

from contrastlab.client.api import Client
from contrastlab.client.cli_options import connected
from contrastlab.client.terminal import Output

RunIds = Annotated[list[int], typer.Argument(help="Run ids, as `contrastlab ls` shows them.")]


def _bytes(count: int) -> str:
    """1536 -> "1.5 KiB": a size as people read it."""
    size, unit = float(count), "bytes"
    for bigger in ("KiB", "MiB", "GiB", "TiB"):
        if size < 1024:
            break
        size, unit = size / 1024, bigger
    return f"{int(size)} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"


def register(app: typer.Typer, friendly: Callable[[Any], Any], client: Callable[[typer.Context], Client],
             output: Callable[[], Output]) -> None:
    """Add the commands to `app`; `friendly` turns errors into one line, `output()` is this invocation's Output."""

    def command(name: str) -> Callable[[Any], Any]:
        return lambda f: app.command(name)(friendly(connected(f)))

    @command("tag")
    def tag(ctx: typer.Context, run_id: Annotated[int, typer.Argument(help="A run id.")],
            tags: Annotated[list[str], typer.Argument(help="Tags to add: `key` or `key:value`.")]) -> None:
        """Add tags to a run (`contrastlab ls --tag baseline` finds it)."""
        with client(ctx) as api:
            run = api.tag(run_id, *tags)
        output().say(f"run {run.id}: {' '.join(run.tags) or 'no tags'}")

    @command("untag")
    def untag(ctx: typer.Context, run_id: Annotated[int, typer.Argument(help="A run id.")],
              tags: Annotated[list[str], typer.Argument(help="Tags to remove; a bare key removes it with any "
                                                        "value.")]) -> None:
        """Remove tags from a run."""
        with client(ctx) as api:
            run = api.untag(run_id, *tags)
        output().say(f"run {run.id}: {' '.join(run.tags) or 'no tags'}")

    @command("note")
    def note(ctx: typer.Context, run_id: Annotated[int, typer.Argument(help="A run id.")],
             text: Annotated[str, typer.Argument(help="Markdown; `-` reads it from stdin; empty clears it.")]) -> None:
        """Set a run's notes (Markdown, shown on its page)."""
        with client(ctx) as api:
            run = api.annotate(run_id, notes=sys.stdin.read() if text == "-" else text)
        output().say(f"run {run.id}: notes set ({len(run.notes)} characters)")

    @command("rename")
    def rename(ctx: typer.Context, run_id: Annotated[int, typer.Argument(help="A run id.")],
               name: Annotated[str, typer.Argument(help="The new name (at most 120 characters).")]) -> None:
        """Rename a run."""
        with client(ctx) as api:
            run = api.annotate(run_id, name=name)
        output().say(f"run {run.id}: {run.name}")

    @command("rm")
    def remove(ctx: typer.Context, run_ids: Annotated[list[int] | None, typer.Argument(help="Run ids.")] = None,
               group: Annotated[int | None, typer.Option(help="The runs of this seed group.")] = None) -> None:
        """Move finished runs to the trash (`contrastlab restore` brings them back)."""
        if not run_ids and group is None:
            raise ValueError("name the runs to move to the trash: `contrastlab rm 3 4` or `--group 7`")
        with client(ctx) as api:
            moved = api.trash(run_ids or (), group)
        output().say(f"moved to the trash: {', '.join(f'#{i}' for i in moved)} (contrastlab restore ID brings "
                     "one back)")

    @command("restore")
    def restore(ctx: typer.Context, run_ids: RunIds) -> None:
        """Bring runs back from the trash, with every metric and file."""
        with client(ctx) as api:
            back = api.restore(run_ids)
        output().say(f"restored: {', '.join(f'#{i}' for i in back)}")

    @command("trash")
    def trash(ctx: typer.Context,
              empty: Annotated[bool, typer.Option("--empty", help="Remove what the trash holds for good.")] = False
              ) -> None:
        """What the trash holds and the disk it keeps; --empty frees it."""
        with client(ctx) as api:
            if empty:
                gone = api.empty_trash()
                output().say(f"removed {gone.runs} runs and {gone.studies} studies for good: "
                             f"{_bytes(gone.file_bytes)} of files freed")
                return
            held = api.trash_contents()
            runs, _ = api.list_runs(limit=500, trashed=True)
        out = output()
        for run in runs:
            out.say(f"#{run.id}  {run.name}  (trashed {(run.trashed_at or '')[:19]})")
        days = f"; removed by itself after {held.trash_days:g} days" if held.trash_days else ""
        out.say(f"{held.runs} runs and {held.studies} studies in the trash, {_bytes(held.file_bytes)} of files"
                f"{days}")
