"""Robust aggregates, paired comparisons and power against rliable, scipy and statsmodels on the same numbers,
including n = 1, ties and zero variance."""

from __future__ import annotations

import json

import numpy as np
import pytest
from rliable import library as rly
from rliable import metrics as rlm
from scipy import stats as sps
from statsmodels.stats.power import TTestIndPower, TTestPower

from backend.studies.stats import (
    PairedCell,
    cell_stats,
    compare_cells,
    compare_paired,
    paired_body,
    power,
    robust,
    study_stats,
)

RNG = np.random.RandomState(7)
SCORES = {"a": RNG.normal(0.8, 0.05, size=(7, 3)), "b": RNG.normal(0.75, 0.08, size=(7, 3))}  # runs × datasets
TIES = np.array([[0.5, 0.7], [0.5, 0.7], [0.6, 0.7], [0.6, 0.9], [0.6, 0.9]])


def _rliable(scores: np.ndarray, func) -> tuple[float, np.ndarray]:
    points, intervals = rly.get_interval_estimates({"x": scores}, lambda x: np.array([func(x)]), reps=2000,
                                                   random_state=np.random.RandomState(0))
    return float(points["x"][0]), intervals["x"][:, 0]


def _close_interval(ours, theirs, scores) -> None:
    """Two bootstrap runs from different generators agree to a tenth of the data's range (percentiles of few runs
    are discrete)."""
    assert ours == pytest.approx(list(theirs), abs=0.1 * float(np.ptp(scores)) + 1e-12)


@pytest.mark.parametrize("scores", [SCORES["a"], SCORES["b"], TIES], ids=["normal", "other", "ties"])
@pytest.mark.parametrize("name, func", [("iqm", rlm.aggregate_iqm), ("mean", rlm.aggregate_mean),
                                        ("median", rlm.aggregate_median)])
def test_aggregates_and_stratified_intervals_match_rliable(scores, name, func) -> None:
    point, ci = robust.aggregate([scores[:, t] for t in range(scores.shape[1])], name)
    expected, interval = _rliable(scores, func)
    assert point == pytest.approx(expected)
    _close_interval(ci, interval, scores)


def test_iqm_of_one_two_four_runs_and_constant_runs() -> None:
    assert robust.aggregate([[0.7]], "iqm") == (0.7, (0.7, 0.7))  # n = 1: the run itself, a point interval
    assert robust.aggregate([[0.6, 0.8]], "iqm")[0] == pytest.approx(rlm.aggregate_iqm(np.array([[0.6], [0.8]])))
    four = np.array([0.1, 0.5, 0.6, 0.99])  # a quarter cut each side: the mean of 0.5 and 0.6
    assert robust.aggregate([four], "iqm")[0] == pytest.approx(0.55) == rlm.aggregate_iqm(four[:, None])
    assert robust.aggregate([[0.9, 0.9, 0.9]], "iqm") == (0.9, (0.9, 0.9))  # zero variance
    assert robust.aggregate([], "iqm") == (None, None)


@pytest.mark.parametrize("x, y", [(SCORES["a"], SCORES["b"]), (TIES, TIES[::-1] + 0.05), (TIES, TIES)],
                         ids=["normal", "ties", "identical"])
def test_probability_of_improvement_and_its_interval_match_rliable(x, y) -> None:
    point, ci = robust.probability_of_improvement(list(x.T), list(y.T))
    assert point == pytest.approx(rlm.probability_of_improvement(x, y))
    _, intervals = rly.get_interval_estimates({"xy": [x, y]}, lambda a, b: np.array([
        rlm.probability_of_improvement(a, b)]), reps=2000, random_state=np.random.RandomState(0))
    assert ci == pytest.approx(list(intervals["xy"][:, 0]), abs=0.05)


def test_performance_profile_matches_rliable() -> None:
    taus = robust.profile_thresholds([list(SCORES["a"].T), list(SCORES["b"].T)])
    profiles, _ = rly.create_performance_profile(SCORES, np.array(taus), reps=10)
    for key, scores in SCORES.items():
        assert robust.score_distribution(list(scores.T), taus) == pytest.approx(list(profiles[key]))
    assert taus[-1] == pytest.approx(max(SCORES["a"].max(), SCORES["b"].max()))


def test_cell_stats_carry_the_iqm_and_its_interval() -> None:
    cell = cell_stats("a", {}, list(SCORES["a"][:, 0]), list(range(7)))
    expected, interval = _rliable(SCORES["a"][:, :1], rlm.aggregate_iqm)
    assert cell.iqm == pytest.approx(expected)
    _close_interval(cell.iqm_ci95, interval, SCORES["a"][:, 0])


