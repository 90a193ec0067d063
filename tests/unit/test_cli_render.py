"""The CLI's tables: labels and formats from the catalogue document, and no value ever cut."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest
from rich.console import Console
from typer.testing import CliRunner

from contrastlab.client import cli
from contrastlab.client.api import Client
from contrastlab.client.follow import final_line, status_counts, step_metric
from contrastlab.client.formats import Catalog, format_duration, format_number, format_scientific
from contrastlab.client.models import Run
from contrastlab.client.render import compare_tables, runs_table
from contrastlab.core.catalog import catalog_document

CATALOG = Catalog(catalog_document())
LONG = "supcon-resnet50-cifar10-lr0.5-temperature0.1-batch1024-warmup10-seed0"


def _text(renderable: Any, width: int) -> str:
    console = Console(width=width, record=True)
    console.print(renderable)
    return console.export_text()


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


def test_a_metric_new_to_the_catalogue_shows_without_a_code_change():
    doc = copy.deepcopy(catalog_document())
    doc["metrics"]["probe_auc"] = {"label": "Probe AUC", "unit": "fraction", "direction": "higher", "dense": False,
                                   "format": "percent", "final": True}
    doc["final_metrics"].append("probe_auc")
    runs = [_run(1, {"probe_auc": 0.5}), _run(2, {"probe_auc": 0.75})]
    assert "Probe AUC" in _text(runs_table(runs, 2, Catalog(doc)), 400)
    metrics, _ = compare_tables(runs, Catalog(doc))
    assert metrics.columns[3].header == "Probe AUC"
    assert metrics.columns[3]._cells == ["50.0 %", "[bold green]75.0 %[/bold green]"]


def test_compare_marks_the_best_in_the_metrics_direction():
    runs = [_run(1, {"final_loss": 0.5, "linear_acc": 0.8}), _run(2, {"final_loss": 0.4, "linear_acc": 0.7})]
    metrics, _ = compare_tables(runs, CATALOG)
    cells = {column.header: column._cells for column in metrics.columns}
    assert cells["Final loss"] == ["0.5", "[bold green]0.4[/bold green]"]  # lower is better
    assert cells["Linear probe"] == ["[bold green]80.0 %[/bold green]", "70.0 %"]


def test_a_narrow_terminal_folds_long_values_and_never_cuts_them():
    out = _text(runs_table([_run(1, {"linear_acc": 0.9342})], 1, CATALOG), 100)
    assert "…" not in out
    folded = "".join(line.split("│")[2].strip() for line in out.splitlines() if line.count("│") > 3)
    assert LONG in folded


def test_piped_ls_prints_every_value_whole_on_its_row(monkeypatch):
    page = {"items": [_run(1, {"linear_acc": 0.9342}).model_dump()], "total": 1}

    def handle(request: httpx.Request) -> httpx.Response:
        body = {"/api/runs": page, "/api/schema/catalog": catalog_document()}.get(request.url.path)
        return httpx.Response(200, json=body) if body else httpx.Response(404, json={"detail": "not found"})

    monkeypatch.setattr(cli, "_client", lambda _: Client(
        "http://lab", http=httpx.Client(transport=httpx.MockTransport(handle), base_url="http://lab")))
    result = CliRunner().invoke(cli.app, ["ls"], env={"COLUMNS": ""})  # CliRunner's stdout is a pipe
    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if LONG in line)
    assert "supcon" in row and "cifar10" in row and "93.4 %" in row
    bad = CliRunner().invoke(cli.app, ["ls", "--status", "done"])
    assert bad.exit_code == 1 and "not a run status; choose one of queued, running, succeeded" in bad.stderr


def test_follow_lines_use_labels_formats_and_statuses_of_the_catalogue():
    run = _run(4, {"linear_acc": 0.9342, "knn_acc": 0.9})
    assert final_line(run, CATALOG) == f"run 4 ({LONG}) succeeded: k-NN accuracy 90.0 %, Linear probe 93.4 %"
    failed = run.model_copy(update={"status": "failed", "error": "loss diverged at step 812"})
    assert final_line(failed, CATALOG) == f"run 4 ({LONG}) failed: loss diverged at step 812"
    assert step_metric(CATALOG) == "loss"
    runs = [run, failed, run.model_copy(update={"status": "queued"}), run]
    assert status_counts(runs, CATALOG) == "1 queued, 2 succeeded, 1 failed"
