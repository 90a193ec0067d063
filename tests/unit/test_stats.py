"""Study statistics: every number against a hand computation and against scipy called directly."""

import json
import math
import warnings

import numpy as np
import pytest
from scipy import stats as sps

from backend.studies.stats import CellStats, cell_stats, compare_cells, default_baseline, holm, study_stats

A = [2.0, 4.0, 6.0]  # mean 4, var (4 + 0 + 4) / 2 = 4, std 2
B = [1.0, 2.0, 3.0]  # mean 2, var 1, std 1


def _cells(groups: dict[str, list[float]], method: dict[str, str] | None = None) -> list[CellStats]:
    run_ids = iter(range(1, 1000))
    return [cell_stats(key, {"method": (method or {}).get(key, key)}, xs, [next(run_ids) for _ in xs])
            for key, xs in groups.items()]


def _one(groups: dict[str, list[float]], baseline: str, direction="higher"):
    (comp,) = compare_cells(_cells(groups), groups, baseline, direction)
    return comp


def test_cell_mean_std_and_t_interval_by_hand_and_by_scipy():
    cell = cell_stats("a", {"method": "simclr"}, A, [7, 8, 9])
    # t(0.975, 2) = 4.3027; half width 4.3027 * 2 / sqrt(3) = 4.9683
    assert (cell.n, cell.mean, cell.std, cell.runs) == (3, 4.0, 2.0, [7, 8, 9])
    assert cell.ci95 == pytest.approx((4 - 4.968275, 4 + 4.968275), abs=1e-5)
    expected = sps.t.interval(0.95, 2, loc=np.mean(A), scale=sps.sem(A))
    assert cell.ci95 == pytest.approx(expected, rel=1e-12)


def test_one_seed_has_a_mean_and_no_spread():
    cell = cell_stats("a", {}, [0.91], [4])
    assert (cell.n, cell.mean, cell.std, cell.ci95) == (1, 0.91, None, None)
    empty = cell_stats("b", {}, [], [])
    assert (empty.n, empty.mean, empty.std, empty.ci95, empty.runs) == (0, None, None, None, [])


def test_identical_seeds_have_zero_std_and_a_point_interval():
    cell = cell_stats("a", {}, [0.1, 0.1, 0.1], [1, 2, 3])  # np.mean would give 0.10000000000000002
    assert (cell.mean, cell.std, cell.ci95) == (0.1, 0.0, (0.1, 0.1))


def test_bad_samples_are_refused_with_the_cell_named():
    with pytest.raises(ValueError, match="'a'.*NaN"):
        cell_stats("a", {}, [0.5, math.nan], [1, 2])
    with pytest.raises(ValueError, match="'a': 2 metric values for 1 runs"):
        cell_stats("a", {}, [0.5, 0.6], [1])


def test_welch_diff_interval_and_p_by_hand_and_by_scipy():
    comp = _one({"base": B, "a": A}, "base")
    # se² = 4/3 + 1/3 = 5/3; Welch–Satterthwaite df = (5/3)² / ((4/3)²/2 + (1/3)²/2) = 50/17
    se, df = math.sqrt(5 / 3), 50 / 17
    half = sps.t.ppf(0.975, df) * se  # 3.2188 * 1.2910 = 4.1554
    assert comp.diff == 2.0
    assert comp.ci95 == pytest.approx((2 - 4.1554, 2 + 4.1554), abs=1e-4)
    assert comp.ci95 == pytest.approx((2 - half, 2 + half), rel=1e-12)
    assert comp.p_value == pytest.approx(2 * sps.t.sf(2 / se, df), rel=1e-12)
    scipy_result = sps.ttest_ind(A, B, equal_var=False)
    assert comp.p_value == pytest.approx(scipy_result.pvalue, rel=1e-10)  # 0.2209
    assert comp.ci95 == pytest.approx(tuple(scipy_result.confidence_interval(0.95)), rel=1e-10)
    assert comp.p_holm == comp.p_value  # a single comparison: Holm changes nothing
    assert comp.verdict == "no detectable difference" and "p (Holm) = 0.221 >= 0.05" in comp.reason


