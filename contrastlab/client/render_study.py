"""`contrastlab study-stats --paired`: each cell's metric against a second metric of the same runs, as a table."""

from __future__ import annotations

from rich.table import Table

from contrastlab.client.formats import DASH, Catalog
from contrastlab.client.layout import add_row, table
from contrastlab.client.models import PairedStats


def _p(value: float | None) -> str:
    return DASH if value is None else f"{value:.2g}"


def _diff(catalog: Catalog, metric: str, value: float | None) -> str:
    """A difference in the metric's format with its sign: "+6.3 %" for accuracies."""
    if value is None:
        return DASH
    text = catalog.format(metric, abs(value))
    return ("+" if value >= 0 else "−") + text


def paired_table(paired: PairedStats, catalog: Catalog) -> Table:
    """One row per cell: n pairs, mean difference with its t and bootstrap 95 % intervals, p (Holm), Wilcoxon,
    power and the seeds for 80 %, and the verdict."""
    title = (f"{catalog.label(paired.metric)} − {catalog.label(paired.paired)} on the same runs "
             f"({paired.metric} − {paired.paired})")
    grid = table("cell", "n", "mean diff", "95% CI (t)", "95% CI (bootstrap)", "p (Holm)", "Wilcoxon p", "power",
                 "seeds for 80%", "verdict", title=title,
                 right=("n", "mean diff", "p (Holm)", "Wilcoxon p", "power", "seeds for 80%"))
    for c in paired.comparisons:
        t_ci = DASH if not c.ci95 else " … ".join(_diff(catalog, paired.metric, v) for v in c.ci95)
        boot = DASH if not c.bootstrap_ci95 else " … ".join(_diff(catalog, paired.metric, v) for v in c.bootstrap_ci95)
        add_row(grid, [c.key, str(c.n), _diff(catalog, paired.metric, c.mean_diff), t_ci, boot, _p(c.p_holm),
                       _p(c.wilcoxon_p), DASH if c.power is None else f"{c.power:.2f}",
                       DASH if c.seeds_for_80 is None else str(c.seeds_for_80), c.verdict])
    grid.caption = "t: paired t interval; bootstrap: 95 % percentile interval of the mean difference (pairs resampled)"
    return grid
