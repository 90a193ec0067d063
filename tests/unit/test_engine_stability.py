"""Drawdown and volatility of an accuracy curve, pinned on curves worked out by hand."""

import math

import pytest

from contrastlab.core.catalog import FINAL_METRICS, METRICS
from contrastlab.core.stability import changes, drawdown, stability, volatility


def test_a_curve_that_only_rises_has_no_drawdown():
    assert drawdown([0.1, 0.2, 0.2, 0.9]) == 0.0
    assert drawdown([0.5]) == 0.0 and drawdown([]) == 0.0


def test_drawdown_adds_every_drop():
    # Drops 0.7 -> 0.5 (0.2) and 0.8 -> 0.75 (0.05); the rises in between do not offset them.
    assert drawdown([0.4, 0.7, 0.5, 0.8, 0.75]) == pytest.approx(0.25)
    assert drawdown([0.9, 0.8, 0.7]) == pytest.approx(0.2)


def test_volatility_is_the_population_std_of_the_changes():
    curve = [0.4, 0.7, 0.5, 0.8, 0.75]
    assert changes(curve) == pytest.approx([0.3, -0.2, 0.3, -0.05])
    # mean 0.0875; squared deviations 0.04515625, 0.08265625, 0.04515625, 0.01890625; sum / 4 = 0.0479687...
    assert volatility(curve) == pytest.approx(math.sqrt(0.191875 / 4))
    assert stability(curve) == pytest.approx({"drawdown": 0.25, "volatility": math.sqrt(0.191875 / 4)})


def test_steady_or_short_curves_have_no_volatility():
    assert volatility([0.1, 0.2, 0.3, 0.4]) == pytest.approx(0.0, abs=1e-12)  # a steady climb does not wobble
    assert volatility([0.3, 0.1]) == 0.0  # one change: no spread to measure
    assert volatility([0.3]) == 0.0 and volatility([]) == 0.0
    assert volatility([0.5, 0.9, 0.5]) == pytest.approx(0.4)  # changes +0.4, -0.4


def test_a_summary_leaves_out_what_the_curve_is_too_short_for():
    """Not a 0 that would read as "perfectly steady": a 2-epoch run has two k-NN evaluations, one change."""
    assert stability([]) == {} and stability([0.9]) == {}
    assert stability([0.9, 0.8]) == pytest.approx({"drawdown": 0.1})
    assert stability([0.9, 0.8, 0.85]) == pytest.approx({"drawdown": 0.1, "volatility": 0.075})


def test_the_catalogue_knows_both_as_final_metrics_where_lower_is_better():
    for name in ("drawdown", "volatility"):
        info = METRICS[name]
        assert (info.unit, info.direction, info.dense, info.format, info.final) == \
            ("fraction", "lower", False, "number", True)
        assert name in FINAL_METRICS
