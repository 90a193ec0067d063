"""The CLI's tables: labels and formats from the catalogue document, and no value ever cut."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from contrastlab.client import cli
from contrastlab.client.follow import final_line, status_counts, step_metric
from contrastlab.client.formats import (
    Catalog,
    format_duration,
    format_mean_spread,
    format_number,
    format_scientific,
)
from contrastlab.client.layout import fit
from contrastlab.client.models import Run, Total, WorkerInfo
from contrastlab.client.render import compare_tables, runs_table, workers_table
from contrastlab.core.catalog import catalog_document
from tests.unit.canned import serve_canned

CATALOG = Catalog(catalog_document())
LONG = "supcon-resnet50-cifar10-lr0.5-temperature0.1-batch1024-warmup10-seed0"


def _text(renderable: Any, width: int) -> str:
    console = Console(width=width, record=True)
    console.print(renderable)
    return console.export_text()


def _cells(column: Any) -> list[str]:
    """A column's cells as text, the best marked "*...*"."""
    return [f"*{cell.plain}*" if "bold" in str(cell.style) else cell.plain for cell in column.cells]


def _run(run_id: int, summary: dict[str, float], **spec: Any) -> Run:
    return Run(id=run_id, name=LONG, status="succeeded", spec={"method": "supcon", "dataset": "cifar10", **spec},
               summary=summary, progress=1.0)


@pytest.mark.parametrize(("fn", "value", "text"), [
    (format_number, 0.41234, "0.4123"), (format_number, 3.0, "3"), (format_number, 12345.6, "12350"),
    (format_number, 0.00012, "1.20e-04"), (format_scientific, 0.001, "1e-3"), (format_scientific, 0.00099, "9.9e-4"),
    (format_duration, 8.34, "8.3 s"), (format_duration, 187, "3 m 07 s"), (format_duration, 3725, "1 h 02 m"),
])
def test_formats_match_the_page(fn, value, text):
    assert fn(value) == text


def test_runs_table_columns_are_the_catalogues_final_metrics_with_its_labels_and_formats():
    out = _text(runs_table([_run(1, {"linear_acc": 0.9342, "knn_acc": 0.91, "random_linear_acc": 0.3})], 1,
                           CATALOG), 400)
    assert "Linear probe" in out and "k-NN accuracy" in out and "93.4 %" in out and "91.0 %" in out
    assert "random" not in out.lower()  # the random-init baselines stay in `show`, not in the list


def test_runs_table_says_10000_plus_when_the_count_stopped_at_its_cap():
    assert "1 of 10,000+ runs" in _text(runs_table([_run(1, {})], Total(10_000, exact=False), CATALOG), 400)
    assert "1 of 1,234 runs" in _text(runs_table([_run(1, {})], Total(1234), CATALOG), 400)


def test_a_metric_new_to_the_catalogue_shows_without_a_code_change():
    doc = copy.deepcopy(catalog_document())
    doc["metrics"]["probe_auc"] = {"label": "Probe AUC", "unit": "fraction", "direction": "higher", "dense": False,
                                   "format": "percent", "final": True}
    doc["final_metrics"].append("probe_auc")
    runs = [_run(1, {"probe_auc": 0.5}), _run(2, {"probe_auc": 0.75})]
    assert "Probe AUC" in _text(runs_table(runs, 2, Catalog(doc)), 400)
    metrics, _ = compare_tables(runs, Catalog(doc))
    assert metrics.columns[3].header == "Probe AUC"
    assert _cells(metrics.columns[3]) == ["50.0 %", "*75.0 %*"]


def test_compare_marks_the_best_in_the_metrics_direction():
    runs = [_run(1, {"final_loss": 0.5, "linear_acc": 0.8}), _run(2, {"final_loss": 0.4, "linear_acc": 0.7})]
    metrics, _ = compare_tables(runs, CATALOG)
    cells = {column.header: _cells(column) for column in metrics.columns}
    assert cells["Final loss"] == ["0.5", "*0.4*"]  # lower is better
    assert cells["Linear probe"] == ["*80.0 %*", "70.0 %"]


def _runs() -> list[Run]:
    """A long name, a name with brackets (not markup), and a seed group."""
    return [_run(1, {"linear_acc": 0.9342, "knn_acc": 0.91}, encoder="resnet50", epochs=100),
            Run(id=2, name="lr [0.5] [/x] run", status="succeeded", group_id=2, summary={"linear_acc": 0.9731},
                spec={"method": "npairs", "dataset": "cifar100", "encoder": "resnet50", "epochs": 100}, progress=1.0),
            Run(id=3, name="lr [0.5] [/x] run", status="succeeded", group_id=2, summary={"linear_acc": 0.9811},
                spec={"method": "npairs", "dataset": "cifar100", "encoder": "resnet50", "epochs": 100}, progress=1.0)]


def _column(out: str, index: int) -> str:
    """The text of one column of every table printed, its folded pieces joined."""
    return "".join(line.split("│")[index].strip() for line in out.splitlines() if line.count("│") > index)


