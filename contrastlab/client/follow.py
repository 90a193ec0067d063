"""`--follow`: progress until every run ends. A few runs get one bar each, fed by each run's live event stream
(`submit`); a study gets one bar per cell, fed by polling its runs, so 500 runs need no 500 streams (`study`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Column

from contrastlab.client.api import Client
from contrastlab.client.formats import Catalog, format_value
from contrastlab.client.models import Run, StreamEvent
from contrastlab.core.catalog import FINAL_STATUSES, Status

STUDY_POLL_S = 2.0


def _progress(console: Console, unit: str) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}", table_column=Column(overflow="fold")),  # a long name folds, never "…"
        BarColumn(),
        TextColumn(unit),
        TextColumn("{task.fields[metric]}"),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
    )


def step_metric(catalog: Catalog) -> str | None:
    """The metric a run's bar shows: the catalogue's first per-step metric that has a direction (the loss)."""
    return next((name for name, info in catalog.metrics.items() if info.get("dense") and info.get("direction")),
                None)


def final_line(run: Run, catalog: Catalog) -> str:
    """One line per finished run: its status, then its final metrics (labelled and formatted) or its error."""
    if run.status == Status.SUCCEEDED:
        metrics = ", ".join(f"{catalog.label(key)} {catalog.format(key, run.summary[key])}"
                            for key in catalog.ordered(run.summary))
        return f"run {run.id} ({run.name}) {run.status}: {metrics}"
    return f"run {run.id} ({run.name}) {run.status}" + (f": {run.error}" if run.error else "")


def _watch(client: Client, run: Run, progress: Progress, task: TaskID, results: dict[int, Run],
           catalog: Catalog) -> None:
    shown = step_metric(catalog)

    def show(event: StreamEvent) -> None:
        data = event.data
        if event.event == "metric":
            if shown is not None and data["name"] == shown:
                progress.update(task, metric=f"{catalog.label(shown)} {catalog.format(shown, data['value'])}")
            progress.update(task, completed=min(float(data["epoch"]), float(run.spec.get("epochs", 1))))
        elif event.event in ("status", "end"):
            progress.update(task, status=data["status"])
        elif event.event == "progress" and data.get("phase"):
            progress.update(task, status=catalog.phase_text(data["phase"]))

    try:
        final = client.wait(run.id, show)
    except Exception as exc:  # one lost stream must not hide the other runs' results
        final = run.model_copy(update={"status": "unknown", "error": f"lost the run's stream: {exc}"})
    if final.status == Status.SUCCEEDED:
        progress.update(task, completed=float(run.spec.get("epochs", 1)))
    results[run.id] = final
    # soft_wrap off: a terminal's line breaks at spaces, never inside a word (a pipe's width is unlimited)
    progress.console.print(final_line(final, catalog), highlight=False, markup=False)


def follow_runs(client: Client, runs: Sequence[Run], console: Console, catalog: Catalog) -> list[Run]:
    """Watch every run to its end, drawing a bar per run; returns the final runs in the given order."""
    results: dict[int, Run] = {}
    with _progress(console, "epoch {task.completed:.1f}/{task.total:.0f}") as progress:
        threads = []
        for run in runs:
            task = progress.add_task(escape(f"run {run.id} {run.name}"), total=float(run.spec.get("epochs", 1)),
                                     metric="", status=run.status)
            thread = threading.Thread(target=_watch, args=(client, run, progress, task, results, catalog),
                                      daemon=True)
            thread.start()
            threads.append(thread)
        for thread in threads:
            thread.join()
    return [results[run.id] for run in runs]


def cell_label(run: Run, fields: Sequence[str]) -> str:
    """The cell a run belongs to by its values of the study's axes, when the server does not say:
    "method=supcon,temperature=0.1" (the server's form of a cell's key)."""
    return ",".join(f"{field}={format_value(run.spec.get(field))}" for field in fields)


def status_counts(runs: Iterable[Run], catalog: Catalog) -> str:
    """"2 running, 1 queued": the runs' statuses counted, in the catalogue's order of statuses."""
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.status] = counts.get(run.status, 0) + 1
    order = [s for s in catalog.statuses if s in counts] + sorted(set(counts) - set(catalog.statuses))
    return ", ".join(f"{counts[status]} {status}" for status in order)


def _study_runs(client: Client, study_id: int, wanted: set[int]) -> list[Run]:
    runs = {run.id: run for run in client.study_runs(study_id) if run.id in wanted}
    for missing in sorted(wanted - set(runs)):  # a server without ?study_id= still answers for each run
        runs[missing] = client.get(missing)
    return [runs[run_id] for run_id in sorted(runs)]


def follow_study(client: Client, study_id: int, runs: Sequence[Run], fields: Sequence[str], console: Console,
                 catalog: Catalog, poll_s: float = STUDY_POLL_S) -> list[Run]:
    """Poll a study's runs until every one is final, one bar per cell (runs done of the cell's runs, with the
    running ones' progress); returns the final runs by id."""
    wanted = {run.id for run in runs}
    cell_of = {run_id: cell.key for cell in client.get_study(study_id).cells for run_id in cell.runs}
    final = catalog.final_statuses or FINAL_STATUSES
    with _progress(console, "{task.completed:.1f}/{task.total:.0f} runs") as progress:
        tasks: dict[str, TaskID] = {}
        while True:
            current = _study_runs(client, study_id, wanted)
            cells: dict[str, list[Run]] = {}
            for run in current:
                cells.setdefault(cell_of.get(run.id) or cell_label(run, fields), []).append(run)
            for label, members in cells.items():
                if label not in tasks:
                    tasks[label] = progress.add_task(escape(label), total=len(members), metric="", status="")
                done = sum(1.0 if run.status in final else run.progress for run in members)
                progress.update(tasks[label], completed=done, status=status_counts(members, catalog))
            if all(run.status in final for run in current):
                return current
            time.sleep(poll_s)
