"""`contrastlab`: submit, watch, compare and export runs from a shell; serve the API and start workers.

Server URL and token come from --url/--token, before or after the command, or CONTRASTLAB_URL/CONTRASTLAB_TOKEN
(else API_URL/API_TOKEN).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from contrastlab.client import cli_annotate, cli_serve, render
from contrastlab.client.api import ApiError, Client, describe_detail
from contrastlab.client.cli_base import AsJson, RunId, _catalog, _client, app, dashboard, friendly, out
from contrastlab.client.cli_options import connected
from contrastlab.client.compare import compare_csv_rows, compare_document, group_line, runs_page, seed_groups
from contrastlab.client.export import write_csv, write_rows, write_tensorboard
from contrastlab.client.follow import follow_runs
from contrastlab.client.models import Run
from contrastlab.client.specs import load_spec
from contrastlab.core.catalog import Status


@app.command()
@friendly
@connected
def submit(ctx: typer.Context, spec_file: Annotated[Path, typer.Argument(help="A RunSpec as YAML.")],
           seeds: Annotated[int, typer.Option(help="Submit N runs with seed 0..N-1 as one group "
                                              "(0: the spec's own seed).", min=0, max=20)] = 0,
           set_: Annotated[list[str] | None, typer.Option("--set", help="Override a field: --set epochs=5.")]
           = None,
           follow: Annotated[bool, typer.Option("--follow", "-f", help="Watch until every run ends, then print "
                                                "the group's mean ± std; exit 1 if any did not succeed.")]
           = False) -> None:
    """Submit a spec file (once, or once per seed); prints the dashboard page of the run or the group."""
    spec = load_spec(spec_file, set_ or [])
    spec.setdefault("name", spec_file.stem)
    with _client(ctx) as client:
        try:
            runs = client.submit_group(spec, range(seeds)) if seeds else [client.submit(spec)]
        except ApiError as exc:
            if exc.status_code == 422:
                raise ValueError(f"{spec_file}: the server rejected the spec: {describe_detail(exc.detail)}"
                                 ) from exc
            raise
        for run in runs:
            out.say(f"run {run.id} queued: {run.name} (seed {run.spec.get('seed')})")
        for warning in runs[0].warnings:
            out.note(f"warning: {warning}")
        out.say(f"dashboard: {dashboard(client, runs_page(runs))}")
        if not follow:
            return
        catalog = _catalog(client)
        finals = follow_runs(client, runs, out.console, catalog)
    for group in seed_groups(finals):
        out.prose(group_line(group, catalog))
    if any(run.status != Status.SUCCEEDED for run in finals):
        raise typer.Exit(1)


@app.command("ls")
@friendly
@connected
def list_runs(ctx: typer.Context, limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
              offset: Annotated[int, typer.Option(min=0)] = 0,
              status: Annotated[list[str] | None, typer.Option(help="Only this status (repeatable).")] = None,
              method: Annotated[list[str] | None, typer.Option(help="Only this method (repeatable).")] = None,
              dataset: Annotated[list[str] | None, typer.Option(help="Only this dataset (repeatable).")] = None,
              group: Annotated[int | None, typer.Option(help="Only the runs of this seed group.")] = None,
              search: Annotated[str, typer.Option(help="Name contains this, or a run id.")] = "",
              tag: Annotated[list[str] | None, typer.Option(help="Only runs with this tag (repeatable); a bare "
                                                            "key matches it with any value.")] = None,
              trashed: Annotated[bool, typer.Option("--trashed", help="The runs in the trash instead.")] = False,
              metric: Annotated[list[str] | None, typer.Option(help="A metric column (repeatable); default: the "
                                                               "catalogue's final metrics the runs have.")] = None,
              as_json: AsJson = False) -> None:
    """List runs, newest first, filtered by status, method, dataset, seed group, tag or name."""
    with _client(ctx) as client:
        catalog = _catalog(client)
        chosen = {option: [catalog.check(option, value) for value in values or ()]
                  for option, values in (("status", status), ("method", method), ("dataset", dataset))}
        runs, total = client.list_runs(limit, offset, chosen["status"], search, group, methods=chosen["method"],
                                       datasets=chosen["dataset"], tags=tag or (), trashed=trashed)
    if as_json:
        out.json({"items": [run.model_dump() for run in runs], "total": total})
    else:
        out.show(render.runs_table(runs, total, catalog, metric or ()))


@app.command()
@friendly
@connected
def show(ctx: typer.Context, run_id: RunId, as_json: AsJson = False) -> None:
    """A run's state, final metrics, spec, artifacts and latest messages."""
    with _client(ctx) as client:
        run = client.get(run_id)
        if as_json:
            out.json(run.model_dump())
            return
        for part in render.run_details(run, client.artifacts(run_id), client.log(run_id), _catalog(client)):
            out.show(part)


