"""`contrastlab study search.yaml` sends the search with its range axes; `study-search` prints the trials."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from contrastlab.client import cli
from tests.unit.canned import serve_canned

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "studies" / "search_lr.yaml"
VIEW = {"config": {"metric": "knn_acc", "trials": 3}, "state": "done", "best": 2, "trials": [
    {"number": 0, "run_id": 1, "status": "succeeded", "params": {"lr": 0.001}, "values": {"lr": 0.001},
     "value": 0.91, "intermediate": {"1": 0.8}, "pruned_epoch": None, "steps": 90},
    {"number": 1, "run_id": 2, "status": "pruned", "params": {"lr": 0.00012}, "values": {"lr": 0.00012},
     "value": None, "intermediate": {"1": 0.5}, "pruned_epoch": 1, "steps": 10},
    {"number": 2, "run_id": 3, "status": "succeeded", "params": {"lr": 0.0042}, "values": {"lr": 0.0042},
     "value": 0.95, "intermediate": {"1": 0.85}, "pruned_epoch": None, "steps": 90}],
    "confirmation": {"baseline": "lr=0.001", "best": "lr=0.0042", "seeds": [1, 2, 3], "runs": [4, 5, 6, 7, 8, 9]}}


def test_study_command_sends_the_search_file(monkeypatch):
    created = {"id": 7, "name": "simclr lr search", "cells": 12, "runs": [{"id": 1, "status": "queued"},
                                                                          {"id": 2, "status": "queued"}]}
    seen = serve_canned(monkeypatch, {"/api/studies": created})
    result = CliRunner().invoke(cli.app, ["study", str(EXAMPLE), "--set", "epochs=3"])
    assert result.exit_code == 0, result.output
    body = json.loads(seen[0].content)
    assert body["axes"]["lr"] == {"low": 0.0001, "high": 0.01, "log": True}
    assert body["axes"]["temperature"] == [0.1, 0.2, 0.5, 1.0]
    assert body["search"] == {"sampler": "tpe", "pruner": "asha", "trials": 12, "parallel": 2, "metric": "knn_acc",
                              "direction": "max", "confirm_seeds": 3}
    assert body["base"]["epochs"] == 3 and body["seeds"] == [0]
    assert "search 7 started: simclr lr search, 12 trials, the first 2 queued" in result.stdout
    assert "contrastlab study-search 7" in result.stdout


def test_study_search_prints_trials_pruned_epochs_and_confirmation(monkeypatch):
    serve_canned(monkeypatch, {"/api/studies/7/search": VIEW})
    result = CliRunner().invoke(cli.app, ["study-search", "7"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if line.count("│") > 3}
    assert "pruned" in rows["1"] and " 1 " in rows["1"].split("pruned")[1] and "0.9500" in rows["2 ★"]
    assert "lr=0.0042 against the baseline lr=0.001 on fresh seeds [1, 2, 3] (6 runs)" in result.stdout
