"""Every study under examples/studies/ loads with the CLI's reader, and every run of its grid is a valid RunSpec."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from contrastlab.client.specs import load_study
from contrastlab.core.catalog import METHODS
from contrastlab.core.spec import RunSpec

STUDIES = sorted((Path(__file__).resolve().parents[2] / "examples" / "studies").glob("*.yaml"))
GRIDS = [path for path in STUDIES if "search" not in load_study(path)]
SEARCHES = [path for path in STUDIES if path not in GRIDS]


def _grid(study: dict) -> list[dict]:
    """Each run's spec: the base with one combination of the axes' values and one seed."""
    axes = study["axes"]
    return [study["base"] | dict(zip(axes, values, strict=True)) | {"seed": seed}
            for values in itertools.product(*axes.values()) for seed in study["seeds"]]


def test_the_studies_of_the_issues_ship():
    assert [p.name for p in STUDIES] == ["losses_fashion_mnist.yaml", "methods_fashion_mnist.yaml", "optimisers.yaml",
                                         "projection_dim.yaml", "projection_head.yaml", "search_lr.yaml",
                                         "supcon_vs_ce.yaml", "temperature.yaml"]
    assert [p.name for p in SEARCHES] == ["search_lr.yaml"]


@pytest.mark.parametrize("path", GRIDS, ids=lambda p: p.stem)
def test_every_cell_of_every_study_is_a_valid_spec(path):
    study = load_study(path)
    specs = _grid(study)
    assert len({repr(sorted(spec.items())) for spec in specs}) == len(specs) >= 3  # no two runs alike
    for spec in specs:
        RunSpec.model_validate(spec)


@pytest.mark.parametrize("path", GRIDS, ids=lambda p: p.stem)
def test_small_enough_for_a_cpu_and_big_enough_for_a_verdict(path):
    """CPU settings in the file (the GPU ones come through --set); at least 3 seeds, so every cell has a CI."""
    study = load_study(path)
    base = RunSpec.model_validate(study["base"])
    assert base.dataset == "fashion_mnist" and base.encoder == "small_cnn"
    assert base.max_train_samples is not None and base.max_train_samples <= 5000 and base.epochs <= 5
    assert len(study["seeds"]) >= 3


def test_overrides_reach_every_cell():
    study = load_study(STUDIES[0], ["max_train_samples=null", "epochs=50", "device=cuda"])
    specs = [RunSpec.model_validate(spec) for spec in _grid(study)]
    assert {(s.max_train_samples, s.epochs, s.device) for s in specs} == {(None, 50, "cuda")}


def test_methods_study_has_every_method_of_the_catalogue():
    study = load_study(STUDIES[1])
    assert sorted(study["axes"]["method"]) == sorted(METHODS)
    losses = load_study(STUDIES[0])["axes"]["method"]  # the methods that are a loss on the head, and the baseline
    assert {METHODS[name].family for name in losses} == {"contrastive", "supervised"}
    assert {tuple(sorted(s["axes"])) for s in map(load_study, STUDIES)} >= {("method",), ("temperature",),
                                                                           ("method", "optimizer")}


def test_search_file_samples_a_range_and_its_baseline_is_a_valid_spec():
    """The search file: a log range and a list, the search's settings, a base that is the baseline's spec."""
    study = load_study(SEARCHES[0], ["epochs=3"])
    assert study["axes"]["lr"] == {"low": 0.0001, "high": 0.01, "log": True}
    assert study["search"]["pruner"] == "asha" and study["search"]["trials"] >= 8
    base = RunSpec.model_validate(study["base"])
    assert base.epochs == 3 and base.dataset == "digits" and base.knn_every == 1
