"""Method registry: the catalogue's method name -> Objective.

Adding a method is one file in this package (its loss function and an OBJECTIVE, with the paper in the
docstring) plus its entry in contrastlab/core/catalog.py (METHODS); `LOSSES` picks the objective up by
the name the catalogue gives it. A test checks that the two agree exactly.
"""

from __future__ import annotations

from contrastlab.core.catalog import METHODS

from . import contrastive, npairs, simclr, supcon, supervised, triplet
from .base import Objective
from .contrastive import contrastive_margin
from .npairs import n_pairs
from .simclr import nt_xent
from .supcon import supcon as supcon_loss
from .supervised import cross_entropy
from .triplet import triplet_batch_all, triplet_batch_hard, triplet_semihard

_OBJECTIVES: tuple[Objective, ...] = (simclr.OBJECTIVE, supcon.OBJECTIVE, contrastive.OBJECTIVE, npairs.OBJECTIVE,
                                      triplet.BATCH_HARD, triplet.BATCH_ALL, triplet.SEMIHARD, supervised.OBJECTIVE)
LOSSES: dict[str, Objective] = {objective.method: objective for objective in _OBJECTIVES}
if set(LOSSES) != set(METHODS):  # a catalogue entry without a loss (or the reverse) is a bug, found at import
    raise ImportError(f"loss registry and catalogue disagree: {sorted(set(LOSSES) ^ set(METHODS))}")

__all__ = [
    "LOSSES",
    "Objective",
    "contrastive_margin",
    "cross_entropy",
    "n_pairs",
    "nt_xent",
    "supcon_loss",
    "triplet_batch_all",
    "triplet_batch_hard",
    "triplet_semihard",
]
