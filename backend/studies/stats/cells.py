"""A study's cells: per-cell mean and Student-t interval, and each cell against a baseline (Welch, Holm).

Pure numbers in, plain values out (no web or database code), so the API, the CLI and the tests
see one verdict. Welch's test, its interval and Hedges' g are written out from their textbook
formulas with scipy's t distribution, so that zero variance (every seed gave the same number)
yields an exact answer instead of scipy's NaN and precision warnings; the tests check every
number against scipy's own `ttest_ind`, `t.interval` and `mannwhitneyu`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from backend.studies.stats import power, robust

Direction = Literal["higher", "lower"]
ALPHA = 0.05  # family-wise error rate of the Holm-corrected verdicts
MIN_SEEDS = 2  # a variance, hence a test, needs two samples per side
SUPERVISED = "supervised"  # the default baseline's method (catalogue name)


@dataclass(frozen=True)
class CellStats:
    """One combination of the axes: its values, the succeeded runs and the metric's summary."""

    key: str
    values: dict[str, Any]
    n: int
    mean: float | None
    std: float | None
    ci95: tuple[float, float] | None
    runs: list[int]
    iqm: float | None = None  # interquartile mean with its stratified-bootstrap 95 % interval (stats.robust)
    iqm_ci95: tuple[float, float] | None = None


@dataclass(frozen=True)
class Comparison:
    """One cell against the baseline cell; `diff` and `effect_size` are cell minus baseline."""

    key: str
    baseline: str
    diff: float | None
    ci95: tuple[float, float] | None
    p_value: float | None
    p_holm: float | None
    prob_better: float | None
    effect_size: float | None
    verdict: str
    reason: str
    prob_better_ci95: tuple[float, float] | None = None  # stratified bootstrap (backend.studies.stats.robust)
    power: float | None = None  # of Welch's test at the observed Cohen's d, α = 0.05 (stats.power)
    seeds_for_80: int | None = None  # seeds per arm for 80 % power at that effect; None: no effect to chase


def _array(key: str, samples: Sequence[float]) -> np.ndarray:
    """The samples as floats; a NaN or infinity is refused, since it would poison every figure."""
    x = np.asarray(samples, dtype=float).reshape(-1)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"cell {key!r}: the metric values {list(samples)} hold a NaN or infinity; "
                         "leave such runs out (count them in `excluded`)")
    return x


def _mean_var(x: np.ndarray) -> tuple[float, float]:
    """Mean and ddof-1 variance of two or more samples; exactly (value, 0) when all are equal (no rounding noise)."""
    if len(x) and np.ptp(x) == 0:
        return float(x[0]), 0.0
    return float(np.mean(x)), float(np.var(x, ddof=1))


def cell_stats(key: str, values: dict[str, Any], samples: Sequence[float], runs: Sequence[int]) -> CellStats:
    """Mean, std (ddof 1) and Student-t 95 % interval of one cell's metric over its succeeded runs."""
    from scipy import stats as sps  # here, not at import: scipy.stats is 0.9 s of CPU at every API start

    if len(samples) != len(runs):
        raise ValueError(f"cell {key!r}: {len(samples)} metric values for {len(runs)} runs; give one per run")
    x = _array(key, samples)
    n = len(x)
    if n == 0:
        return CellStats(key, dict(values), 0, None, None, None, list(runs))
    iqm, iqm_ci = robust.aggregate([x], "iqm")
    if n == 1:
        return CellStats(key, dict(values), 1, float(x[0]), None, None, list(runs), iqm, iqm_ci)
    mean, var = _mean_var(x)
    std = math.sqrt(var)
    half = float(sps.t.ppf(0.975, n - 1)) * std / math.sqrt(n)
    return CellStats(key, dict(values), n, mean, std, (mean - half, mean + half), list(runs), iqm, iqm_ci)


def default_baseline(cells: Sequence[CellStats]) -> str:
    """The first cell whose method is supervised (the cross-entropy reference), else the first cell."""
    if not cells:
        raise ValueError("a study with no cells has no baseline")
    supervised = [c.key for c in cells if c.values.get("method") == SUPERVISED]
    return supervised[0] if supervised else cells[0].key


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the input order: step-down, monotone, capped at 1."""
    m = len(p_values)
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(sorted(range(m), key=lambda j: p_values[j])):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def _welch(a: np.ndarray, b: np.ndarray) -> tuple[float, tuple[float, float], float]:
    """Difference of means a − b, its Welch 95 % interval and the two-sided Welch p-value."""
    from scipy import stats as sps

    (ma, va), (mb, vb) = _mean_var(a), _mean_var(b)
    diff, ua, ub = ma - mb, va / len(a), vb / len(b)
    se2 = ua + ub
    if se2 == 0:  # both sides constant: the difference is exact, no test needed
        return diff, (diff, diff), 1.0 if diff == 0 else 0.0
    df = se2**2 / (ua**2 / (len(a) - 1) + ub**2 / (len(b) - 1))  # Welch–Satterthwaite
    se = math.sqrt(se2)
    p = float(2 * sps.t.sf(abs(diff) / se, df))
    half = float(sps.t.ppf(0.975, df)) * se
    return diff, (diff - half, diff + half), p


def _hedges_g(a: np.ndarray, b: np.ndarray) -> float | None:
    """Hedges' g of a − b (pooled sd, small-sample factor J); None when the pooled sd is 0 but means differ."""
    (ma, va), (mb, vb) = _mean_var(a), _mean_var(b)
    na, nb = len(a), len(b)
    pooled = math.sqrt(((na - 1) * va + (nb - 1) * vb) / (na + nb - 2))
    if pooled == 0:
        return 0.0 if ma == mb else None
    return (1 - 3 / (4 * (na + nb) - 9)) * (ma - mb) / pooled


