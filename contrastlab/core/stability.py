"""How steady a run's accuracy curve is, as two numbers (lower is steadier): drawdown and volatility.

Pure Python on plain floats, so the engine (at the end of a run) and the server (on stored curves) compute
the same figures. The curve is a run's per-evaluation accuracy, in order: the k-NN monitor every
knn_every epochs, then the final evaluation.

A measure a curve is too short for is left out of a run's summary rather than written as 0, which would read as
"perfectly steady": drawdown needs two evaluations (one change), volatility three (two changes, a spread).
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def changes(curve: Sequence[float]) -> list[float]:
    """Differences between consecutive evaluations: curve[i + 1] - curve[i]."""
    return [after - before for before, after in zip(curve, curve[1:], strict=False)]


def drawdown(curve: Sequence[float]) -> float:
    """Sum of every drop between consecutive evaluations, as a positive number; 0 for a curve that never falls."""
    return float(sum(-change for change in changes(curve) if change < 0))


def volatility(curve: Sequence[float]) -> float:
    """Population standard deviation (ddof 0) of the consecutive changes; 0 with fewer than two changes.

    A curve that climbs by the same step every time has volatility 0: it measures the wobble, not the trend.
    """
    steps = changes(curve)
    if len(steps) < 2:
        return 0.0
    mean = sum(steps) / len(steps)
    return math.sqrt(sum((step - mean) ** 2 for step in steps) / len(steps))


MIN_EVALUATIONS = {"drawdown": 2, "volatility": 3}


def stability(curve: Sequence[float]) -> dict[str, float]:
    """The measures the curve is long enough for, under their catalogue names, ready for a run's summary."""
    measures = {"drawdown": drawdown, "volatility": volatility}
    return {name: measure(curve) for name, measure in measures.items() if len(curve) >= MIN_EVALUATIONS[name]}
