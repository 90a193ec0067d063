"""`contrastlab study --seeds`, `study-stats --paired` and `study-extend` against a canned server."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from typer.testing import CliRunner

from contrastlab.client import cli
from contrastlab.client.specs import SpecFileError, parse_seeds
from contrastlab.core.catalog import catalog_document
from tests.unit.canned import serve_canned

PAIRED: dict[str, Any] = {"metric": "linear_acc", "direction": "higher", "baseline": "method=simclr", "best": None,
          "cells": [{"key": "method=simclr", "values": {"method": "simclr"}, "n": 6, "mean": 0.92,
                     "ci95": [0.90, 0.94], "runs": [1, 2, 3, 4, 5, 6]}],
          "comparisons": [], "excluded": {},
          "paired": {"metric": "linear_acc", "paired": "linear_acc_head", "comparisons": [
              {"key": "method=simclr", "n": 6, "mean_diff": 0.063, "std_diff": 0.004, "ci95": [0.059, 0.067],
               "bootstrap_ci95": [0.060, 0.066], "p_value": 1e-6, "p_holm": 1e-6, "wilcoxon_p": 0.031,
               "power": 1.0, "seeds_for_80": 3, "verdict": "better", "reason": "", "runs": [1, 2, 3, 4, 5, 6]}]}}


def test_study_seeds_option_replaces_the_files_seeds(monkeypatch, tmp_path) -> None:
    file = tmp_path / "grid.yaml"
    file.write_text("base: {dataset: digits}\naxes: {method: [simclr]}\nseeds: 5\n")
    created = {"id": 9, "name": "grid", "cells": 1, "runs": [{"id": i, "status": "queued"} for i in (1, 2, 3)]}
    seen = serve_canned(monkeypatch, {"/api/studies": created})
    result = CliRunner().invoke(cli.app, ["study", str(file), "--seeds", "0,1,2"])
    assert result.exit_code == 0, result.output
    assert json.loads(seen[0].content)["seeds"] == [0, 1, 2]


@pytest.mark.parametrize(("text", "seeds"), [("0,1,2", [0, 1, 2]), ("3", [0, 1, 2]), ("7,3", [7, 3])])
def test_parse_seeds(text, seeds) -> None:
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize("text", ["a,b", "", "1,1", "-1"])
def test_bad_seeds_are_named(text) -> None:
    with pytest.raises(SpecFileError, match="--seeds"):
        parse_seeds(text)


def test_study_stats_paired_prints_the_paired_table(monkeypatch) -> None:
    seen = serve_canned(monkeypatch, {"/api/schema/catalog": catalog_document(), "/api/studies/7/stats": PAIRED})
    result = CliRunner().invoke(cli.app, ["study-stats", "7", "--paired", "linear_acc_head"],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert seen[-1].url.params["paired"] == "linear_acc_head"
    rows = [line for line in result.stdout.splitlines() if "method=simclr" in line and "│" in line]
    row = next(line for line in rows if "better" in line)
    for text in ("+6.3 %", "+5.9 % … +6.7 %", "+6.0 % … +6.6 %", "0.031", "1.00", " 3 "):
        assert text in row
    assert "linear_acc − linear_acc_head" in result.stdout


def test_study_extend_posts_seeds_and_cells(monkeypatch) -> None:
    created = {"id": 4, "name": "s", "cells": 1, "runs": [{"id": i, "status": "queued", "spec": {"seed": s}}
                                                          for i, s in ((11, 3), (12, 4))]}
    seen = serve_canned(monkeypatch, {"/api/studies/4/extend": created})
    result = CliRunner().invoke(cli.app, ["study-extend", "4", "--seeds", "2", "--cell", "method=simclr"])
    assert result.exit_code == 0, result.output
    assert json.loads(seen[0].content) == {"seeds": 2, "cells": ["method=simclr"]}
    assert "study 4: 2 runs queued in 1 cells (seeds 3, 4)" in result.stdout


def test_study_stats_csv_carries_the_iqm_power_and_seeds(monkeypatch) -> None:
    body = {**PAIRED, "cells": [{**PAIRED["cells"][0], "iqm": 0.921, "iqm_ci95": [0.91, 0.93]},
                                {"key": "method=byol", "values": {"method": "byol"}, "n": 3, "mean": 0.9, "runs": []}],
            "comparisons": [{"key": "method=byol", "baseline": "method=simclr", "verdict": "worse", "power": 0.42,
                             "seeds_for_80": 7, "prob_better_ci95": [0.0, 0.3]}], "paired": None}
    serve_canned(monkeypatch, {"/api/schema/catalog": catalog_document(), "/api/studies/7/stats": body})
    result = CliRunner().invoke(cli.app, ["study-stats", "7", "--csv"])
    assert result.exit_code == 0, result.output
    simclr, byol = list(csv.DictReader(io.StringIO(result.stdout)))
    assert (simclr["iqm"], simclr["iqm_ci95_low"], simclr["iqm_ci95_high"]) == ("0.921", "0.91", "0.93")
    assert (byol["power"], byol["seeds_for_80"], byol["prob_better_ci95_high"]) == ("0.42", "7", "0.3")