PAIRS = [(1, 0.80, 0.74), (2, 0.82, 0.75), (3, 0.79, 0.74), (4, 0.81, 0.76), (5, 0.83, 0.76), (6, 0.80, 0.75)]


def test_paired_comparison_matches_scipy() -> None:
    (comp,) = compare_paired([PairedCell("simclr", PAIRS, True)], "linear_acc", "linear_acc_head", "higher")
    a, b = np.array([p[1] for p in PAIRS]), np.array([p[2] for p in PAIRS])
    d = a - b
    assert comp.n == 6 and comp.runs == [1, 2, 3, 4, 5, 6]
    assert comp.mean_diff == pytest.approx(d.mean()) and comp.std_diff == pytest.approx(d.std(ddof=1))
    assert comp.p_value == pytest.approx(sps.ttest_rel(a, b).pvalue) and comp.p_holm == comp.p_value
    assert comp.ci95 == pytest.approx(sps.t.interval(0.95, 5, loc=d.mean(), scale=sps.sem(d)))
    assert comp.wilcoxon_p == pytest.approx(sps.wilcoxon(a, b).pvalue)
    assert comp.bootstrap_ci95 is not None
    low, high = comp.bootstrap_ci95
    assert d.min() <= low < d.mean() < high <= d.max()
    _close_interval(comp.bootstrap_ci95, _rliable(d[:, None], rlm.aggregate_mean)[1], d)
    assert comp.verdict == "better" and "linear_acc − linear_acc_head = +0.0583 over 6 runs" in comp.reason
    assert comp.power == pytest.approx(1.0) and comp.seeds_for_80 == 3  # d_z ≈ 6: statsmodels gives NaN here


def test_paired_edge_cases_one_pair_constant_difference_all_ties_and_not_recorded() -> None:
    cells = [PairedCell("one", PAIRS[:1], True), PairedCell("flat", [(1, 0.875, 0.75), (2, 0.625, 0.5)], True),
             PairedCell("same", [(i, 0.5, 0.5) for i in range(6)], True), PairedCell("ce", [], False),
             PairedCell("five", PAIRS[:5], True)]
    body = paired_body("linear_acc", "random_linear_acc", "higher", cells)
    json.dumps(body, allow_nan=False)
    one, flat, same, ce, five = body["comparisons"]
    assert (one["verdict"], one["mean_diff"], one["p_value"]) == ("too few seeds", pytest.approx(0.06), None)
    assert flat["p_value"] == 0.0 and flat["std_diff"] == 0.0 and flat["ci95"] == [0.125, 0.125]
    assert flat["verdict"] == "better" and flat["seeds_for_80"] == 2 and "exact" in flat["reason"]
    assert (same["p_value"], same["wilcoxon_p"], same["verdict"]) == (1.0, 1.0, "no detectable difference")
    assert same["seeds_for_80"] is None  # no effect: no number of seeds finds one
    assert (ce["verdict"], ce["n"]) == ("not recorded for this cell", 0)
    assert five["wilcoxon_p"] is None  # five pairs cannot reach p < 0.05 two-sided
    # Holm over the three cells that have a p-value.
    p = [flat["p_value"], same["p_value"], five["p_value"]]
    assert five["p_holm"] == pytest.approx(min(1.0, 2 * p[2]))


@pytest.mark.parametrize("d, n1, n2", [(0.5, 5, 5), (1.2, 3, 4), (2.0, 10, 10), (-0.8, 6, 3)])
def test_two_sample_power_matches_statsmodels(d, n1, n2) -> None:
    assert power.power_two_sample(d, n1, n2) == pytest.approx(
        TTestIndPower().power(abs(d), n1, 0.05, ratio=n2 / n1), rel=1e-6)


@pytest.mark.parametrize("d", [0.3, 0.8, 1.5, 3.0])
def test_seeds_for_80_percent_match_statsmodels(d) -> None:
    expected = int(np.ceil(TTestIndPower().solve_power(d, power=0.8, alpha=0.05)))
    assert power.seeds_two_sample(d) == max(2, expected)
    paired = int(np.ceil(TTestPower().solve_power(d, power=0.8, alpha=0.05)))
    assert power.seeds_paired(d) == max(2, paired)
    assert power.power_paired(d, 7) == pytest.approx(TTestPower().power(d, 7, 0.05), rel=1e-6)