def test_hedges_g_by_hand():
    # pooled sd = sqrt((2·4 + 2·1) / 4) = 1.5811; d = 2 / 1.5811 = 1.2649; J = 1 − 3 / (4·6 − 9) = 0.8
    assert _one({"base": B, "a": A}, "base").effect_size == pytest.approx(0.8 * 2 / math.sqrt(2.5), rel=1e-12)


def test_prob_better_counts_pairs_with_ties_half():
    # pairs (a, b) with a > b: 2>1, 4>{1,2,3}, 6>{1,2,3} = 7, one tie (2, 2) = 0.5 → 7.5 / 9
    groups = {"base": B, "a": A}
    assert _one(groups, "base").prob_better == pytest.approx(7.5 / 9)
    assert _one(groups, "base").prob_better == pytest.approx(sps.mannwhitneyu(A, B).statistic / 9)
    assert _one(groups, "base", "lower").prob_better == pytest.approx(1.5 / 9)


def test_holm_on_a_known_list():
    # sorted: 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 = 0.04 → raised to 0.06 (monotone)
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.6, 0.7]) == [1.0, 1.0]  # 0.6·2 = 1.2 is capped at 1, and 0.7 is raised to it
    assert holm([0.3, 0.9]) == pytest.approx([0.6, 0.9])
    assert holm([]) == []


def test_holm_runs_over_every_comparison_of_the_study():
    base = [0.80, 0.81, 0.82]
    groups = {"base": base, "a": [0.90, 0.91, 0.93], "b": [0.84, 0.86, 0.83], "c": [0.70, 0.80, 0.75]}
    comps = compare_cells(_cells(groups), groups, "base", "higher")
    raw = [sps.ttest_ind(groups[k], base, equal_var=False).pvalue for k in ("a", "b", "c")]
    assert [c.key for c in comps] == ["a", "b", "c"]
    assert [c.p_value for c in comps] == pytest.approx(raw, rel=1e-10)
    order = np.argsort(raw)
    expected = [0.0] * 3
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (3 - rank) * raw[i]))
        expected[i] = running
    assert [c.p_holm for c in comps] == pytest.approx(expected, rel=1e-10)
    assert comps[0].p_holm == pytest.approx(3 * raw[0], rel=1e-10)  # the smallest p, times 3
    assert comps[0].verdict == "better" and (comps[0].p_holm or 1.0) < 0.05


def test_lower_is_better_turns_a_smaller_mean_into_better():
    groups = {"base": [20.0, 21.0, 22.0], "fast": [10.0, 11.0, 12.0]}  # wall time, seconds
    lower = _one(groups, "base", "lower")
    # t = −10 / sqrt(2/3) = −12.247, df = 4, p = 0.000255
    assert lower.p_value == pytest.approx(0.000255217, rel=1e-5)
    assert lower.diff == -10.0 and lower.verdict == "better" and lower.prob_better == 1.0
    assert "(lower is better)" in lower.reason and "mean -10 vs base" in lower.reason
    higher = _one(groups, "base", "higher")
    assert higher.verdict == "worse" and higher.prob_better == 0.0


def test_one_seed_on_either_side_is_too_few_seeds():
    comp = _one({"base": [0.8], "a": A}, "base")
    assert comp.verdict == "too few seeds"
    assert comp.reason == "n = 1 in the baseline: need at least 2 succeeded seeds per cell"
    assert (comp.diff, comp.ci95, comp.p_value, comp.p_holm, comp.effect_size) == (None,) * 5
    assert comp.prob_better == 1.0  # still a plain count from one seed: every seed of A beats 0.8
    assert _one({"base": A, "a": []}, "base").reason.startswith("n = 0 in this cell")


def test_zero_variance_on_both_sides_gives_an_exact_verdict_without_nan():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no precision or divide-by-zero warning either
        differ = _one({"base": [0.8, 0.8, 0.8], "a": [0.9, 0.9, 0.9]}, "base")
        same = _one({"base": [0.8, 0.8], "a": [0.8, 0.8, 0.8]}, "base")
    assert differ.diff == pytest.approx(0.1) and differ.ci95 == (differ.diff, differ.diff)
    assert (differ.p_value, differ.p_holm, differ.prob_better, differ.effect_size) == (0.0, 0.0, 1.0, None)
    assert differ.verdict == "better" and "same value on each side, different" in differ.reason
    assert (same.diff, same.ci95, same.p_value, same.p_holm) == (0.0, (0.0, 0.0), 1.0, 1.0)
    assert (same.prob_better, same.effect_size, same.verdict) == (0.5, 0.0, "no detectable difference")


