"""`contrastlab study`, `studies`, `study-stats`, `study-extend` and `study-report`: launch a study, list them, read
a verdict (against a baseline cell, or two metrics of the same runs with --paired), add seeds to chosen cells, and
write the report for a paper (table and figure)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from contrastlab.client import cli_base as base
from contrastlab.client import render, render_search
from contrastlab.client.api import ApiError, describe_detail
from contrastlab.client.cli_base import AsJson, StudyId, app, friendly
from contrastlab.client.cli_options import connected
from contrastlab.client.export import write_rows
from contrastlab.client.follow import final_line, follow_study
from contrastlab.client.render_study import paired_table
from contrastlab.client.specs import load_study, parse_seeds
from contrastlab.core.catalog import Status


@app.command()
@friendly
@connected
def study(ctx: typer.Context,
          study_file: Annotated[Path, typer.Argument(help="A study as YAML: name, base (RunSpec fields), axes "
                                                     "(field: [values]) and seeds; with search, ranges too.")],
          set_: Annotated[list[str] | None, typer.Option("--set", help="Override a base field: --set epochs=50.")]
          = None,
          seeds: Annotated[str | None, typer.Option(help="The seeds instead of the file's: 0,1,2 (or a count, "
                                                    "3 for 0,1,2).")] = None,
          follow: Annotated[bool, typer.Option("--follow", "-f", help="Show each cell's progress until every run "
                                               "ends, then the results; exit 1 if any run did not succeed.")]
          = False,
          metric: Annotated[str | None, typer.Option(help="With --follow: the metric of the results table "
                                                     "(default: the catalogue's headline, the linear probe).")]
          = None) -> None:
    """Launch a study: one run per combination of the axes' values and seed, or a search (Optuna samples and prunes
    trials, then confirms the best on fresh seeds); prints its dashboard page."""
    body = load_study(study_file, set_ or [])
    if seeds is not None:
        body["seeds"] = parse_seeds(seeds)
    with base._client(ctx) as client:
        try:
            created = client.create_study(body["name"], body["base"], body["axes"], body["seeds"], body.get("search"))
        except ApiError as exc:
            if exc.status_code == 422:
                raise ValueError(f"{study_file}: the server rejected the study: {describe_detail(exc.detail)}"
                                 ) from exc
            raise
        if "search" in body:
            base.out.say(f"search {created.id} started: {created.name}, {created.cells} trials, the first "
                         f"{len(created.runs)} queued; then the best and the baseline are confirmed on fresh seeds")
        else:
            base.out.say(f"study {created.id} queued: {created.name}, {len(created.runs)} runs in {created.cells} "
                         "cells")
        base.out.say(f"dashboard: {base.dashboard(client, f'studies/{created.id}')}")
        if "search" in body:
            base.out.say(f"trials: contrastlab study-search {created.id}; verdict (confirmation runs): "
                         f"contrastlab study-stats {created.id}")
            return
        if not follow:
            base.out.say(f"results: contrastlab study-stats {created.id}")
            return
        catalog = base._catalog(client)
        finals = follow_study(client, created.id, created.runs, list(body["axes"]), base.out.console, catalog)
        for run in finals:
            if run.status != Status.SUCCEEDED:
                base.out.prose(final_line(run, catalog))
        stats = client.study_stats(created.id, metric or catalog.default_study_metric())
        base.out.show(render.study_stats_table(stats, catalog))
    if any(run.status != Status.SUCCEEDED for run in finals):
        raise typer.Exit(1)


@app.command()
@friendly
@connected
def studies(ctx: typer.Context, limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
            offset: Annotated[int, typer.Option(min=0)] = 0, as_json: AsJson = False) -> None:
    """List studies, newest first, with their runs counted by status."""
    with base._client(ctx) as client:
        found, total = client.list_studies(limit, offset)
    if as_json:
        base.out.json({"items": [s.model_dump() for s in found], "total": total})
    else:
        base.out.show(render.studies_table(found, total))


@app.command("study-stats")
@friendly
@connected
def study_stats(ctx: typer.Context, study_id: StudyId,
                metric: Annotated[str | None, typer.Option(help="A metric of the catalogue with a direction "
                                                           "(default: the linear probe).")] = None,
                baseline: Annotated[str | None, typer.Option(help="The cell key to compare against (default: "
                                                             "the supervised cell, else the first).")] = None,
                paired: Annotated[str | None, typer.Option(help="A second metric of the same runs "
                                                           "(linear_acc_head, random_linear_acc): each cell's "
                                                           "metric against it, run by run.")] = None,
                as_json: AsJson = False,
                as_csv: Annotated[bool, typer.Option("--csv", help="One row per cell, every figure as a plain "
                                                     "number.")] = False) -> None:
    """A study's results: per cell the mean ± 95 % interval, n, and the verdict against the baseline."""
    if as_json and as_csv:
        raise ValueError("choose one of --json and --csv")
    with base._client(ctx) as client:
        catalog = base._catalog(client)
        stats = client.study_stats(study_id, metric or catalog.default_study_metric(), baseline, paired)
    if as_json:
        base.out.json(stats.model_dump())
    elif as_csv:
        write_rows(*render.study_stats_csv_rows(stats))
    else:
        base.out.show(render.study_stats_table(stats, catalog))
        if stats.paired is not None:
            base.out.show(paired_table(stats.paired, catalog))


