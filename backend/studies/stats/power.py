"""How many seeds: the power of a t-test at the observed effect, and the seeds per arm that would give 80 %.

Power is the chance that a two-sided t-test at α = 0.05 (uncorrected) detects an effect of the observed size:
with the noncentral t distribution, P(|T| > t_crit) where T has noncentrality δ. For two cells (Welch's
comparison), δ = d / √(1/n₁ + 1/n₂) on n₁ + n₂ − 2 degrees of freedom, d being Cohen's d with the pooled sd;
for a paired comparison, δ = d_z · √n on n − 1, d_z being the mean difference over the differences' sd. The
tests check both against statsmodels' TTestIndPower and TTestPower.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from statistics import NormalDist

ALPHA = 0.05
TARGET = 0.8
MAX_SEEDS = 1000  # beyond this the answer is "more than 1000": the effect is too small to chase with seeds


def _power(delta: float, df: float) -> float:
    from scipy import stats as sps  # here, not at import: scipy.stats is 0.9 s of CPU at every API start

    if delta > 40:  # scipy's noncentral t loses its precision here (NaN); the power is 1 to any shown digit
        return 1.0
    crit = float(sps.t.ppf(1 - ALPHA / 2, df))
    # The far tail (a significant result of the wrong sign) is NaN in scipy 1.17 at some large δ (10, 12, 16,
    # ...: measured) where it is below 1e-25; it is never more than the near tail's complement, so 0 there.
    wrong_sign = float(sps.nct.cdf(-crit, df, delta))
    return float(sps.nct.sf(crit, df, delta)) + (wrong_sign if math.isfinite(wrong_sign) else 0.0)


def power_two_sample(d: float | None, n1: int, n2: int) -> float | None:
    """Power of the two-sample t-test with n1 and n2 seeds at effect size d; None without an effect size."""
    if d is None or min(n1, n2) < 2:
        return None
    if math.isinf(d):
        return 1.0
    return _power(abs(d) / math.sqrt(1 / n1 + 1 / n2), n1 + n2 - 2)


def power_paired(dz: float | None, n: int) -> float | None:
    """Power of the paired (one-sample) t-test on n pairs at standardised mean difference dz."""
    if dz is None or n < 2:
        return None
    if math.isinf(dz):
        return 1.0
    return _power(abs(dz) * math.sqrt(n), n - 1)


def _smallest(power_at: Callable[[int], float], guess: float) -> int | None:
    """The smallest n ≥ 2 whose power reaches TARGET, scanned upwards from a little below the normal-theory
    guess (power grows with n); None past MAX_SEEDS."""
    if guess > MAX_SEEDS:
        return None
    n = max(2, int(guess) - 3)
    while n > 2 and power_at(n - 1) >= TARGET:
        n -= 1
    while power_at(n) < TARGET:
        n += 1
        if n > MAX_SEEDS:
            return None
    return n


_Z = NormalDist().inv_cdf(1 - ALPHA / 2) + NormalDist().inv_cdf(TARGET)


def seeds_two_sample(d: float | None) -> int | None:
    """Seeds per arm (equal arms) for 80 % power at effect size d; None when d is 0, unknown, or too small."""
    if d is None or d == 0:
        return None
    if math.isinf(d):
        return 2
    return _smallest(lambda n: power_two_sample(d, n, n) or 0.0, 2 * (_Z / abs(d)) ** 2)


def seeds_paired(dz: float | None) -> int | None:
    """Pairs (seeds) for 80 % power of the paired t-test at dz; None when dz is 0, unknown, or too small."""
    if dz is None or dz == 0:
        return None
    if math.isinf(dz):
        return 2
    return _smallest(lambda n: power_paired(dz, n) or 0.0, (_Z / abs(dz)) ** 2)


def cohens_d(diff: float, var_a: float, var_b: float, n_a: int, n_b: int) -> float | None:
    """Mean difference over the pooled sd; ±inf when both sides are constant and differ, 0 when equal."""
    pooled = math.sqrt(((n_a - 1) * var_a + (n_b - 1) * var_b) / (n_a + n_b - 2))
    if pooled == 0:
        return 0.0 if diff == 0 else math.copysign(math.inf, diff)
    return diff / pooled
