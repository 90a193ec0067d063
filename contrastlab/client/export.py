"""A run's metrics out of ContrastLab: CSV, and TensorBoard event files written with tensorboard's own writer."""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import yaml

from contrastlab.client.models import MetricPoint, Run
from contrastlab.core.csv_cells import text_cell

CSV_COLUMNS = ("name", "step", "epoch", "value", "time")


def write_rows(header: Sequence[str], rows: Iterable[Sequence[Any]], out: TextIO | None = None) -> None:
    """A header and rows as CSV, to stdout unless told otherwise."""
    writer = csv.writer(out or sys.stdout, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)


def write_csv(points: Iterable[MetricPoint], out: TextIO) -> int:
    """Long format, one row per point (name, step, epoch, value, time); returns the number of rows.
    Names escaped as the API's CSV escapes them (contrastlab.core.csv_cells); numbers written as numbers."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    rows = 0
    for point in points:
        writer.writerow([text_cell(point.name), point.step, point.epoch, point.value, point.time])
        rows += 1
    return rows


def _wall_time(point: MetricPoint) -> float:
    try:
        return datetime.fromisoformat(point.time.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def write_tensorboard(run: Run, points: Iterable[MetricPoint], logdir: Path) -> Path:
    """Scalars of every metric at its step, the final metrics under `final/`, the spec as spec.yaml beside them.

    Each run gets its own folder (`<logdir>/run-<id>`), so several exported runs show side by side in TensorBoard.
    """
    try:
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.compat.proto.summary_pb2 import Summary
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
    except ImportError as exc:
        raise RuntimeError("TensorBoard export needs the tensorboard package: "
                           "pip install 'contrastlab[export]'") from exc
    folder = logdir / f"run-{run.id}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "spec.yaml").write_text(yaml.safe_dump(run.spec, sort_keys=True))
    writer = EventFileWriter(str(folder))
    last_step, last_time = 0, 0.0
    try:
        for point in points:
            last_step, last_time = max(last_step, point.step), max(last_time, _wall_time(point))
            summary = Summary(value=[Summary.Value(tag=point.name, simple_value=point.value)])
            writer.add_event(Event(wall_time=_wall_time(point), step=point.step, summary=summary))
        for key, value in sorted(run.summary.items()):
            summary = Summary(value=[Summary.Value(tag=f"final/{key}", simple_value=value)])
            writer.add_event(Event(wall_time=last_time, step=last_step, summary=summary))
    finally:
        writer.close()
    return folder
