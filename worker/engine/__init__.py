"""ContrastLab's training engine: pure PyTorch, driven by a RunSpec, reporting through a Reporter.

Anything can drive it (a Celery task, a test, a benchmark); it imports no web or queue code.
From a shell: python -m worker.engine method=simclr epochs=2.

Note: `worker.engine.train` is the function below; the loop lives in the module of the same
name, reached with `from worker.engine.train import pretrain`.
"""

from .checkpoint import load_encoder, spec_from_checkpoint
from .data import ImageData, load_dataset
from .errors import TrainingCanceled, TrainingFailed
from .evaluate import encode
from .losses import LOSSES, nt_xent
from .models import build_encoder, build_projection_head
from .report import ListReporter, NullReporter, Reporter
from .run import train

__all__ = [
    "LOSSES",
    "ImageData",
    "ListReporter",
    "NullReporter",
    "Reporter",
    "TrainingCanceled",
    "TrainingFailed",
    "build_encoder",
    "build_projection_head",
    "encode",
    "load_dataset",
    "load_encoder",
    "nt_xent",
    "spec_from_checkpoint",
    "train",
]
