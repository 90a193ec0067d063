"""Optuna, rebuilt from our rows for each decision: sample the next trial, decide whether a running trial is pruned.

Why our rows rather than Optuna's RDBStorage: the API is the only writer of the database (SQLite has a single
writer); Optuna's tables would be a second schema with its own Alembic history beside ours; and a decision is
one transaction of ours, serialised by the study's guarded `search_version` (backend.studies.search.flow), so any
number of API processes and restarts see the same trials. Everything Optuna keeps per trial (params, the k-NN
monitor's values, the pruner's rung records, the grid sampler's cell) is a column of `search_runs`, and an
in-memory study built from them decides exactly as a persistent one would.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.pruners import BasePruner, NopPruner, SuccessiveHalvingPruner
from optuna.samplers import BaseSampler, GridSampler, RandomSampler, TPESampler
from optuna.trial import TrialState, create_trial

from backend.studies.schemas import SearchConfig
from backend.studies.search.space import Axes, as_range, distributions

optuna.logging.set_verbosity(optuna.logging.WARNING)


@dataclass
class TrialRecord:
    """What Optuna needs of one trial, read from its row and its run."""

    number: int
    params: dict[str, Any]
    state: TrialState
    value: float | None = None
    intermediate: dict[int, float] = field(default_factory=dict)
    system_attrs: dict[str, Any] = field(default_factory=dict)


def sampler(config: SearchConfig, axes: Axes, seed: int) -> BaseSampler:
    """The configured sampler, seeded (each decision of a study seeds it from the study and the trial number, so
    the same rows give the same sample in any process)."""
    if config.sampler == "random":
        return RandomSampler(seed=seed)
    if config.sampler == "grid":
        # One seed for every decision: the sampler numbers the grid's cells in an order its seed shuffles.
        return GridSampler({f: list(v) for f, v in axes.items() if as_range(v) is None}, seed=0)
    return TPESampler(seed=seed, n_startup_trials=max(2, min(10, config.trials // 3)))


def pruner(config: SearchConfig) -> BasePruner:
    """ASHA (successive halving) on the monitor's epochs 1, rf, rf², ...; or none."""
    if config.pruner == "none":
        return NopPruner()
    return SuccessiveHalvingPruner(min_resource=1, reduction_factor=config.reduction_factor,
                                   min_early_stopping_rate=0)


def rebuild(config: SearchConfig, axes: Axes, records: Sequence[TrialRecord], seed: int) -> tuple[optuna.Study,
                                                                                                   dict[int, int]]:
    """An in-memory study holding the trials, and each trial number's id in it."""
    study = optuna.create_study(direction="maximize" if config.direction == "max" else "minimize",
                                sampler=sampler(config, axes, seed), pruner=pruner(config))
    dists = distributions(axes)
    for record in records:
        state = record.state
        value = record.value if state == TrialState.COMPLETE else None
        if state == TrialState.COMPLETE and (value is None or not math.isfinite(value)):
            state = TrialState.FAIL
        study.add_trial(create_trial(state=state, value=value, params=record.params, distributions=dists,
                                     intermediate_values=dict(record.intermediate),
                                     system_attrs=dict(record.system_attrs)))
    ids = {record.number: trial._trial_id for record, trial in
           zip(records, study.get_trials(deepcopy=False), strict=True)}
    return study, ids


def ask(config: SearchConfig, axes: Axes, records: Sequence[TrialRecord], seed: int
        ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The next trial's params and the system attributes its sampler keeps (the grid sampler's cell)."""
    study, _ = rebuild(config, axes, records, seed)
    trial = study.ask(distributions(axes))
    kept = study._storage.get_trial(trial._trial_id).system_attrs
    return dict(trial.params), dict(kept)


def should_prune(config: SearchConfig, axes: Axes, records: Sequence[TrialRecord], number: int
                 ) -> tuple[bool, dict[str, Any]]:
    """Whether the pruner stops trial `number` at its last monitor value, and its system attributes after the
    decision (the rungs it completed, which the next decisions compare against)."""
    study, ids = rebuild(config, axes, records, seed=0)
    trial_id = ids[number]
    frozen = study._storage.get_trial(trial_id)
    decision = bool(study.pruner.prune(study, frozen))
    return decision, dict(study._storage.get_trial(trial_id).system_attrs)


def best(records: Sequence[TrialRecord], direction: str) -> TrialRecord | None:
    """The completed trial with the best final value (the first of equals), or None when none completed."""
    done = [r for r in records if r.state == TrialState.COMPLETE and r.value is not None and math.isfinite(r.value)]
    if not done:
        return None
    sign = 1.0 if direction == "max" else -1.0
    return max(done, key=lambda r: (sign * float(r.value or 0.0), -r.number))


def intermediate_of(stored: Mapping[str, Any]) -> dict[int, float]:
    """The row's JSON (epoch as text -> value) as Optuna's steps."""
    return {int(k): float(v) for k, v in stored.items() if isinstance(v, int | float) and math.isfinite(v)}