@pytest.mark.filterwarnings("ignore:Precision loss:RuntimeWarning")  # scipy's own, on the reference call
def test_zero_variance_on_one_side_matches_scipy():
    comp = _one({"base": B, "a": [1.0, 1.0, 1.0]}, "base")
    # ua = 0, ub = 1/3: t = −1 / sqrt(1/3), df = (1/3)² / ((1/3)² / 2) = 2
    assert comp.p_value == pytest.approx(2 * sps.t.sf(math.sqrt(3), 2), rel=1e-12)
    assert comp.p_value == pytest.approx(sps.ttest_ind([1.0, 1.0, 1.0], B, equal_var=False).pvalue, rel=1e-10)


def test_default_baseline_is_the_supervised_cell_else_the_first():
    groups = {"simclr": A, "supervised": B, "supcon": A}
    assert default_baseline(_cells(groups)) == "supervised"
    assert default_baseline(_cells({"simclr": A, "supcon": B})) == "simclr"
    methods = {"supcon-sgd": "supcon", "ce-sgd": "supervised", "ce-adam": "supervised"}
    assert default_baseline(_cells({k: A for k in methods}, methods)) == "ce-sgd"
    no_method = [cell_stats("t=0.1", {"temperature": 0.1}, A, [1, 2, 3])]
    assert default_baseline(no_method) == "t=0.1"
    with pytest.raises(ValueError, match="no cells"):
        default_baseline([])


def test_unknown_baseline_is_refused_with_the_choices():
    with pytest.raises(ValueError, match=r"baseline 'nope' is not a cell.*\['base', 'a'\]"):
        compare_cells(_cells({"base": B, "a": A}), {"base": B, "a": A}, "nope", "higher")
    with pytest.raises(ValueError, match="'a': 2 values but n = 3"):
        compare_cells(_cells({"base": B, "a": A}), {"base": B, "a": A[:2]}, "base", "higher")


def test_study_body_is_json_without_nan_and_counts_the_excluded():
    groups = {"supervised": [0.80, 0.82, 0.81], "simclr": [0.85, 0.86, 0.88], "one": [0.9],
              "flat": [0.7, 0.7, 0.7], "none": []}
    body = study_stats("linear_acc", "higher", _cells(groups), groups, None, {"failed": 2, "canceled": 1})
    text = json.dumps(body, allow_nan=False)  # raises on NaN or infinity
    assert json.loads(text) == body
    assert (body["metric"], body["direction"], body["baseline"], body["best"]) == (
        "linear_acc", "higher", "supervised", "simclr")  # "one" has the top mean but a single seed
    assert body["excluded"] == {"failed": 2, "canceled": 1}
    assert [c["key"] for c in body["cells"]] == list(groups)
    assert body["cells"][1]["runs"] == [4, 5, 6] and body["cells"][1]["ci95"][0] < 0.8633 < body["cells"][1]["ci95"][1]
    assert [c["key"] for c in body["comparisons"]] == ["simclr", "one", "flat", "none"]
    verdicts = {c["key"]: c["verdict"] for c in body["comparisons"]}
    assert verdicts == {"simclr": "better", "one": "too few seeds", "flat": "worse", "none": "too few seeds"}
    assert set(body["comparisons"][0]) == {"key", "baseline", "diff", "ci95", "p_value", "p_holm", "prob_better",
                                           "prob_better_ci95", "effect_size", "power", "seeds_for_80", "verdict",
                                           "reason"}


def test_chosen_baseline_and_empty_study():
    groups = {"supervised": B, "simclr": A}
    body = study_stats("knn_acc", "higher", _cells(groups), groups, "simclr", {})
    assert body["baseline"] == "simclr" and body["comparisons"][0]["diff"] == -2.0
    empty = study_stats("knn_acc", "higher", [], {}, None, {"failed": 3})
    assert (empty["baseline"], empty["best"], empty["cells"], empty["comparisons"]) == (None, None, [], [])
