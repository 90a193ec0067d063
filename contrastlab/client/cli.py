"""`contrastlab`: submit, watch, compare and export runs from a shell; serve the API and start workers.

Server URL and token come from --url/--token, before or after the command, or CONTRASTLAB_URL/CONTRASTLAB_TOKEN
(else API_URL/API_TOKEN).
"""

from __future__ import annotations

import csv as csv_module
import functools
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from contrastlab.client import cli_annotate, cli_serve, render
from contrastlab.client.api import ApiError, Client, describe_detail, env_token, env_url
from contrastlab.client.cli_options import Retries, Token, Url, connected
from contrastlab.client.compare import compare_csv_rows, compare_document, group_line, seed_groups
from contrastlab.client.export import write_csv, write_tensorboard
from contrastlab.client.follow import final_line, follow_runs, follow_study
from contrastlab.client.formats import Catalog
from contrastlab.client.models import Run
from contrastlab.client.specs import SpecFileError, load_spec, load_study
from contrastlab.client.terminal import Output
from contrastlab.core.catalog import Status

app = typer.Typer(help="Launch, watch, compare and export contrastive-learning runs.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
F = TypeVar("F", bound=Callable[..., Any])
out = Output()

RunId = Annotated[int, typer.Argument(help="A run id, as `contrastlab ls` shows it.")]
StudyId = Annotated[int, typer.Argument(help="A study id, as `contrastlab studies` shows it.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON, not a table.")]


@app.callback()
def _options(ctx: typer.Context, url: Url = None, token: Token = None, retries: Retries = None) -> None:
    global out
    out = Output()  # per invocation: stdout may be a terminal now and a pipe next time
    ctx.obj = {"url": url or env_url(), "token": token or env_token(), "retries": 5 if retries is None else retries}


def _client(ctx: typer.Context) -> Client:
    return Client(ctx.obj["url"], ctx.obj["token"], retries=ctx.obj["retries"])


def _catalog(client: Client) -> Catalog:
    """The server's catalogue; this package's own when the server is older than /api/schema/catalog (404)."""
    try:
        return Catalog(client.catalog())
    except ApiError as exc:
        if exc.status_code != 404:
            raise
        return Catalog.bundled()


def friendly(command: F) -> F:
    """Errors a user can act on become one red line and exit code 1, not a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except typer.Exit:  # a chosen exit code (click's Exit is a RuntimeError)
            raise
        except BrokenPipeError:  # `contrastlab compare --csv | head`: the reader has what it wanted
            quiet_closed_stdout()
            raise typer.Exit(0) from None
        except (ApiError, ConnectionError, SpecFileError, ValueError, RuntimeError, OSError) as exc:
            out.error(str(exc))
            raise typer.Exit(1) from exc

    return wrapper  # type: ignore[return-value]


def dashboard(client: Client, page: str) -> str:
    """The address of a page of the dashboard this server serves: `#/runs/3`, `#/compare?runs=3,4`."""
    return f"{client.url}/#/{page}"


def _runs_page(runs: Sequence[Run]) -> str:
    """One run's page, or the compare page of several (seed groups drawn as mean ± std)."""
    return f"runs/{runs[0].id}" if len(runs) == 1 else f"compare?runs={','.join(str(run.id) for run in runs)}"


def _write_csv(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    writer = csv_module.writer(sys.stdout, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)


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
        out.say(f"dashboard: {dashboard(client, _runs_page(runs))}")
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
        page = dashboard(client, _runs_page(runs))
    if as_json:
        out.json(compare_document(runs, catalog))
    elif as_csv:
        _write_csv(*compare_csv_rows(runs, catalog))
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
def study(ctx: typer.Context,
          study_file: Annotated[Path, typer.Argument(help="A study as YAML: name, base (RunSpec fields), axes "
                                                     "(field: [values]) and seeds.")],
          set_: Annotated[list[str] | None, typer.Option("--set", help="Override a base field: --set epochs=50.")]
          = None,
          follow: Annotated[bool, typer.Option("--follow", "-f", help="Show each cell's progress until every run "
                                               "ends, then the results; exit 1 if any run did not succeed.")]
          = False,
          metric: Annotated[str | None, typer.Option(help="With --follow: the metric of the results table "
                                                     "(default: the catalogue's headline, the linear probe).")]
          = None) -> None:
    """Launch a study: one run per combination of the axes' values and seed; prints its dashboard page."""
    body = load_study(study_file, set_ or [])
    with _client(ctx) as client:
        try:
            created = client.create_study(body["name"], body["base"], body["axes"], body["seeds"])
        except ApiError as exc:
            if exc.status_code == 422:
                raise ValueError(f"{study_file}: the server rejected the study: {describe_detail(exc.detail)}"
                                 ) from exc
            raise
        out.say(f"study {created.id} queued: {created.name}, {len(created.runs)} runs in {created.cells} cells")
        out.say(f"dashboard: {dashboard(client, f'studies/{created.id}')}")
        if not follow:
            out.say(f"results: contrastlab study-stats {created.id}")
            return
        catalog = _catalog(client)
        finals = follow_study(client, created.id, created.runs, list(body["axes"]), out.console, catalog)
        for run in finals:
            if run.status != Status.SUCCEEDED:
                out.prose(final_line(run, catalog))
        stats = client.study_stats(created.id, metric or catalog.default_study_metric())
        out.show(render.study_stats_table(stats, catalog))
    if any(run.status != Status.SUCCEEDED for run in finals):
        raise typer.Exit(1)


@app.command()
@friendly
@connected
def studies(ctx: typer.Context, limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
            offset: Annotated[int, typer.Option(min=0)] = 0, as_json: AsJson = False) -> None:
    """List studies, newest first, with their runs counted by status."""
    with _client(ctx) as client:
        found, total = client.list_studies(limit, offset)
    if as_json:
        out.json({"items": [s.model_dump() for s in found], "total": total})
    else:
        out.show(render.studies_table(found, total))


@app.command("study-stats")
@friendly
@connected
def study_stats(ctx: typer.Context, study_id: StudyId,
                metric: Annotated[str | None, typer.Option(help="A metric of the catalogue with a direction "
                                                           "(default: the linear probe).")] = None,
                baseline: Annotated[str | None, typer.Option(help="The cell key to compare against (default: "
                                                             "the supervised cell, else the first).")] = None,
                as_json: AsJson = False,
                as_csv: Annotated[bool, typer.Option("--csv", help="One row per cell, every figure as a plain "
                                                     "number.")] = False) -> None:
    """A study's results: per cell the mean ± 95 % interval, n, and the verdict against the baseline."""
    if as_json and as_csv:
        raise ValueError("choose one of --json and --csv")
    with _client(ctx) as client:
        catalog = _catalog(client)
        stats = client.study_stats(study_id, metric or catalog.default_study_metric(), baseline)
    if as_json:
        out.json(stats.model_dump())
    elif as_csv:
        _write_csv(*render.study_stats_csv_rows(stats))
    else:
        out.show(render.study_stats_table(stats, catalog))


cli_serve.register(app, friendly)
cli_annotate.register(app, friendly, lambda ctx: _client(ctx), lambda: out)


def quiet_closed_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush into the closed pipe prints nothing."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def main() -> None:
    # UTF-8 whatever the locale says (LANG=C, a pipe on Windows): names and the "·" print as themselves.
    for stream in (sys.stdout, sys.stderr):
        if (getattr(stream, "encoding", "") or "").lower().replace("-", "") != "utf8":
            reconfigure = getattr(stream, "reconfigure", None)
            if reconfigure is not None:
                reconfigure(encoding="utf-8", errors="replace")
    app()