def test_a_narrow_terminal_wraps_columns_and_never_cuts_a_value():
    for width in (40, 60, 100):
        console = Console(width=width, record=True)
        for grid in (runs_table(_runs(), 3, CATALOG), *compare_tables(_runs(), CATALOG)):
            for part in fit(grid, width):
                console.print(part)
        out = console.export_text()
        assert "…" not in out and max(len(line) for line in out.splitlines()) <= width
        for value in ("supcon", "npairs", "cifar10", "cifar100", "resnet50", "succeeded", "93.4 %", "91.0 %",
                      "97.3 %", "97.7 ± 0.6 %", "run 2", "run 3"):
            assert value in out, (width, value)
        # (a name may wrap at its spaces, which the joined pieces lose)
        assert LONG in _column(out, 2) and "lr[0.5][/x]run" in _column(out, 2).replace(" ", "")


def test_a_table_that_fits_is_one_table():
    assert len(fit(runs_table(_runs(), 3, CATALOG), 400)) == 1
    assert len(fit(runs_table(_runs(), 3, CATALOG), 60)) > 1


def test_piped_ls_prints_every_value_whole_on_its_row(monkeypatch):
    serve_canned(monkeypatch, {"/api/runs": {"items": [run.model_dump() for run in _runs()], "total": 3},
                               "/api/schema/catalog": catalog_document()})
    # CliRunner's stdout is a pipe; COLUMNS (set by `watch`, CI, some shells) is for terminals, not pipes
    result = CliRunner().invoke(cli.app, ["ls"], env={"COLUMNS": "40"})
    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if "supcon" in line)  # `ls | grep supcon`
    assert LONG in row and "cifar10" in row and "93.4 %" in row and "91.0 %" in row
    row = next(line for line in result.stdout.splitlines() if line.startswith("│  3 "))
    assert "lr [0.5] [/x] run" in row and "npairs" in row and "97.3 %" not in row and "98.1 %" in row
    bad = CliRunner().invoke(cli.app, ["ls", "--status", "done"])
    assert bad.exit_code == 1 and "not a run status; choose one of queued, running, succeeded" in bad.stderr


@pytest.mark.parametrize(("kind", "mean", "spread", "text"), [
    ("percent", 0.9731, 0.004, "97.3 ± 0.4 %"),  # as the page
    ("percent", 0.97312, 0.0004, "97.31 ± 0.04 %"),  # a small spread earns a decimal
    ("percent", 0.8012, 0.023, "80.1 ± 2.3 %"),  # never fewer decimals than one accuracy shows
    ("percent", 0.973, 0.0, "97.3 ± 0 %"),
    ("number", 0.2841, 0.0042, "0.284 ± 0.004"),
    ("number", 0.41234, 0.01234, "0.412 ± 0.012"),  # a spread starting with 1 keeps two digits
    ("number", 2.3149, 0.096, "2.31 ± 0.10"),
    ("duration", 4.2, 0.0, "4.2 ± 0 s"),  # not "4.2 s ± 0.0 s"
    ("duration", 4.213, 0.031, "4.21 ± 0.03 s"),
    ("duration", 187.0, 12.0, "187 ± 12 s"),
    ("duration", 1870.0, 340.0, "1900 ± 300 s"),
])
def test_mean_and_spread_take_the_precision_the_spread_carries(kind, mean, spread, text):
    assert format_mean_spread(kind, mean, spread) == text


def test_follow_lines_use_labels_formats_and_statuses_of_the_catalogue():
    run = _run(4, {"linear_acc": 0.9342, "knn_acc": 0.9})
    assert final_line(run, CATALOG) == f"run 4 ({LONG}) succeeded: k-NN accuracy 90.0 %, Linear probe 93.4 %"
    failed = run.model_copy(update={"status": "failed", "error": "loss diverged at step 812"})
    assert final_line(failed, CATALOG) == f"run 4 ({LONG}) failed: loss diverged at step 812"
    assert step_metric(CATALOG) == "loss"
    runs = [run, failed, run.model_copy(update={"status": "queued"}), run]
    assert status_counts(runs, CATALOG) == "1 queued, 2 succeeded, 1 failed"


def test_a_preview_consumer_is_listed_as_one_not_as_a_device_slot():
    worker = WorkerInfo(name="worker1@box", status="online", queues=["contrastlab"], last_seen="2026-12-04T10:00:00Z")
    consumer = WorkerInfo(name="preview-worker1@box", role="previews", status="online",
                          queues=["contrastlab.preview"], last_seen="2026-12-04T10:00:00Z")
    rows = {line.split()[1]: line for line in _text(workers_table([worker, consumer]), 200).splitlines()
            if "@box" in line}
    assert "1 CPU" in rows["worker1@box"] and "previews (CPU)" not in rows["worker1@box"]
    assert "previews (CPU)" in rows["preview-worker1@box"] and "1 CPU" not in rows["preview-worker1@box"]
    assert " 1 " in rows["worker1@box"] and " 1 " not in rows["preview-worker1@box"]  # max devices: none
