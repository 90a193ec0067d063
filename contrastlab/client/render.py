"""How the CLI shows runs and studies: rich tables whose labels and number formats come from the catalogue.

No value is ever cut: columns fold long values, a table too wide for the terminal wraps its columns into
several tables (layout.py), cells are plain text (never markup), and a pipe gets all the width a row needs
(cli.py), so `ls | grep` finds whole values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml
from rich.table import Table
from rich.text import Text

from contrastlab.client.compare import Group, best_entities, metric_keys, seed_groups
from contrastlab.client.formats import DASH, Catalog, format_value
from contrastlab.client.layout import add_row, table
from contrastlab.client.models import (
    Artifact,
    CellStats,
    Comparison,
    LogEntry,
    MetricPoint,
    Run,
    Study,
    StudyStats,
    WorkerInfo,
)
from contrastlab.client.specs import differing_fields
from contrastlab.core.catalog import Status

BEST = "bold green"


def number(value: Any) -> str:
    """A value whose metric is unknown: four significant digits."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def runs_table(runs: Sequence[Run], total: int, catalog: Catalog, metrics: Sequence[str] = ()) -> Table:
    """`contrastlab ls`: one row per run; the metric columns are `metrics`, or the catalogue's headline metrics
    that some run on the page has."""
    shown = list(metrics) or [m for m in catalog.headline_metrics() if any(m in run.summary for run in runs)]
    labels = [catalog.label(m) for m in shown]
    grid = table("id", "name", "group", "seed", "status", "method", "dataset", "encoder", "epochs", "progress",
                 *labels, "created", title=f"{len(runs)} of {total} runs, newest first",
                 right=("id", "group", "seed", "epochs", "progress", *labels))
    for run in runs:
        spec = run.spec
        add_row(grid, [str(run.id), run.name, format_value(run.group_id), format_value(spec.get("seed")), run.status,
                       *(format_value(spec.get(k)) for k in ("method", "dataset", "encoder", "epochs")),
                       f"{run.progress:.0%}", *(catalog.format(m, run.summary.get(m)) for m in shown),
                       (run.created_at or "")[:19]])
    return grid


def run_details(run: Run, artifacts: Sequence[Artifact], log: Sequence[LogEntry], catalog: Catalog) -> list[Any]:
    """Renderables for `contrastlab show`: the state, final metrics, spec, artifacts and the last messages."""
    state = Table.grid(padding=(0, 2))
    state.add_column(overflow="fold")
    state.add_column(overflow="fold")
    for key in ("id", "name", "group_id", "study_id", "status", "attempt", "progress", "created_at", "started_at",
                "finished_at", "error", "trashed_at"):
        value = getattr(run, key)
        if value not in (None, ""):
            add_row(state, [key, f"{value:.0%}" if key == "progress" else str(value)])
    if run.tags:
        add_row(state, ["tags", " ".join(run.tags)])
    if run.status == Status.RUNNING and run.phase:
        add_row(state, ["phase", catalog.phase_text(run.phase)])
    if run.queue_position is not None:
        add_row(state, ["queue", f"place {run.queue_position} (1: starts next)"])
    if run.waiting_reason:
        add_row(state, ["waiting", run.waiting_reason])
    parts: list[Any] = [state]
    if run.summary:
        metrics = table("metric", "name", "value", title="final metrics", right=("value",))
        for key in catalog.ordered(run.summary):
            add_row(metrics, [catalog.label(key), key, catalog.format(key, run.summary[key])])
        parts.append(metrics)
    if run.notes:
        parts.append(Text.assemble(("notes", "bold"), "\n", run.notes.rstrip()))
    parts.append(Text.assemble(("spec", "bold"), "\n", yaml.safe_dump(run.spec, sort_keys=True).rstrip()))
    if artifacts:
        files = table("artifact", "size", "sha256", title="artifacts", right=("size",))
        for artifact in artifacts:
            add_row(files, [artifact.name, f"{artifact.size:,}", artifact.sha256])
        parts.append(files)
    if log:
        lines = "\n".join(f"{e.time[:19]}  {e.text}" for e in log[-10:])
        parts.append(Text.assemble(("log", "bold"), "\n", lines))
    return parts


def worker_devices(worker: WorkerInfo) -> str:
    """"GPU 0, 1", "CPU slots cpu0, cpu1", "1 GPU" / "1 CPU" for a plain worker, or "previews (CPU)" for a preview
    consumer (it takes no run: no device slot)."""
    if worker.role == "previews":
        return "previews (CPU)"
    kind = "GPU" if worker.gpu else "CPU"
    if not worker.slots:
        return f"1 {kind}"
    return f"{kind} {', '.join(worker.slots)}" if worker.gpu else f"CPU slots {', '.join(worker.slots)}"


