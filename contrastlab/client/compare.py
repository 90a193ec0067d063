"""What `compare` shows: runs side by side, each seed group as mean ± std, and the spec fields that differ.

As the page's compare view (frontend/js/compare_data.js): runs of one seed group (two or more of them compared)
also form one row, the mean and sample standard deviation of their final metrics; "best" is judged among the
groups' means and the runs outside a group, never a single seed of a group.
"""

from __future__ import annotations

import math
import os
import re
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from contrastlab.client.formats import Catalog
from contrastlab.client.models import Run
from contrastlab.client.specs import differing_fields
from contrastlab.core.catalog import Status
from contrastlab.core.csv_cells import text_cell

SEED_SUFFIX = re.compile(r"\s*[·-]?\s*seed\s*\d+\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Spread:
    """Mean and sample standard deviation (ddof 1; 0 for one value) of n values."""

    mean: float
    std: float
    n: int


def summarize(values: Iterable[float | None]) -> Spread | None:
    """The finite values' mean and std; None when there are none."""
    finite = [float(v) for v in values if isinstance(v, int | float) and math.isfinite(v)]
    if not finite:
        return None
    return Spread(statistics.fmean(finite), statistics.stdev(finite) if len(finite) > 1 else 0.0, len(finite))


@dataclass(frozen=True)
class Group:
    """The compared runs of one seed group."""

    group_id: int
    runs: list[Run]

    @property
    def name(self) -> str:
        """The runs' name without the seed ("losses · method=supcon · seed 2" -> "losses · method=supcon"), the part
        they share when they differ (as the page's group row says)."""
        bare = [SEED_SUFFIX.sub("", run.name).strip() for run in self.runs]
        shared = os.path.commonprefix(bare).rstrip(" ·,=-")
        return shared or f"group {self.group_id}"

    def stats(self, key: str) -> Spread | None:
        return summarize(run.summary.get(key) for run in self.runs)


def seed_groups(runs: Sequence[Run]) -> list[Group]:
    """The groups with two or more of these runs, in the order they first appear."""
    members: dict[int, list[Run]] = {}
    for run in runs:
        if run.group_id is not None:
            members.setdefault(run.group_id, []).append(run)
    return [Group(group_id, found) for group_id, found in members.items() if len(found) > 1]


def metric_keys(runs: Sequence[Run], catalog: Catalog) -> list[str]:
    """Every final metric some run has, in the catalogue's order."""
    return catalog.ordered({key for run in runs for key in run.summary})


def best_entities(runs: Sequence[Run], groups: Sequence[Group], keys: Sequence[str],
                  catalog: Catalog) -> dict[str, str]:
    """Per metric, the best row in the metric's direction: "g<id>" for a group's mean, "r<id>" for a run outside
    a group; a metric without a direction has none, nor a loss when the runs' methods differ."""
    grouped = {run.id for group in groups for run in group.runs}
    best: dict[str, str] = {}
    methods = {run.spec.get("method") for run in runs}
    for key in keys:
        if catalog.metrics.get(key, {}).get("unit") == "nats" and len(methods) > 1:
            continue  # losses of different methods are different losses: none is "best"
        candidates = {f"r{run.id}": run.summary.get(key) for run in runs if run.id not in grouped}
        for group in groups:
            spread = group.stats(key)
            candidates[f"g{group.group_id}"] = spread.mean if spread else None
        top = catalog.best(key, candidates.values())
        if top is not None:
            best[key] = next(name for name, value in candidates.items() if value == top)
    return best


def group_line(group: Group, catalog: Catalog) -> str:
    """One line for a followed seed group: its succeeded seeds' mean ± std of each final metric."""
    succeeded = [run for run in group.runs if run.status == Status.SUCCEEDED]
    seeds = f"{len(succeeded)} of {len(group.runs)} seeds succeeded" if len(succeeded) < len(group.runs) \
        else f"{len(group.runs)} seeds"
    kept = Group(group.group_id, succeeded)
    metrics = []
    for key in metric_keys(succeeded, catalog):
        spread = kept.stats(key)
        if spread is not None:
            metrics.append(f"{catalog.label(key)} {catalog.format_spread(key, spread.mean, spread.std)}")
    return f"group {group.group_id} ({group.name}, {seeds}, mean ± std): {', '.join(metrics) or 'no final metrics'}"


def compare_document(runs: Sequence[Run], catalog: Catalog) -> dict[str, Any]:
    """`compare --json`: the runs as the API gives them, each group's mean, std and n per metric, the best row
    per metric, and the spec fields that differ (one value per run, in the runs' order)."""
    groups, keys = seed_groups(runs), metric_keys(runs, catalog)
    return {
        "runs": [run.model_dump() for run in runs],
        "groups": [{"group_id": g.group_id, "name": g.name, "runs": [run.id for run in g.runs],
                    "metrics": {key: vars(s) for key in keys if (s := g.stats(key)) is not None}} for g in groups],
        "best": best_entities(runs, groups, keys, catalog),
        "differing": differing_fields([run.spec for run in runs]),
    }


def compare_csv_rows(runs: Sequence[Run], catalog: Catalog) -> tuple[list[str], list[list[Any]]]:
    """`compare --csv`: one row per run, then one per seed group (its mean, and std in `<metric>_std`); every
    figure a plain number (fractions, seconds), names escaped against spreadsheet formulas."""
    groups, keys = seed_groups(runs), metric_keys(runs, catalog)
    header = ["row", "run_id", "group_id", "name", "status", "n"]
    for key in keys:
        header += [key, f"{key}_std"]
    rows: list[list[Any]] = []
    for run in runs:
        row: list[Any] = ["run", run.id, run.group_id, text_cell(run.name), run.status, 1]
        for key in keys:
            row += [run.summary.get(key), None]
        rows.append(row)
    for group in groups:
        row = ["group", None, group.group_id, text_cell(group.name), None, len(group.runs)]
        for key in keys:
            spread = group.stats(key)
            row += [spread.mean, spread.std] if spread else [None, None]
        rows.append(row)
    return header, rows


def runs_page(runs: Sequence[Run]) -> str:
    """The dashboard page of one run, or the compare page of several (seed groups drawn as mean ± std)."""
    return f"runs/{runs[0].id}" if len(runs) == 1 else f"compare?runs={','.join(str(run.id) for run in runs)}"