@pytest.mark.parametrize("dz", [4.1, 4.9, 5.9147, 6.5, 16.0])  # δ = dz·√6 from 10 to 39: scipy's far tail is NaN
def test_power_of_a_large_paired_effect_is_a_number_near_one(dz) -> None:
    """The head study on Fashion-MNIST (6 seeds, +4.0 ± 0.67 points: dz 5.91) showed power "—": one NaN tail."""
    assert 0.999 < (power.power_paired(dz, 6) or 0.0) <= 1.0
    assert power.power_two_sample(dz, 6, 6) == pytest.approx(1.0, abs=1e-3)


def test_comparisons_carry_power_seeds_and_the_interval_of_p_better() -> None:
    a, b = [0.80, 0.82, 0.81], [0.78, 0.80, 0.79, 0.83]
    cells = [cell_stats("base", {}, b, [1, 2, 3, 4]), cell_stats("a", {}, a, [5, 6, 7])]
    (comp,) = compare_cells(cells, {"base": b, "a": a}, "base", "higher")
    pooled = np.sqrt((2 * np.var(a, ddof=1) + 3 * np.var(b, ddof=1)) / 5)
    d = (np.mean(a) - np.mean(b)) / pooled
    assert comp.power == pytest.approx(TTestIndPower().power(d, 3, 0.05, ratio=4 / 3), rel=1e-6)
    assert comp.seeds_for_80 == int(np.ceil(TTestIndPower().solve_power(d, power=0.8, alpha=0.05)))
    assert comp.prob_better_ci95 is not None and comp.prob_better is not None
    low, high = comp.prob_better_ci95
    assert low <= comp.prob_better <= high
    (lower,) = compare_cells(cells, {"base": b, "a": a}, "base", "lower")  # lower is better: the complement
    assert lower.prob_better_ci95 == pytest.approx([1 - high, 1 - low], abs=0.05)


def test_best_only_when_the_verdict_says_better_and_accuracy_intervals_stay_in_0_1() -> None:
    groups = {"base": [0.80, 0.82, 0.81], "tied": [0.80, 0.83, 0.82], "wide": [0.99, 0.999, 0.7]}
    cells = [cell_stats(k, {}, v, list(range(3 * i, 3 * i + 3))) for i, (k, v) in enumerate(groups.items())]
    body = study_stats("linear_acc", "higher", cells, groups, "base", {}, bounds=(0.0, 1.0))
    assert body["best"] is None  # the top mean has "no detectable difference": no badge
    wide = body["cells"][2]
    assert wide["ci95"][1] == 1.0 and wide["iqm_ci95"][1] <= 1.0
    better = {"base": [0.80, 0.80, 0.81], "up": [0.90, 0.91, 0.90]}
    cells = [cell_stats(k, {}, v, [i, i + 10, i + 20]) for i, (k, v) in enumerate(better.items())]
    assert study_stats("linear_acc", "higher", cells, better, "base", {})["best"] == "up"


def test_aggregates_over_datasets_group_cells_that_differ_only_by_dataset() -> None:
    values, groups, cells = {}, {}, []
    for m, method in enumerate(("a", "b")):
        for t, dataset in enumerate(("digits", "fashion_mnist", "cifar10")):
            key = f"method={method},dataset={dataset}"
            groups[key] = list(SCORES[method][:, t])
            values[key] = {"method": method, "dataset": dataset}
            cells.append(cell_stats(key, values[key], groups[key], list(range(100 * m + 10 * t, 100 * m + 10 * t + 7))))
    body = study_stats("linear_acc", "higher", cells, groups, None, {})["datasets"]
    assert body["datasets"] == ["cifar10", "digits", "fashion_mnist"]
    rows = {row["key"]: row for row in body["groups"]}
    assert rows["method=a"]["iqm"] == pytest.approx(rlm.aggregate_iqm(SCORES["a"]))
    assert rows["method=b"]["median"] == pytest.approx(rlm.aggregate_median(SCORES["b"]))
    assert rows["method=a"]["runs"] == [7, 7, 7] and rows["method=a"]["complete"]
    profiles, _ = rly.create_performance_profile(SCORES, np.array(body["taus"]), reps=10)
    assert rows["method=b"]["profile"] == pytest.approx(list(profiles["b"]))
    one_dataset = study_stats("linear_acc", "higher", cells[:1], {cells[0].key: groups[cells[0].key]}, None, {})
    assert one_dataset["datasets"] is None