def workers_table(workers: Sequence[WorkerInfo]) -> Table:
    """`contrastlab workers`: one row per worker, the most recently heard first; lost and stopped ones dimmed."""
    grid = table("name", "host", "status", "activity", "run", "devices", "max devices", "version", "last seen",
                 title=f"{len(workers)} workers", right=("run", "max devices"))
    for worker in workers:
        activity = worker.activity if worker.status == "online" else DASH
        most = DASH if worker.role == "previews" else str(worker.devices)
        add_row(grid, [worker.name, worker.host, worker.status, activity, format_value(worker.run_id),
                       worker_devices(worker), most, worker.version, worker.last_seen[:19]],
                style=None if worker.status == "online" else "dim")
    return grid


def metrics_table(points: Sequence[MetricPoint], catalog: Catalog) -> Table:
    """One row per metric: how many points, and the last one."""
    last: dict[str, MetricPoint] = {}
    counts: dict[str, int] = {}
    for point in points:
        last[point.name] = point
        counts[point.name] = counts.get(point.name, 0) + 1
    grid = table("metric", "name", "points", "last step", "last epoch", "last value",
                 right=("points", "last step", "last epoch", "last value"))
    for name in catalog.ordered(last):
        point = last[name]
        add_row(grid, [catalog.label(name), name, str(counts[name]), str(point.step), number(point.epoch),
                       catalog.format(name, point.value)])
    return grid


def _metric_cells(values: Sequence[str], keys: Sequence[str], best: dict[str, str], row: str) -> list[Text]:
    """A row's metric cells, the best of a metric (by `best_entities`) in bold green."""
    return [Text(text, style=BEST if best.get(key) == row else "") for key, text in zip(keys, values, strict=True)]


def _group_row(group: Group, keys: Sequence[str], catalog: Catalog) -> list[str]:
    """The cells of a seed group's row: mean ± std of each metric, to the precision the spread carries."""
    cells = []
    for key in keys:
        spread = group.stats(key)
        cells.append(catalog.format_spread(key, spread.mean, spread.std) if spread else DASH)
    return cells


def compare_tables(runs: Sequence[Run], catalog: Catalog) -> tuple[Table, Table]:
    """Final metrics side by side, each seed group's mean ± std in a row after its runs (the best row of a metric
    in bold, groups judged by their mean), and the spec fields that differ."""
    keys = metric_keys(runs, catalog)
    labels = [catalog.label(k) for k in keys]
    groups = seed_groups(runs)
    best = best_entities(runs, groups, keys, catalog)
    metrics = table("run", "name", "status", *labels, title="final metrics", right=("run", *labels))
    last_of = {group.runs[-1].id: group for group in groups}
    for run in runs:
        values = [catalog.format(key, run.summary.get(key)) for key in keys]
        add_row(metrics, [str(run.id), run.name, run.status, *_metric_cells(values, keys, best, f"r{run.id}")])
        group = last_of.get(run.id)
        if group is not None:
            add_row(metrics, [f"group {group.group_id}", f"{group.name}: mean ± std of {len(group.runs)} seeds", "",
                              *_metric_cells(_group_row(group, keys, catalog), keys, best, f"g{group.group_id}")],
                    style="italic")
    differing = differing_fields([run.spec for run in runs])
    specs = table("field", *(f"run {run.id}" for run in runs), title="spec fields that differ")
    for key, values in differing.items():
        add_row(specs, [key, *(format_value(value) for value in values)])
    return metrics, specs


# -- studies -------------------------------------------------------------------

def studies_table(studies: Sequence[Study], total: int) -> Table:
    """`contrastlab studies`: one row per study with its runs' counts by status."""
    grid = table("id", "name", "axes", "seeds", "runs", "by status", "created",
                 title=f"{len(studies)} of {total} studies, newest first", right=("id", "runs"))
    for study in studies:
        axes = "; ".join(f"{field}: {', '.join(format_value(v) for v in values)}"
                         for field, values in study.axes.items())
        counts = ", ".join(f"{count} {status}" for status, count in study.status_counts.items() if count)
        runs = sum(study.status_counts.values()) if study.status_counts else len(study.run_ids)
        add_row(grid, [str(study.id), study.name, axes or DASH, ", ".join(map(str, study.seeds)) or DASH, str(runs),
                       counts or DASH, (study.created_at or "")[:19]])
    return grid


