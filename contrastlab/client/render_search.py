"""`contrastlab study-search`: a search's trials as a table, and a line on its confirmation."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from contrastlab.client.formats import DASH
from contrastlab.client.layout import add_row, table


def _shown(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def trials_table(view: dict[str, Any]) -> Table:
    """One row per trial: its values, status, final metric, the epoch it was pruned at and its steps."""
    metric = view.get("config", {}).get("metric", "knn_acc")
    grid = table("trial", "values", "status", metric, "pruned at epoch", "steps",
                 title=f"search: {len(view.get('trials', []))} of {view.get('config', {}).get('trials', '?')} "
                       f"trials ({view.get('state', '?')})", right=("trial", metric, "pruned at epoch", "steps"))
    best = view.get("best")
    for trial in view.get("trials", []):
        values = ", ".join(f"{k}={_shown(v)}" for k, v in trial["values"].items())
        mark = " ★" if trial["number"] == best else ""
        add_row(grid, [f"{trial['number']}{mark}", values, trial["status"],
                       DASH if trial["value"] is None else f"{trial['value']:.4f}",
                       DASH if trial["pruned_epoch"] is None else str(trial["pruned_epoch"]), str(trial["steps"])])
    grid.caption = "★ best completed trial; pruned: stopped by ASHA on the k-NN monitor"
    return grid


def confirmation_line(view: dict[str, Any]) -> str:
    confirm = view.get("confirmation")
    if not confirm:
        return "confirmation: not started (it starts once every trial is final)"
    return (f"confirmation: {confirm['best']} against the baseline {confirm['baseline']} on fresh seeds "
            f"{confirm['seeds']} ({len(confirm['runs'])} runs); the verdict (study-stats) counts these runs only")
