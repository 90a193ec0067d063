"""A study's statistics, computed on the server with numpy and scipy only, so every client sees one verdict.

cells: each cell's mean, Student-t interval and IQM, each cell against a baseline (Welch, Holm, P(better));
paired: two metrics of the same runs; robust: rliable's IQM, stratified bootstrap, probability of improvement and
performance profiles; power: power at the observed effect and the seeds for 80 %; body: the /stats answer.
"""

from backend.studies.stats.body import paired_body, study_stats
from backend.studies.stats.cells import (
    ALPHA,
    MIN_SEEDS,
    CellStats,
    Comparison,
    Direction,
    cell_stats,
    compare_cells,
    default_baseline,
    holm,
)
from backend.studies.stats.paired import NOT_RECORDED, PairedCell, compare_paired

__all__ = ["ALPHA", "MIN_SEEDS", "NOT_RECORDED", "CellStats", "Comparison", "Direction", "PairedCell", "cell_stats",
           "compare_cells", "compare_paired", "default_baseline", "holm", "paired_body", "study_stats"]
