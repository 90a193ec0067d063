"""Two metrics of the same runs, cell by cell: linear probe without the head against with it, trained against
its random-init encoder. Each run gives one difference d = metric − paired; a cell's verdict comes from the
paired t-test on its differences (Holm-corrected over the cells, worded as the baseline comparisons are), with
a paired bootstrap interval of the mean difference beside the t interval, and Wilcoxon's signed-rank test once
there are enough pairs for it to reach p < 0.05 at all (2·2⁻ⁿ ≤ 0.05 needs n ≥ 6). Zero variance (every pair
differs by the same amount) gives an exact answer, as Welch's comparison does; the tests check every number
against scipy's `ttest_rel`, `t.interval` and `wilcoxon`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from backend.studies.stats import power, robust
from backend.studies.stats.cells import MIN_SEEDS, Direction, holm, worded

MIN_WILCOXON = 6  # the smallest n whose exact two-sided signed-rank p can fall below 0.05
NOT_RECORDED = "not recorded for this cell"


@dataclass(frozen=True)
class PairedCell:
    """One cell's runs that recorded both metrics: (run id, metric, paired metric) each."""

    key: str
    pairs: list[tuple[int, float, float]]
    recorded: bool  # some succeeded run recorded both metrics; False: "not recorded for this cell"


@dataclass(frozen=True)
class PairedComparison:
    key: str
    n: int
    mean_diff: float | None
    std_diff: float | None
    ci95: tuple[float, float] | None
    bootstrap_ci95: tuple[float, float] | None
    p_value: float | None
    p_holm: float | None
    wilcoxon_p: float | None
    power: float | None
    seeds_for_80: int | None
    verdict: str
    reason: str
    runs: list[int]


def _paired_t(d: np.ndarray) -> tuple[float, float, tuple[float, float], float]:
    """Mean and sd of the differences, the t interval of the mean and the two-sided p (exact when sd is 0)."""
    from scipy import stats as sps  # here, not at import: scipy.stats is 0.9 s of CPU at every API start

    mean = float(d[0]) if np.ptp(d) == 0 else float(np.mean(d))
    sd = 0.0 if np.ptp(d) == 0 else float(np.std(d, ddof=1))
    if sd == 0:
        return mean, sd, (mean, mean), 1.0 if mean == 0 else 0.0
    se = sd / math.sqrt(len(d))
    p = float(2 * sps.t.sf(abs(mean) / se, len(d) - 1))
    half = float(sps.t.ppf(0.975, len(d) - 1)) * se
    return mean, sd, (mean - half, mean + half), p


def _wilcoxon(d: np.ndarray) -> float | None:
    """Signed-rank p (zero differences dropped, scipy's default) once MIN_WILCOXON pairs differ; 1 if none does."""
    from scipy import stats as sps

    if len(d) < MIN_WILCOXON:
        return None
    if not np.any(d):
        return 1.0
    if np.count_nonzero(d) < MIN_WILCOXON:
        return None
    return float(sps.wilcoxon(d).pvalue)


def _one(cell: PairedCell) -> PairedComparison:
    runs = [r for r, _, _ in cell.pairs]
    d = np.array([a - b for _, a, b in cell.pairs], dtype=float)
    if not np.all(np.isfinite(d)):
        raise ValueError(f"cell {cell.key!r}: a paired difference is a NaN or infinity; leave such runs out")
    empty = PairedComparison(cell.key, len(d), None, None, None, None, None, None, None, None, None, "", "", runs)
    if len(d) == 0:
        return empty
    if len(d) == 1:
        return replace(empty, mean_diff=float(d[0]), bootstrap_ci95=(float(d[0]), float(d[0])))
    mean, sd, ci, p = _paired_t(d)
    dz = (0.0 if mean == 0 else math.copysign(math.inf, mean)) if sd == 0 else mean / sd
    _, boot = robust.aggregate([d], "mean")
    return replace(empty, mean_diff=mean, std_diff=sd, ci95=ci, bootstrap_ci95=boot, p_value=p,
                   wilcoxon_p=_wilcoxon(d), power=power.power_paired(dz, len(d)), seeds_for_80=power.seeds_paired(dz))


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def _reason(comp: PairedComparison, recorded: bool, names: tuple[str, str], direction: Direction) -> tuple[str, str]:
    metric, paired = names
    if not recorded:
        return NOT_RECORDED, f"no succeeded run of this cell recorded both {metric} and {paired}"
    if comp.n < MIN_SEEDS:
        return "too few seeds", f"n = {comp.n} pairs: need at least {MIN_SEEDS} runs with both metrics"
    assert comp.mean_diff is not None and comp.p_holm is not None and comp.p_value is not None
    mean = f"mean {metric} − {paired} = {comp.mean_diff:+.3g} over {comp.n} runs"
    exact = "every run differs by the same amount: exact " if not comp.std_diff else ""
    lead = f"{exact}paired t p = {_fmt(comp.p_value)}"
    return worded(lead, comp.p_holm, comp.mean_diff, direction, mean)


def compare_paired(cells: Sequence[PairedCell], metric: str, paired: str, direction: Direction
                   ) -> list[PairedComparison]:
    """Every cell's metric against its paired metric on the same runs; Holm over the cells with a p-value.
    `better` means the first metric beats the second in the metric's direction."""
    raw = [_one(cell) for cell in cells]
    tested = [i for i, c in enumerate(raw) if c.p_value is not None]
    adjusted = dict(zip(tested, holm([raw[i].p_value or 0.0 for i in tested]), strict=True))
    out = []
    for i, (cell, comp) in enumerate(zip(cells, raw, strict=True)):
        comp = replace(comp, p_holm=adjusted.get(i))
        verdict, reason = _reason(comp, cell.recorded, (metric, paired), direction)
        out.append(replace(comp, verdict=verdict, reason=reason))
    return out
