"""`submit --follow`: one progress bar per run (epoch, loss, ETA) fed by each run's live event stream."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from contrastlab.client.api import Client
from contrastlab.client.models import Run, StreamEvent
from contrastlab.client.render import number


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("epoch {task.completed:.1f}/{task.total:.0f}"),
        TextColumn("loss {task.fields[loss]}"),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
    )


def final_line(run: Run) -> str:
    """One line per finished run: its status, then its final metrics or its error."""
    if run.status == "succeeded":
        metrics = " ".join(f"{key} {number(value)}" for key, value in sorted(run.summary.items()))
        return f"run {run.id} ({run.name}) succeeded: {metrics}"
    return f"run {run.id} ({run.name}) {run.status}" + (f": {run.error}" if run.error else "")


def _watch(client: Client, run: Run, progress: Progress, task: TaskID, results: dict[int, Run]) -> None:
    def show(event: StreamEvent) -> None:
        data = event.data
        if event.event == "metric":
            if data["name"] == "loss":
                progress.update(task, loss=f"{data['value']:.4f}")
            progress.update(task, completed=min(float(data["epoch"]), float(run.spec.get("epochs", 1))))
        elif event.event in ("status", "end"):
            progress.update(task, status=data["status"])

    try:
        final = client.wait(run.id, show)
    except Exception as exc:  # noqa: BLE001 - one lost stream must not hide the other runs' results
        final = run.model_copy(update={"status": "unknown", "error": f"lost the run's stream: {exc}"})
    if final.status == "succeeded":
        progress.update(task, completed=float(run.spec.get("epochs", 1)))
    results[run.id] = final
    progress.console.print(final_line(final))


def follow_runs(client: Client, runs: Sequence[Run], console: Console) -> list[Run]:
    """Watch every run to its end, drawing a bar per run; returns the final runs in the given order."""
    results: dict[int, Run] = {}
    with _progress(console) as progress:
        threads = []
        for run in runs:
            task = progress.add_task(f"run {run.id} {run.name}"[:40], total=float(run.spec.get("epochs", 1)),
                                     loss="-", status=run.status)
            thread = threading.Thread(target=_watch, args=(client, run, progress, task, results), daemon=True)
            thread.start()
            threads.append(thread)
        for thread in threads:
            thread.join()
    return [results[run.id] for run in runs]
