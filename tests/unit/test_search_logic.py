"""The search's decisions without a server: the sampler each setting picks, ASHA on the monitor's values, the best
trial, the axes as distributions, and the checks of a search body."""

from __future__ import annotations

import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.pruners import NopPruner, SuccessiveHalvingPruner
from optuna.samplers import GridSampler, RandomSampler, TPESampler
from optuna.trial import TrialState

from backend.studies.grid import StudyInvalid
from backend.studies.schemas import AxisRange, SearchConfig
from backend.studies.search import optimizer, space
from backend.studies.search.optimizer import TrialRecord
from contrastlab.core.settings import Settings

AXES = {"lr": {"low": 1e-4, "high": 1e-2, "log": True}, "temperature": [0.1, 0.5]}
SETTINGS = Settings(database_url="sqlite://", redis_url="", broker_url="")


def _config(**kw) -> SearchConfig:
    return SearchConfig.model_validate({"trials": 8, **kw})


@pytest.mark.parametrize(("name", "kind"), [("tpe", TPESampler), ("random", RandomSampler)])
def test_sampler_is_the_one_asked_for(name, kind) -> None:
    assert isinstance(optimizer.sampler(_config(sampler=name), AXES, seed=1), kind)


def test_grid_sampler_walks_every_listed_value_once_before_repeating() -> None:
    config, axes = _config(sampler="grid", trials=4), {"temperature": [0.1, 0.2], "lr": [0.001, 0.01]}
    assert isinstance(optimizer.sampler(config, axes, seed=0), GridSampler)
    known: list[TrialRecord] = []
    for number in range(4):
        params, attrs = optimizer.ask(config, axes, known, seed=number)
        known.append(TrialRecord(number, params, TrialState.RUNNING, system_attrs=attrs))
    assert sorted((t.params["temperature"], t.params["lr"]) for t in known) == [
        (0.1, 0.001), (0.1, 0.01), (0.2, 0.001), (0.2, 0.01)]


def test_the_same_rows_give_the_same_sample_in_any_process() -> None:
    known = [TrialRecord(0, {"lr": 0.001, "temperature": 0.1}, TrialState.COMPLETE, 0.9, {1: 0.8})]
    first = optimizer.ask(_config(), AXES, known, seed=42)
    assert optimizer.ask(_config(), AXES, known, seed=42) == first
    assert 1e-4 <= first[0]["lr"] <= 1e-2 and first[0]["temperature"] in (0.1, 0.5)


def test_pruner_is_asha_or_none() -> None:
    assert isinstance(optimizer.pruner(_config()), SuccessiveHalvingPruner)
    assert isinstance(optimizer.pruner(_config(pruner="none")), NopPruner)


def _trial(number: int, curve: dict[int, float], state: TrialState = TrialState.RUNNING,
           attrs: dict | None = None) -> TrialRecord:
    return TrialRecord(number, {"lr": 0.001, "temperature": 0.1}, state, None, curve, attrs or {})


def test_asha_prunes_a_trial_below_the_best_third_at_the_first_rung_and_keeps_a_good_one() -> None:
    config = _config(reduction_factor=3)
    done = [_trial(i, {1: v}, TrialState.COMPLETE, {"completed_rung_0": v})
            for i, v in enumerate([0.6, 0.7, 0.8, 0.9, 0.5])]
    for record, value in zip(done, [0.6, 0.7, 0.8, 0.9, 0.5], strict=True):
        record.value = value
    bad, attrs = optimizer.should_prune(config, AXES, [*done, _trial(5, {1: 0.65})], 5)
    assert bad and attrs == {"completed_rung_0": 0.65}
    good, attrs = optimizer.should_prune(config, AXES, [*done, _trial(5, {1: 0.95})], 5)
    assert not good and attrs == {"completed_rung_0": 0.95}
    # Before its first rung's epoch is reached there is nothing to compare: never pruned.
    assert optimizer.should_prune(config, AXES, [*done, _trial(5, {})], 5) == (False, {})


