"""How the CLI shows runs: tables for lists, details and comparisons (rich)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml
from rich.table import Table

from contrastlab.client.models import Artifact, LogEntry, MetricPoint, Run
from contrastlab.client.specs import differing_fields

SUMMARY_COLUMNS = ("linear_acc", "knn_acc")


def number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def runs_table(runs: Sequence[Run], total: int) -> Table:
    table = Table(title=f"{len(runs)} of {total} runs, newest first")
    for column in ("id", "name", "status", "method", "dataset", "encoder", "epochs", "progress", *SUMMARY_COLUMNS,
                   "created"):
        table.add_column(column, justify="right" if column in ("id", "epochs", "progress") else "left")
    for run in runs:
        spec = run.spec
        table.add_row(str(run.id), run.name, run.status, str(spec.get("method", "")), str(spec.get("dataset", "")),
                      str(spec.get("encoder", "")), str(spec.get("epochs", "")), f"{run.progress:.0%}",
                      *(number(run.summary.get(key)) for key in SUMMARY_COLUMNS), (run.created_at or "")[:19])
    return table


def run_details(run: Run, artifacts: Sequence[Artifact], log: Sequence[LogEntry]) -> list[Any]:
    """Renderables for `contrastlab show`: the state, final metrics, spec, artifacts and the last messages."""
    state = Table.grid(padding=(0, 2))
    for key in ("id", "name", "status", "attempt", "progress", "created_at", "started_at", "finished_at", "error"):
        value = getattr(run, key)
        if value not in (None, ""):
            state.add_row(key, f"{value:.0%}" if key == "progress" else str(value))
    parts: list[Any] = [state]
    if run.summary:
        metrics = Table("metric", "value", title="final metrics")
        for key, value in sorted(run.summary.items()):
            metrics.add_row(key, number(value))
        parts.append(metrics)
    parts.append("[bold]spec[/bold]\n" + yaml.safe_dump(run.spec, sort_keys=True).rstrip())
    if artifacts:
        files = Table("artifact", "size", "sha256", title="artifacts")
        for artifact in artifacts:
            files.add_row(artifact.name, f"{artifact.size:,}", artifact.sha256[:12])
        parts.append(files)
    if log:
        parts.append("[bold]log[/bold]\n" + "\n".join(f"{e.time[:19]}  {e.text}" for e in log[-10:]))
    return parts


def metrics_table(points: Sequence[MetricPoint]) -> Table:
    """One row per metric: how many points, and the last one."""
    last: dict[str, MetricPoint] = {}
    counts: dict[str, int] = {}
    for point in points:
        last[point.name] = point
        counts[point.name] = counts.get(point.name, 0) + 1
    table = Table("metric", "points", "last step", "last epoch", "last value")
    for name in sorted(last):
        point = last[name]
        table.add_row(name, str(counts[name]), str(point.step), number(point.epoch), number(point.value))
    return table


def _best(key: str, values: list[float]) -> float | None:
    if not values:
        return None
    return min(values) if "loss" in key or "error" in key else max(values)


def compare_tables(runs: Sequence[Run]) -> tuple[Table, Table]:
    """Final metrics side by side (the best in bold) and the spec fields that differ between the runs."""
    keys = sorted({key for run in runs for key in run.summary})
    metrics = Table("run", "name", "status", *keys, title="final metrics")
    best = {key: _best(key, [run.summary[key] for run in runs if key in run.summary]) for key in keys}
    for run in runs:
        cells = []
        for key in keys:
            value = run.summary.get(key)
            text = number(value)
            cells.append(f"[bold green]{text}[/bold green]" if value is not None and value == best[key] else text)
        metrics.add_row(str(run.id), run.name, run.status, *cells)
    differing = differing_fields([run.spec for run in runs])
    specs = Table("field", *(f"run {run.id}" for run in runs), title="spec fields that differ")
    for key, values in differing.items():
        specs.add_row(key, *(number(value) for value in values))
    return metrics, specs