def _prob_better(a: np.ndarray, b: np.ndarray, direction: Direction) -> float | None:
    """P(a random seed of a beats one of b in the better direction), ties half: Mann–Whitney U / (nA·nB)."""
    from scipy import stats as sps

    if not len(a) or not len(b):
        return None
    share = float(sps.mannwhitneyu(a, b).statistic) / (len(a) * len(b))  # U of a: a > b counts, ties half
    return share if direction == "higher" else 1.0 - share


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def _reason(comp: Comparison, n_cell: int, n_base: int, constant: bool, direction: Direction) -> tuple[str, str]:
    """The verdict and its one-line reason."""
    if min(n_cell, n_base) < MIN_SEEDS:
        side = "this cell" if n_cell < MIN_SEEDS else "the baseline"
        if n_cell < MIN_SEEDS and n_base < MIN_SEEDS:
            side = "both cells"
        n = min(n_cell, n_base)
        return "too few seeds", f"n = {n} in {side}: need at least {MIN_SEEDS} succeeded seeds per cell"
    assert comp.diff is not None and comp.p_holm is not None
    mean = f"mean {comp.diff:+.3g} vs {comp.baseline}"
    if constant:
        how = "identical" if comp.diff == 0 else "different"
        lead = f"every seed gave the same value on each side, {how}: exact p = {_fmt(comp.p_value or 0.0)}"
    else:
        lead = f"p = {_fmt(comp.p_value or 0.0)}"
    return worded(lead, comp.p_holm, comp.diff, direction, mean)


def worded(lead: str, p_holm: float, diff: float, direction: Direction, mean: str) -> tuple[str, str]:
    """The verdict and its reason, in the words every comparison uses (between cells, or paired within one)."""
    if p_holm < ALPHA:
        improves = diff > 0 if direction == "higher" else diff < 0
        verdict = "better" if improves else "worse"
        return verdict, f"{lead}, p (Holm) = {_fmt(p_holm)} < {ALPHA}; {mean} ({direction} is better)"
    return "no detectable difference", f"{lead}, p (Holm) = {_fmt(p_holm)} >= {ALPHA}; {mean}"


def compare_cells(cells: Sequence[CellStats], samples: Mapping[str, Sequence[float]], baseline: str,
                  direction: Direction) -> list[Comparison]:
    """Every cell but the baseline against it; Holm runs over the comparisons that have a p-value."""
    keys = [c.key for c in cells]
    if baseline not in keys:
        raise ValueError(f"baseline {baseline!r} is not a cell of this study; choose one of {keys}")
    if direction not in ("higher", "lower"):
        raise ValueError(f"direction {direction!r}: the metric needs a direction, 'higher' or 'lower'")
    arrays = {c.key: _array(c.key, samples.get(c.key, ())) for c in cells}
    for cell in cells:
        if len(arrays[cell.key]) != cell.n:
            got = len(arrays[cell.key])
            raise ValueError(f"cell {cell.key!r}: {got} values but n = {cell.n}; pass the cell's own samples")
    base = arrays[baseline]
    raw: list[tuple[Comparison, int, bool]] = []
    for cell in cells:
        if cell.key == baseline:
            continue
        a = arrays[cell.key]
        diff = ci = p = g = None
        if min(len(a), len(base)) >= MIN_SEEDS:
            diff, ci, p = _welch(a, base)
            g = _hedges_g(a, base)
        prob = _prob_better(a, base, direction)
        sign = 1.0 if direction == "higher" else -1.0
        _, prob_ci = robust.probability_of_improvement([sign * a], [sign * base])
        power_now = seeds = None
        if diff is not None:
            d = power.cohens_d(diff, _mean_var(a)[1], _mean_var(base)[1], len(a), len(base))
            power_now, seeds = power.power_two_sample(d, len(a), len(base)), power.seeds_two_sample(d)
        raw.append((Comparison(cell.key, baseline, diff, ci, p, None, prob, g, "", "", prob_ci, power_now, seeds),
                    len(a), bool(len(a) and len(base) and np.ptp(a) == 0 and np.ptp(base) == 0)))
    tested = [i for i, (c, _, _) in enumerate(raw) if c.p_value is not None]
    adjusted = dict(zip(tested, holm([raw[i][0].p_value or 0.0 for i in tested]), strict=True))
    out = []
    for i, (comp, n_cell, constant) in enumerate(raw):
        comp = replace(comp, p_holm=adjusted.get(i))
        verdict, reason = _reason(comp, n_cell, len(base), constant, direction)
        out.append(replace(comp, verdict=verdict, reason=reason))
    return out