def test_no_pruner_never_prunes() -> None:
    done = [_trial(i, {1: 0.9}, TrialState.COMPLETE, {"completed_rung_0": 0.9}) for i in range(5)]
    for record in done:
        record.value = 0.9
    assert optimizer.should_prune(_config(pruner="none"), AXES, [*done, _trial(5, {1: 0.1})], 5)[0] is False


def test_best_is_the_best_completed_trial_in_the_direction_pruned_and_failed_left_out() -> None:
    done, pruned, failed = TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL
    records = [TrialRecord(0, {}, done, 0.8), TrialRecord(1, {}, pruned, None, {1: 0.99}),
               TrialRecord(2, {}, done, 0.9), TrialRecord(3, {}, failed), TrialRecord(4, {}, done, 0.9)]
    best = optimizer.best(records, "max")
    assert best is not None and best.number == 2  # the first of equals
    low = optimizer.best(records, "min")
    assert low is not None and low.number == 0
    assert optimizer.best(records[1:2], "max") is None


def test_axes_become_distributions_of_the_field_type() -> None:
    dists = space.distributions({**AXES, "batch_size": {"low": 32, "high": 256, "log": True}})
    assert dists["lr"] == FloatDistribution(1e-4, 1e-2, log=True)
    assert dists["temperature"] == CategoricalDistribution([0.1, 0.5])
    assert dists["batch_size"] == IntDistribution(32, 256, log=True)


def test_baseline_is_the_base_spec_or_the_defaults() -> None:
    assert space.baseline_values({"lr": 0.003}, AXES) == {"lr": 0.003, "temperature": 0.5}


@pytest.mark.parametrize(("axes", "search", "message"), [
    ({"lr": {"low": 1e-2, "high": 1e-4}}, {}, "low"),
    ({"lr": {"low": 0, "high": 1e-2, "log": True}}, {}, "log range needs low > 0"),
    ({"method": {"low": 0, "high": 1}}, {}, "method is not numeric"),
    ({"batch_size": {"low": 32.5, "high": 64}}, {}, "whole numbers"),
    ({"lr": {"low": 1e-4, "high": 1e-2}}, {"sampler": "grid"}, "grid sampler takes lists"),
    ({"seed": {"low": 0, "high": 5}}, {}, "seeds vary through"),
    ({"lr": {"low": -1.0, "high": 1e-2}}, {}, "lr"),  # the low end is not a valid spec
    ({"lr": [0.001]}, {"metric": "final_loss", "direction": "min"}, "ASHA prunes on the k-NN monitor"),
    ({"lr": [0.001]}, {"metric": "knn_acc", "direction": "min"}, "direction must be 'max'"),
    ({"lr": [0.001]}, {"trials": 495}, "STUDY_MAX_RUNS"),
])
def test_a_bad_search_is_refused_naming_the_fix(axes, search, message) -> None:
    from backend.studies.schemas import StudyCreate
    from backend.studies.search import create

    try:
        body = StudyCreate.model_validate({"name": "s", "base": {"dataset": "digits"}, "axes": axes, "seeds": [0],
                                           "search": {"trials": 4, **search}})
    except ValueError as exc:  # refused by the schema itself
        assert message in str(exc)
        return
    with pytest.raises(StudyInvalid) as caught:
        create.check(body, SETTINGS)
    assert message in str(caught.value.errors)


def test_a_range_is_refused_outside_a_search() -> None:
    from backend.studies import grid
    from backend.studies.schemas import StudyCreate

    body = StudyCreate.model_validate({"name": "g", "axes": {"lr": {"low": 1e-4, "high": 1e-2}}, "seeds": [0]})
    assert isinstance(body.axes["lr"], AxisRange)
    with pytest.raises(StudyInvalid) as caught:
        grid.run_count(body, SETTINGS)
    assert "only a search samples ranges" in str(caught.value.errors)
