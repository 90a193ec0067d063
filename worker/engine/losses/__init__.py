"""Method registry: spec.method -> Objective.

Adding a method is one file in this package with its loss function and an
OBJECTIVE, plus one line in LOSSES.
"""

from __future__ import annotations

from . import contrastive, npairs, simclr, supcon, supervised, triplet
from .base import Objective
from .contrastive import contrastive_margin
from .npairs import n_pairs
from .simclr import nt_xent
from .supcon import supcon as supcon_loss
from .supervised import cross_entropy
from .triplet import triplet_batch_all, triplet_batch_hard, triplet_semihard

LOSSES: dict[str, Objective] = {
    "simclr": simclr.OBJECTIVE,
    "supcon": supcon.OBJECTIVE,
    "contrastive": contrastive.OBJECTIVE,
    "npairs": npairs.OBJECTIVE,
    "triplet_batch_hard": triplet.BATCH_HARD,
    "triplet_batch_all": triplet.BATCH_ALL,
    "triplet_semihard": triplet.SEMIHARD,
    "supervised": supervised.OBJECTIVE,
}

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
