"""The losses: pure functions of tensors, each in float32 under autocast (`in_fp32`), the paper in its docstring.

`LOSSES` maps the catalogue's name of each method that is a loss on its head's outputs (SimCLR, SupCon, the
margin and triplet losses, N-pairs, cross-entropy) to its Objective; worker/engine/methods/ holds the methods
themselves, which call these functions.
"""

from __future__ import annotations

from contrastlab.core.catalog import METHODS

from . import contrastive, npairs, simclr, supcon, supervised, triplet
from .base import LossParams, Objective, in_fp32
from .contrastive import contrastive_margin
from .npairs import n_pairs
from .simclr import nt_xent
from .supcon import supcon as supcon_loss
from .supervised import cross_entropy
from .triplet import triplet_batch_all, triplet_batch_hard, triplet_semihard

_OBJECTIVES: tuple[Objective, ...] = (simclr.OBJECTIVE, supcon.OBJECTIVE, contrastive.OBJECTIVE, npairs.OBJECTIVE,
                                      triplet.BATCH_HARD, triplet.BATCH_ALL, triplet.SEMIHARD, supervised.OBJECTIVE)
LOSSES: dict[str, Objective] = {objective.method: objective for objective in _OBJECTIVES}
if not set(LOSSES) <= set(METHODS):  # an objective the catalogue does not know is a bug, found at import
    raise ImportError(f"objectives not in the catalogue: {sorted(set(LOSSES) - set(METHODS))}")

__all__ = [
    "LOSSES",
    "LossParams",
    "Objective",
    "contrastive_margin",
    "cross_entropy",
    "in_fp32",
    "n_pairs",
    "nt_xent",
    "supcon_loss",
    "triplet_batch_all",
    "triplet_batch_hard",
    "triplet_semihard",
]
