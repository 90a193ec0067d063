"""Robust aggregates with stratified bootstrap intervals, after rliable (Agarwal et al., NeurIPS 2021).

A score matrix is one list of run scores per task (a task is a dataset; a cell of a study that does not vary the
dataset is one task). The interquartile mean (IQM) is scipy's `trim_mean(·, 0.25)` over every run of every task;
the mean and median are those of the per-task means. The stratified bootstrap resamples runs with replacement
within each task, never across; its 95 % interval is the percentile interval, as rliable's default. Probability
of improvement is P(X > Y) per task with ties counted half (Mann–Whitney U / (n_x·n_y)), averaged over tasks; its
bootstrap resamples X and Y independently. A performance profile is, at each threshold τ, the share of runs
scoring above τ, averaged over tasks (rliable's score distribution). The bootstrap draws from a fixed seed, so
the same runs give the same interval on every request. The tests compare each number with rliable's functions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

REPS = 2000  # bootstrap replicates: the percentile interval moves by well under its own width between seeds
SEED = 0
Tasks = Sequence[Sequence[float] | np.ndarray]  # run scores per task; tasks may hold different numbers of runs


def iqm(x: np.ndarray, axis: int | None = None) -> np.ndarray | float:
    """Interquartile mean: the mean of the middle 50 % (scipy's trim_mean, a quarter cut on each side)."""
    from scipy import stats as sps  # here, not at import: scipy.stats is 0.9 s of CPU at every API start

    return sps.trim_mean(x, 0.25, axis=axis)


def _flat(tasks: Tasks) -> np.ndarray:  # every run of every task
    return np.concatenate([np.asarray(t, dtype=float) for t in tasks]) if tasks else np.array([])


def _resampled(tasks: Tasks, rng: np.random.Generator, reps: int) -> list[np.ndarray]:
    """Per task, (reps, its runs): every replicate draws each task's runs with replacement from that task only."""
    out = []
    for task in tasks:
        x = np.asarray(task, dtype=float)
        out.append(x[rng.integers(0, len(x), size=(reps, len(x)))])
    return out


def _percentile(values: np.ndarray) -> tuple[float, float]:
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def _task_means(x: list[np.ndarray]) -> np.ndarray:
    return np.stack([t.mean(axis=1) for t in x], axis=1)


Aggregate = Callable[[list[np.ndarray]], np.ndarray]  # per task (reps, runs) -> (reps,)
AGGREGATES: dict[str, Aggregate] = {  # rliable: IQM over every run; mean and median of the per-task means
    "iqm": lambda x: np.asarray(iqm(np.concatenate(x, axis=1), axis=1)),
    "mean": lambda x: _task_means(x).mean(axis=1),
    "median": lambda x: np.median(_task_means(x), axis=1),
}


def aggregate(tasks: Tasks, name: str = "iqm", reps: int = REPS, seed: int = SEED
              ) -> tuple[float | None, tuple[float, float] | None]:
    """An aggregate over the tasks' runs and its stratified-bootstrap 95 % interval; (None, None) when empty.

    One run in a task has nothing to resample: that task adds the same score to every replicate, so a single
    run gives a point interval, and so does a task whose runs all scored the same.
    """
    tasks = [t for t in tasks if len(t)]
    if not tasks:
        return None, None
    func = AGGREGATES[name]
    point = float(func([np.asarray(t, dtype=float)[None, :] for t in tasks])[0])
    if all(np.ptp(np.asarray(t, dtype=float)) == 0 for t in tasks):
        return point, (point, point)
    boot = func(_resampled(tasks, np.random.default_rng(seed), reps))
    return point, _percentile(boot)


def _task_improvement(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """P(x > y) + ½ P(x = y) for each replicate row: x (reps, n), y (reps, m)."""
    greater = (x[:, :, None] > y[:, None, :]).mean(axis=(1, 2))
    ties = (x[:, :, None] == y[:, None, :]).mean(axis=(1, 2))
    return greater + 0.5 * ties


def probability_of_improvement(x_tasks: Tasks, y_tasks: Tasks, reps: int = REPS, seed: int = SEED
                               ) -> tuple[float | None, tuple[float, float] | None]:
    """P(a run of X scores above a run of Y on the same task), averaged over tasks, and its bootstrap interval.

    Tasks pair up by position; a task empty on either side is left out. Direction is the caller's: for a metric
    where lower is better, pass the negated scores.
    """
    pairs = [(np.asarray(x, dtype=float), np.asarray(y, dtype=float)) for x, y in zip(x_tasks, y_tasks, strict=True)
             if len(x) and len(y)]
    if not pairs:
        return None, None
    point = float(np.mean([_task_improvement(x[None, :], y[None, :])[0] for x, y in pairs]))
    rng = np.random.default_rng(seed)
    boot = np.zeros(reps)
    for x, y in pairs:
        boot += _task_improvement(x[rng.integers(0, len(x), size=(reps, len(x)))],
                                  y[rng.integers(0, len(y), size=(reps, len(y)))])
    return point, _percentile(boot / len(pairs))


def score_distribution(tasks: Tasks, taus: Sequence[float]) -> list[float]:
    """At each threshold τ, the share of runs scoring above it, averaged over tasks (rliable's profile)."""
    arrays = [np.asarray(t, dtype=float) for t in tasks if len(t)]
    return [float(np.mean([np.mean(t > tau) for t in arrays])) for tau in taus]


def profile_thresholds(groups: Sequence[Tasks], points: int = 21) -> list[float]:
    """Evenly spaced thresholds from just under the lowest score to the highest, shared by every group."""
    scores = np.concatenate([_flat(tasks) for tasks in groups]) if groups else np.array([])
    if not len(scores):
        return []
    low, high = float(scores.min()), float(scores.max())
    span = high - low or max(abs(high), 1.0) * 0.01
    return [float(t) for t in np.linspace(low - span * 0.05, high, points)]