@app.command("study-extend")
@friendly
@connected
def study_extend(ctx: typer.Context, study_id: StudyId,
                 seeds: Annotated[int, typer.Option(help="New runs per chosen cell, on the seeds after the cell's "
                                                    "largest.", min=1, max=100)],
                 cell: Annotated[list[str] | None, typer.Option(help="A cell key to extend (repeat it); default: "
                                                                "every cell.")] = None) -> None:
    """Add seeds to chosen cells of a study: new runs in the same study; study-stats counts them as they finish."""
    with base._client(ctx) as client:
        created = client.extend_study(study_id, seeds, cell or None)
        base.out.say(f"study {study_id}: {len(created.runs)} runs queued in {created.cells} cells "
                     f"(seeds {', '.join(str(s) for s in sorted({int(r.spec.get('seed', 0)) for r in created.runs}))})")
        base.out.say(f"dashboard: {base.dashboard(client, f'studies/{study_id}')}")


@app.command("study-report")
@friendly
@connected
def study_report(ctx: typer.Context, study_id: StudyId,
                 fmt: Annotated[str, typer.Option("--format", help="md, tex or html (html holds the figure "
                                                  "inline).")] = "md",
                 output: Annotated[Path, typer.Option("--output", "-o", help="The folder to write into (made "
                                                      "if missing).")] = Path("."),
                 metric: Annotated[str | None, typer.Option(help="As for study-stats (default: the linear "
                                                            "probe).")] = None,
                 baseline: Annotated[str | None, typer.Option(help="As for study-stats.")] = None) -> None:
    """Write a study's report (results table with the statistics named) and figure.svg into a folder."""
    with base._client(ctx) as client:
        text, svg = client.study_report(study_id, fmt, metric, baseline)
    output.mkdir(parents=True, exist_ok=True)
    report, figure = output / f"report.{fmt}", output / "figure.svg"
    report.write_text(text, encoding="utf-8")
    figure.write_text(svg, encoding="utf-8")
    base.out.say(f"wrote {report} and {figure}")


@app.command("study-search")
@friendly
@connected
def study_search(ctx: typer.Context, study_id: StudyId, as_json: AsJson = False) -> None:
    """A search's trials (params, final value, pruned at which epoch), its best trial and its confirmation."""
    with base._client(ctx) as client:
        view = client.study_search(study_id)
    if as_json:
        base.out.json(view)
        return
    base.out.show(render_search.trials_table(view))
    base.out.say(render_search.confirmation_line(view))
