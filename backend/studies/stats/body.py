"""The body of GET /api/studies/{id}/stats, composed from the cells, the comparisons, the paired comparisons and
the aggregates over datasets: plain JSON values, no NaN, intervals of bounded metrics kept within their bounds."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from backend.studies.stats import robust
from backend.studies.stats.cells import MIN_SEEDS, CellStats, Comparison, Direction, compare_cells, default_baseline
from backend.studies.stats.paired import NOT_RECORDED, PairedCell, PairedComparison, compare_paired
from contrastlab.core.stability import MIN_EVALUATIONS

Bounds = tuple[float, float] | None
DATASET = "dataset"


def _finite(x: float | None) -> float | None:
    """JSON carries no NaN or infinity: anything not finite becomes null."""
    return float(x) if x is not None and math.isfinite(x) else None


def _interval(ci: tuple[float, float] | None, bounds: Bounds = None) -> list[float | None] | None:
    """The interval as JSON; a Student-t interval of an accuracy is cut to [0, 1] (the metric cannot leave it)."""
    if ci is None:
        return None
    low, high = ci
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return [_finite(low), _finite(high)]


def _best(cells: Sequence[CellStats], comparisons: Sequence[Comparison], baseline: str | None,
          direction: Direction) -> str | None:
    """The cell with the best mean, named only when the verdicts back it: a cell judged better than the baseline,
    or the baseline when every other cell was judged worse. A lone lucky seed is never "best"."""
    measured = [c for c in cells if c.mean is not None and c.n >= MIN_SEEDS]
    if not measured or not comparisons:
        return None
    pick = max if direction == "higher" else min
    top = pick(measured, key=lambda c: c.mean or 0.0).key
    verdicts = {c.key: c.verdict for c in comparisons}
    if top == baseline:
        return top if all(v == "worse" for v in verdicts.values()) else None
    return top if verdicts.get(top) == "better" else None


def _comparison(c: Comparison) -> dict[str, Any]:
    return {"key": c.key, "baseline": c.baseline, "diff": _finite(c.diff), "ci95": _interval(c.ci95),
            "p_value": _finite(c.p_value), "p_holm": _finite(c.p_holm), "prob_better": _finite(c.prob_better),
            "prob_better_ci95": _interval(c.prob_better_ci95), "effect_size": _finite(c.effect_size),
            "power": _finite(c.power), "seeds_for_80": c.seeds_for_80, "verdict": c.verdict, "reason": c.reason}


def _why_unrecorded(metric: str) -> str:
    needs = MIN_EVALUATIONS.get(metric)
    if needs is None:
        return "its method does not report it"
    # The monitor evaluates at each multiple of knn_every before the last epoch; the final evaluation adds one.
    every = "epochs - 1" if needs == 2 else f"(epochs - 1) / {needs - 1}"
    return f"it needs {needs} k-NN evaluations a run: at least {needs} epochs, knn_every at most {every}"


def _not_recorded(comparisons: list[dict[str, Any]], unrecorded: set[str], baseline: str | None, metric: str) -> None:
    """A cell (or baseline) whose succeeded runs never record the metric is said so, not "too few seeds"."""
    why = _why_unrecorded(metric)
    for row in comparisons:
        side = "this cell" if row["key"] in unrecorded else "the baseline" if baseline in unrecorded else None
        if side is not None:
            row["verdict"] = NOT_RECORDED
            row["reason"] = f"no succeeded run of {side} recorded this metric ({why})"


def paired_body(metric: str, paired: str, direction: Direction, cells: Sequence[PairedCell]) -> dict[str, Any]:
    """Each cell's metric against the paired metric on the same runs (stats.paired)."""
    def row(c: PairedComparison) -> dict[str, Any]:
        return {"key": c.key, "n": c.n, "mean_diff": _finite(c.mean_diff), "std_diff": _finite(c.std_diff),
                "ci95": _interval(c.ci95), "bootstrap_ci95": _interval(c.bootstrap_ci95),
                "p_value": _finite(c.p_value), "p_holm": _finite(c.p_holm), "wilcoxon_p": _finite(c.wilcoxon_p),
                "power": _finite(c.power), "seeds_for_80": c.seeds_for_80, "verdict": c.verdict,
                "reason": c.reason, "runs": c.runs}
    return {"metric": metric, "paired": paired, "comparisons": [row(c) for c in
                                                                compare_paired(cells, metric, paired, direction)]}


def _strip(values: Mapping[str, Any]) -> str:
    rest = [f"{k}={v}" for k, v in values.items() if k != DATASET]
    return ",".join(rest) or "all"


def datasets_body(cells: Sequence[CellStats], samples: Mapping[str, Sequence[float]], direction: Direction,
                  bounds: Bounds) -> dict[str, Any] | None:
    """Across a study that varies the dataset: per group of cells equal but for the dataset, the IQM, mean and
    median over every run of every dataset with stratified-bootstrap intervals, and the performance profile
    (rliable's definitions on the raw metric: accuracies share the [0, 1] scale). None when one dataset."""
    datasets = sorted({str(c.values[DATASET]) for c in cells if DATASET in c.values})
    if len(datasets) < 2:
        return None
    groups: dict[str, dict[str, list[float]]] = {}
    for cell in cells:
        if DATASET in cell.values:
            groups.setdefault(_strip(cell.values), {})[str(cell.values[DATASET])] = list(samples.get(cell.key, ()))
    tasks = {g: [by_dataset.get(d, []) for d in datasets] for g, by_dataset in groups.items()}
    taus = robust.profile_thresholds(list(tasks.values()))
    rows = []
    for group, scores in tasks.items():
        row: dict[str, Any] = {"key": group, "runs": [len(t) for t in scores],
                               "complete": all(len(t) for t in scores)}
        for name in robust.AGGREGATES:
            point, ci = robust.aggregate(scores, name)
            row[name], row[f"{name}_ci95"] = _finite(point), _interval(ci, bounds)
        row["profile"] = robust.score_distribution(scores, taus) if any(len(t) for t in scores) else None
        rows.append(row)
    return {"datasets": datasets, "taus": taus, "direction": direction, "groups": rows}


def study_stats(metric: str, direction: Direction, cells: list[CellStats], samples: Mapping[str, Sequence[float]],
                baseline: str | None, excluded: Mapping[str, int], unrecorded: set[str] | None = None,
                bounds: Bounds = None) -> dict[str, Any]:
    """Cells (mean, Student-t interval, IQM with its bootstrap interval), comparisons to the baseline, the best
    cell when the verdicts say so, the runs left out, and the aggregates over datasets when the study varies it."""
    chosen = baseline if baseline is not None else (default_baseline(cells) if cells else None)
    comparisons = compare_cells(cells, samples, chosen, direction) if chosen is not None else []
    rows = [_comparison(c) for c in comparisons]
    _not_recorded(rows, unrecorded or set(), chosen, metric)
    return {
        "metric": metric, "direction": direction, "baseline": chosen,
        "best": _best(cells, comparisons, chosen, direction),
        "cells": [{"key": c.key, "values": c.values, "n": c.n, "mean": _finite(c.mean), "std": _finite(c.std),
                   "ci95": _interval(c.ci95, bounds), "iqm": _finite(c.iqm), "iqm_ci95": _interval(c.iqm_ci95),
                   "recorded": c.key not in (unrecorded or set()), "runs": list(c.runs)} for c in cells],
        "comparisons": rows,
        "datasets": datasets_body(cells, samples, direction, bounds),
        "excluded": {status: int(count) for status, count in excluded.items()},
    }
