"""`contrastlab study-stats` and `studies`: the results table from a canned stats body, exact cell text."""

from __future__ import annotations

import copy
import csv
import io
import json
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from contrastlab.client import cli
from contrastlab.client.formats import Catalog
from contrastlab.client.models import StudyStats
from contrastlab.client.render import best_cell, study_stats_rows, study_stats_table
from contrastlab.client.specs import SpecFileError, load_study
from contrastlab.core.catalog import catalog_document
from tests.unit.canned import serve_canned

CATALOG = Catalog(catalog_document())

# Three seeds per cell but npairs, whose lone seed is the highest mean and still not the best cell.
STATS: dict[str, Any] = {
    "metric": "linear_acc", "direction": "higher", "baseline": "method=supervised", "best": "method=supcon",
    "cells": [
        {"key": "method=simclr", "values": {"method": "simclr"}, "n": 3, "mean": 0.8512, "std": 0.004,
         "ci95": [0.8413, 0.8611], "runs": [1, 2, 3]},
        {"key": "method=supcon", "values": {"method": "supcon"}, "n": 3, "mean": 0.9731, "std": 0.0016,
         "ci95": [0.9691, 0.9771], "runs": [4, 5, 6]},
        {"key": "method=npairs", "values": {"method": "npairs"}, "n": 1, "mean": 0.99, "std": None,
         "ci95": None, "runs": [7]},
        {"key": "method=supervised", "values": {"method": "supervised"}, "n": 3, "mean": 0.9602, "std": 0.0021,
         "ci95": [0.9550, 0.9654], "runs": [10, 11, 12]},
    ],
    "comparisons": [
        {"key": "method=simclr", "baseline": "method=supervised", "diff": -0.109, "ci95": [-0.12, -0.098],
         "p_value": 0.0007, "p_holm": 0.0021, "prob_better": 0.0, "effect_size": -28.1, "verdict": "worse",
         "reason": "p = 0.0007, p (Holm) = 0.0021 < 0.05"},
        {"key": "method=supcon", "baseline": "method=supervised", "diff": 0.0129, "ci95": [0.006, 0.0198],
         "p_value": 0.006, "p_holm": 0.012, "prob_better": 1.0, "effect_size": 6.2, "verdict": "better",
         "reason": "p = 0.006, p (Holm) = 0.012 < 0.05"},
        {"key": "method=npairs", "baseline": "method=supervised", "diff": None, "ci95": None, "p_value": None,
         "p_holm": None, "prob_better": 1.0, "effect_size": None, "verdict": "too few seeds",
         "reason": "n = 1 in this cell"},
    ],
    "excluded": {"failed": 2, "canceled": 0},
}

HEADER = ["best", "method", "Linear probe (mean ± 95% CI)", "n", "vs method=supervised", "p (Holm)", "P(better)"]
ROWS = [
    ["", "simclr", "85.1 ± 1.0 %", "3", "worse", "0.0021", "0.00"],
    ["*", "supcon", "97.3 ± 0.4 %", "3", "better", "0.012", "1.00"],
    ["", "npairs", "99.0 %", "1", "too few seeds", "—", "1.00"],
    ["", "supervised", "96.0 ± 0.5 %", "3", "baseline", "—", "—"],
]


def test_rows_give_axes_mean_ci_n_verdict_p_holm_and_p_better():
    header, rows = study_stats_rows(StudyStats.model_validate(STATS), CATALOG)
    assert header == HEADER
    assert rows == ROWS


def test_best_is_by_mean_over_seeds_when_the_server_does_not_say():
    body = {k: v for k, v in STATS.items() if k != "best"}
    assert best_cell(StudyStats.model_validate(body)) == "method=supcon"  # npairs' lone 99 % is not a mean
    lower = copy.deepcopy(body) | {"metric": "train_seconds", "direction": "lower"}
    assert best_cell(StudyStats.model_validate(lower)) == "method=simclr"
    assert best_cell(StudyStats.model_validate(STATS | {"best": None})) is None  # the server found none


def test_two_axes_are_two_columns_and_a_missing_value_is_a_dash():
    body = copy.deepcopy(STATS)
    body["cells"][0]["values"]["temperature"] = 0.1
    body["cells"][1]["values"]["temperature"] = 0.5
    header, rows = study_stats_rows(StudyStats.model_validate(body), CATALOG)
    assert header[1:3] == ["method", "temperature"]
    assert [row[1:3] for row in rows] == [["simclr", "0.1"], ["supcon", "0.5"], ["npairs", "—"],
                                          ["supervised", "—"]]


@pytest.mark.parametrize(("metric", "mean", "ci", "text"), [
    ("linear_acc", 0.9731, [0.9691, 0.9771], "97.3 ± 0.4 %"),
    ("silhouette", 0.41234, [0.40, 0.42468], "0.412 ± 0.012"),  # precision follows the spread
    ("train_seconds", 8.34, [7.94, 8.74], "8.3 ± 0.4 s"),  # the unit said once; 1 decimal under 10 s
    ("train_seconds", 187.0, [175.0, 199.0], "187 ± 12 s"),
    ("train_seconds", 4.2, [4.2, 4.2], "4.2 ± 0 s"),  # never "4.2 s ± 0.0 s"
    ("final_loss", 1.5, None, "1.5"),
    ("linear_acc", None, None, "—"),
])
def test_mean_and_interval_take_the_metrics_catalogue_format(metric, mean, ci, text):
    assert CATALOG.format_interval(metric, mean, ci) == text


