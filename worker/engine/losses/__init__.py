"""Method registry: spec.method -> Objective.

Adding a method (SupCon, triplet, ...) is one file in this package with its
loss function and an OBJECTIVE, plus one line in LOSSES.
"""

from __future__ import annotations

from . import simclr, supervised
from .base import Objective
from .simclr import nt_xent
from .supervised import cross_entropy

LOSSES: dict[str, Objective] = {
    "simclr": simclr.OBJECTIVE,
    "supervised": supervised.OBJECTIVE,
}

__all__ = ["LOSSES", "Objective", "cross_entropy", "nt_xent"]