@app.command()
@friendly
@connected
def cancel(ctx: typer.Context, run_id: RunId) -> None:
    """Cancel a queued or running run."""
    with _client(ctx) as client:
        run = client.cancel(run_id)
    what = Status.CANCELED if run.status == Status.CANCELED else "cancel requested; it stops at the next step-batch"
    out.say(f"run {run.id}: {what}")


@app.command()
@friendly
@connected
def metrics(ctx: typer.Context, run_id: RunId,
            csv: Annotated[bool, typer.Option("--csv", help="Every point as CSV (name,step,epoch,value,time).")]
            = False,
            output: Annotated[Path | None, typer.Option("-o", "--output", help="Write to a file, not stdout.")]
            = None) -> None:
    """A run's metric points: a summary table, or every point as CSV."""
    with _client(ctx) as client:
        points = client.metrics(run_id)
        if csv:
            if output is None:
                write_csv(points, sys.stdout)
                return
            with output.open("w", newline="") as file:
                rows = write_csv(points, file)
            out.note(f"{rows} points written to {output}")
            return
        out.show(render.metrics_table(list(points), _catalog(client)))


@app.command()
@friendly
@connected
def download(ctx: typer.Context, run_id: RunId,
             artifact: Annotated[list[str] | None, typer.Option(help="An artifact name (repeatable); "
                                                                "default: every artifact.")] = None,
             output: Annotated[Path, typer.Option("-o", "--output", help="Directory to save into.")] = Path(".")
             ) -> None:
    """Download a run's artifacts (checked against their sha256)."""
    with _client(ctx) as client:
        names = artifact or [a.name for a in client.artifacts(run_id)]
        if not names:
            raise ValueError(f"run {run_id} has no artifacts yet (status {client.get(run_id).status})")
        for name in names:
            path = client.download(run_id, name, output)
            out.say(f"{path} ({path.stat().st_size:,} bytes)")


def _compared_runs(client: Client, run_ids: Sequence[int], groups: Sequence[int]) -> list[Run]:
    """The runs named, then every run of each group named (oldest first), each once."""
    runs = {run_id: client.get(run_id) for run_id in run_ids}
    for group_id in groups:
        members, _ = client.list_runs(500, 0, group_id=group_id)
        if not members:
            raise ValueError(f"--group {group_id}: no runs in that seed group (see `contrastlab ls`)")
        runs |= {run.id: run for run in sorted(members, key=lambda run: run.id) if run.id not in runs}
    return list(runs.values())