def test_table_title_says_the_direction_and_caption_the_excluded_runs():
    console = Console(width=200, record=True)
    console.print(study_stats_table(StudyStats.model_validate(STATS), CATALOG))
    out = console.export_text()
    assert "Linear probe (linear_acc, higher is better)" in out
    assert "left out: 2 failed" in out and "canceled" not in out
    assert "97.3 ± 0.4 %" in out and "…" not in out


# -- through the command line, against a canned server ------------------------------------------------------

def test_study_stats_command_prints_the_table_and_asks_for_the_headline_metric(monkeypatch):
    seen = serve_canned(monkeypatch, {"/api/schema/catalog": catalog_document(), "/api/studies/7/stats": STATS})
    result = CliRunner().invoke(cli.app, ["study-stats", "7"], env={"COLUMNS": ""})
    assert result.exit_code == 0, result.output
    assert seen[-1].url.params["metric"] == "linear_acc" and "baseline" not in seen[-1].url.params
    lines = result.stdout.splitlines()
    supcon = next(line for line in lines if " supcon " in line)
    for text in ("*", "97.3 ± 0.4 %", "better", "0.012", "1.00"):
        assert text in supcon
    assert result.stdout.count("…") == 0


def test_study_stats_csv_and_json(monkeypatch):
    seen = serve_canned(monkeypatch, {"/api/schema/catalog": catalog_document(), "/api/studies/7/stats": STATS})
    result = CliRunner().invoke(cli.app, ["study-stats", "7", "--metric", "linear_acc", "--baseline",
                                          "method=supervised", "--csv"])
    assert result.exit_code == 0, result.output
    assert seen[-1].url.params["baseline"] == "method=supervised"
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["key"] for r in rows] == [c["key"] for c in STATS["cells"]]
    supcon = rows[1]
    assert (supcon["method"], supcon["mean"], supcon["ci95_low"], supcon["best"], supcon["verdict"],
            supcon["p_holm"]) == ("supcon", "0.9731", "0.9691", "True", "better", "0.012")
    assert rows[3]["verdict"] == "baseline"
    as_json = CliRunner().invoke(cli.app, ["study-stats", "7", "--json"])
    assert json.loads(as_json.stdout)["comparisons"][1]["p_holm"] == 0.012
    both = CliRunner().invoke(cli.app, ["study-stats", "7", "--json", "--csv"])
    assert both.exit_code == 1 and "choose one of --json and --csv" in both.stderr


def test_an_older_server_without_the_catalogue_route_still_gets_labels(monkeypatch):
    serve_canned(monkeypatch, {"/api/studies/7/stats": STATS})
    result = CliRunner().invoke(cli.app, ["study-stats", "7"], env={"COLUMNS": ""})
    assert result.exit_code == 0, result.output
    assert "Linear probe (mean ± 95% CI)" in result.stdout


def test_studies_lists_axes_and_counts(monkeypatch):
    page = {"items": [{"id": 3, "name": "losses", "axes": {"method": ["simclr", "supcon"]}, "seeds": [0, 1, 2],
                       "created_at": "2025-11-25T21:36:05Z",
                       "status_counts": {"queued": 1, "running": 1, "succeeded": 4, "failed": 0, "canceled": 0}}],
            "total": 1}
    serve_canned(monkeypatch, {"/api/studies": page})
    result = CliRunner().invoke(cli.app, ["studies"], env={"COLUMNS": ""})
    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if "losses" in line)
    for text in ("method: simclr, supcon", "0, 1, 2", " 6 ", "1 queued, 1 running, 4 succeeded │"):
        assert text in row


def test_study_command_sends_base_axes_seeds_with_overrides(monkeypatch, tmp_path):
    file = tmp_path / "grid.yaml"
    file.write_text("base: {dataset: digits, epochs: 5}\naxes: {method: [simclr, supervised]}\nseeds: 2\n")
    created = {"id": 9, "name": "grid", "cells": 2, "runs": [{"id": i, "status": "queued"} for i in (1, 2, 3, 4)]}
    seen = serve_canned(monkeypatch, {"/api/studies": created})
    result = CliRunner().invoke(cli.app, ["study", str(file), "--set", "epochs=1"])
    assert result.exit_code == 0, result.output
    assert json.loads(seen[0].content) == {"name": "grid", "base": {"dataset": "digits", "epochs": 1},
                                           "axes": {"method": ["simclr", "supervised"]}, "seeds": [0, 1]}
    assert "study 9 queued: grid, 4 runs in 2 cells" in result.stdout


@pytest.mark.parametrize(("text", "overrides", "message"), [
    ("base: {}\naxes: {method: [simclr]}\nseeds: [0]\nepochs: 3\n", [], "unknown key epochs"),
    ("base: {}\naxes: {}\nseeds: [0]\n", [], "axes maps a RunSpec field to its values"),
    ("base: {}\naxes: {method: simclr}\n", [], "axes.method is a non-empty list"),
    ("base: {}\naxes: {method: [simclr]}\nseeds: [a]\n", [], "seeds is a list of integers"),
    ("base: {}\naxes: {method: [simclr]}\n", ["method=supcon"], "method is an axis of this study"),
])
def test_a_bad_study_file_is_named_with_the_fix(tmp_path, text, overrides, message):
    file = tmp_path / "bad.yaml"
    file.write_text(text)
    with pytest.raises(SpecFileError, match=message):
        load_study(file, overrides)