def axis_fields(cells: Sequence[CellStats]) -> list[str]:
    """The axes that name the cells, in the order they first appear."""
    fields: dict[str, None] = {}
    for cell in cells:
        fields.update(dict.fromkeys(cell.values))
    return list(fields)


def best_cell(stats: StudyStats) -> str | None:
    """The best cell by mean in the metric's direction: the server's pick, else among cells with 2 or more seeds."""
    if "best" in stats.model_fields_set:
        return stats.best
    measured = [c for c in stats.cells if c.mean is not None and c.n >= 2]
    if not measured or stats.direction not in ("higher", "lower"):
        return None
    pick = max if stats.direction == "higher" else min
    return pick(measured, key=lambda c: c.mean or 0.0).key


def _p(value: float | None) -> str:
    return DASH if value is None else f"{value:.2g}"


def verdict_text(comparison: Comparison | None, is_baseline: bool) -> tuple[str, str, str]:
    """(verdict, p (Holm), P(better)) of one cell's row."""
    if is_baseline:
        return "baseline", DASH, DASH
    if comparison is None:
        return DASH, DASH, DASH
    prob = DASH if comparison.prob_better is None else f"{comparison.prob_better:.2f}"
    return comparison.verdict, _p(comparison.p_holm), prob


def study_stats_rows(stats: StudyStats, catalog: Catalog) -> tuple[list[str], list[list[str]]]:
    """The study's results table as text: a header, then one row per cell (best marked "*", then axes, mean ± CI,
    n, the verdict against the baseline with p (Holm) and P(better))."""
    fields = axis_fields(stats.cells)
    comparisons = {c.key: c for c in stats.comparisons}
    best = best_cell(stats)
    header = ["best", *fields, f"{catalog.label(stats.metric)} (mean ± 95% CI)", "n",
              f"vs {stats.baseline or 'baseline'}", "p (Holm)", "P(better)"]
    rows = []
    for cell in stats.cells:
        rows.append(["*" if cell.key == best else "", *(format_value(cell.values.get(f)) for f in fields),
                     catalog.format_interval(stats.metric, cell.mean, cell.ci95), str(cell.n),
                     *verdict_text(comparisons.get(cell.key), cell.key == stats.baseline)])
    return header, rows


def study_stats_table(stats: StudyStats, catalog: Catalog) -> Table:
    """`contrastlab study-stats`: the same table as the study page."""
    header, rows = study_stats_rows(stats, catalog)
    direction = {"higher": "higher is better", "lower": "lower is better"}.get(stats.direction or "", "")
    excluded = ", ".join(f"{count} {status}" for status, count in stats.excluded.items() if count)
    title = f"{catalog.label(stats.metric)} ({stats.metric}{', ' + direction if direction else ''})"
    grid = table(*header, title=title, right=(header[-5], "n", "p (Holm)", "P(better)"))
    if excluded:
        grid.caption = f"left out: {excluded}"
    for row in rows:
        add_row(grid, row, style="bold" if row[0] else None)
    return grid


def study_stats_csv_rows(stats: StudyStats) -> tuple[list[str], list[list[Any]]]:
    """Every figure of the stats as plain numbers, one row per cell, for --csv."""
    fields = axis_fields(stats.cells)
    comparisons = {c.key: c for c in stats.comparisons}
    best = best_cell(stats)
    header = ["key", *fields, "metric", "n", "mean", "std", "ci95_low", "ci95_high", "best", "baseline", "verdict",
              "diff", "diff_ci95_low", "diff_ci95_high", "p_value", "p_holm", "prob_better", "effect_size", "iqm",
              "iqm_ci95_low", "iqm_ci95_high", "prob_better_ci95_low", "prob_better_ci95_high", "power",
              "seeds_for_80"]
    rows = []
    for cell in stats.cells:
        comp = comparisons.get(cell.key)
        low, high = (cell.ci95 or [None, None])[:2]
        d_low, d_high = ((comp.ci95 if comp else None) or [None, None])[:2]
        verdict = "baseline" if cell.key == stats.baseline else (comp.verdict if comp else "")
        rows.append([cell.key, *(cell.values.get(f) for f in fields), stats.metric, cell.n, cell.mean, cell.std,
                     low, high, cell.key == best, stats.baseline, verdict, comp.diff if comp else None, d_low,
                     d_high, *((comp.p_value, comp.p_holm, comp.prob_better, comp.effect_size) if comp
                               else (None,) * 4), cell.iqm, *(cell.iqm_ci95 or [None, None])[:2],
                     *((comp.prob_better_ci95 if comp else None) or [None, None])[:2], comp.power if comp else None,
                     comp.seeds_for_80 if comp else None])
    return header, rows