@app.command()
@friendly
@connected
def compare(ctx: typer.Context,
            run_ids: Annotated[list[int] | None, typer.Argument(help="Run ids (two or more, with --group's).")]
            = None,
            group: Annotated[list[int] | None, typer.Option(help="Every run of this seed group (repeatable).")]
            = None,
            as_json: AsJson = False,
            as_csv: Annotated[bool, typer.Option("--csv", help="One row per run, then one per seed group (mean "
                                                 "and <metric>_std), every figure a plain number.")] = False
            ) -> None:
    """Final metrics side by side, each seed group's mean ± std, and the spec fields that differ."""
    if as_json and as_csv:
        raise ValueError("choose one of --json and --csv")
    with _client(ctx) as client:
        runs = _compared_runs(client, run_ids or [], group or [])
        if len(runs) < 2:
            raise ValueError("compare needs at least two runs: run ids, or --group with a group of two or more")
        catalog = _catalog(client)
        page = dashboard(client, runs_page(runs))
    if as_json:
        out.json(compare_document(runs, catalog))
    elif as_csv:
        write_rows(*compare_csv_rows(runs, catalog))
    else:
        for table in render.compare_tables(runs, catalog):
            out.show(table)
        out.say(f"dashboard: {page}")


@app.command()
@friendly
@connected
def export(ctx: typer.Context, run_id: RunId,
           tensorboard: Annotated[Path | None, typer.Option(help="Write TensorBoard event files under DIR/run-ID.")]
           = None,
           csv: Annotated[Path | None, typer.Option(help="Write every point to this CSV file.")] = None) -> None:
    """Export a run's metrics as TensorBoard event files and/or CSV."""
    if tensorboard is None and csv is None:
        raise ValueError("say where to: --tensorboard DIR and/or --csv FILE")
    with _client(ctx) as client:
        run = client.get(run_id)
        points = list(client.metrics(run_id))
    if tensorboard is not None:
        folder = write_tensorboard(run, points, tensorboard)
        out.say(f"{len(points)} points written to {folder} (tensorboard --logdir {tensorboard})")
    if csv is not None:
        with csv.open("w", newline="") as file:
            write_csv(points, file)
        out.say(f"{len(points)} points written to {csv}")


@app.command()
@friendly
@connected
def preview(ctx: typer.Context, spec_file: Annotated[Path, typer.Argument(help="A RunSpec as YAML or JSON.")],
            output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the PNG.")]
            = Path("views.png"),
            images: Annotated[int, typer.Option(help="Rows: training images.", min=1, max=16)] = 8,
            views: Annotated[int, typer.Option(help="Views drawn of each image.", min=1, max=4)] = 2,
            set_: Annotated[list[str] | None, typer.Option("--set", help="Override a field: --set blur_prob=0.")]
            = None) -> None:
    """Draw the spec's augmentation preview (a worker draws it as training would) and write it as a PNG."""
    spec = load_spec(spec_file, set_ or [])
    with _client(ctx) as client:
        try:
            png = client.preview(spec, images, views)
        except ApiError as exc:
            if exc.status_code == 422:
                raise ValueError(f"{spec_file}: the server rejected the spec: {describe_detail(exc.detail)}"
                                 ) from exc
            raise
    output.write_bytes(png)
    out.say(f"{output}: {images} images, each with {views} views (first column: the image)")


@app.command()
@friendly
@connected
def workers(ctx: typer.Context, as_json: AsJson = False) -> None:
    """The workers: devices, what each runs, when each was last heard from; lost ones (silent) marked."""
    with _client(ctx) as client:
        found = client.workers()
    if as_json:
        out.json({"items": [worker.model_dump() for worker in found]})
    else:
        out.show(render.workers_table(found))


cli_serve.register(app, friendly)
cli_annotate.register(app, friendly, lambda ctx: _client(ctx), lambda: out)
from contrastlab.client import cli_study  # noqa: E402,F401  (registers study, studies, study-stats, study-extend)


def main() -> None:
    # UTF-8 whatever the locale says (LANG=C, a pipe on Windows): names and the "·" print as themselves.
    for stream in (sys.stdout, sys.stderr):
        if (getattr(stream, "encoding", "") or "").lower().replace("-", "") != "utf8":
            reconfigure = getattr(stream, "reconfigure", None)
            if reconfigure is not None:
                reconfigure(encoding="utf-8", errors="replace")
    app()

