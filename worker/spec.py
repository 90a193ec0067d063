"""RunSpec: the one contract between the form, the API and the worker.

Importable without torch. Every option carries its default, bounds and help
text here; the API validates with it and serves its JSON Schema, from which
the browser form is built. Each field's ``json_schema_extra`` names the form
group it belongs to and, where it applies to some methods only, which ones.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator


class Method(str, Enum):
    simclr = "simclr"
    supervised = "supervised"


class DatasetName(str, Enum):
    digits = "digits"
    fashion_mnist = "fashion_mnist"


class EncoderName(str, Enum):
    small_cnn = "small_cnn"
    resnet18 = "resnet18"


class OptimizerName(str, Enum):
    sgd = "sgd"
    adam = "adam"
    adamw = "adamw"


class Schedule(str, Enum):
    cosine = "cosine"
    constant = "constant"


class DeviceName(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


CONTRASTIVE = [Method.simclr.value]


def _field(default: Any, group: str, help: str, methods: list[str] | None = None, **bounds: Any) -> Any:
    extra: dict[str, Any] = {"group": group}
    if methods is not None:
        extra["methods"] = methods
    return Field(default, description=help, json_schema_extra=extra, **bounds)


class RunSpec(BaseModel):
    """Everything needed to reproduce one run, with defaults filled in."""

    model_config = ConfigDict(extra="forbid", use_enum_values=True, validate_default=True, title="RunSpec")

    name: str = _field("", "run", "A label for this run, shown in lists and legends.", max_length=120)
    method: Method = _field(
        Method.simclr, "method",
        "simclr: NT-Xent on two augmented views (Chen et al. 2020). "
        "supervised: cross-entropy baseline with the same encoder and augmentation.",
    )
    temperature: float = _field(
        0.5, "method", "Softmax temperature of the contrastive loss.", CONTRASTIVE, ge=0.01, le=10.0
    )

    dataset: DatasetName = _field(
        DatasetName.digits, "data",
        "digits: scikit-learn's 8x8 digits (1,797 images, offline). "
        "fashion_mnist: 28x28 clothing (70,000 images, Debian package dataset-fashion-mnist).",
    )
    max_train_samples: int | None = _field(
        None, "data", "Use only the first N training images (stratified by class). Empty: all.",
        ge=10, le=10_000_000,
    )

    encoder: EncoderName = _field(
        EncoderName.small_cnn, "model",
        "small_cnn: 4 conv layers, fast on a CPU. resnet18: torchvision ResNet-18 with a small-image stem.",
    )
    projection_hidden_dim: int = _field(256, "model", "Width of the projection head's hidden layer.", ge=8, le=8192)
    projection_dim: int = _field(64, "model", "Output size of the projection head.", ge=2, le=4096)

    epochs: int = _field(10, "optimisation", "Passes over the training set.", ge=1, le=10_000)
    batch_size: int = _field(256, "optimisation", "Images per step (each gives two views for contrastive methods).",
                             ge=2, le=65_536)
    optimizer: OptimizerName = _field(OptimizerName.adam, "optimisation", "Optimiser.")
    lr: float = _field(1e-3, "optimisation", "Peak learning rate.", gt=0.0, le=100.0)
    momentum: float = _field(0.9, "optimisation", "Momentum (SGD only).", ge=0.0, lt=1.0)
    weight_decay: float = _field(1e-6, "optimisation", "Weight decay.", ge=0.0, le=1.0)
    schedule: Schedule = _field(Schedule.cosine, "optimisation", "Learning-rate schedule after warm-up.")
    warmup_epochs: int = _field(0, "optimisation", "Epochs of linear warm-up from 0 to the peak rate.",
                                ge=0, le=1000)

    augment: bool = _field(True, "augmentation", "Apply random augmentation. Off: views are the raw images.")
    crop_scale_min: float = _field(0.3, "augmentation", "Smallest area fraction kept by the random resized crop.",
                                   gt=0.0, le=1.0)
    flip_prob: float = _field(0.5, "augmentation", "Probability of a horizontal flip.", ge=0.0, le=1.0)
    jitter_strength: float = _field(0.4, "augmentation", "Brightness and contrast jitter strength.",
                                    ge=0.0, le=2.0)
    jitter_prob: float = _field(0.8, "augmentation", "Probability of applying colour jitter.", ge=0.0, le=1.0)

    knn_k: int = _field(20, "evaluation", "Neighbours in the k-NN monitor.", ge=1, le=1000)
    knn_temperature: float = _field(0.07, "evaluation", "Temperature of the k-NN vote weights.",
                                    ge=0.001, le=10.0)
    knn_every: int = _field(1, "evaluation", "Compute k-NN accuracy every N epochs (and always at the end).",
                            ge=1, le=1000)
    probe_epochs: int = _field(100, "evaluation", "Epochs of the linear probe on frozen features.", ge=1, le=10_000)
    tsne_samples: int = _field(1000, "evaluation", "Test images embedded with t-SNE.", ge=10, le=20_000)

    seed: int = _field(0, "run", "Random seed: the same spec and seed give the same metrics on a CPU.",
                       ge=0, le=2**31 - 1)
    device: DeviceName = _field(DeviceName.auto, "run", "Where to train: auto picks CUDA when present.")

    @field_validator("warmup_epochs")
    @classmethod
    def _warmup_below_epochs(cls, value: int, info: ValidationInfo) -> int:
        epochs = info.data.get("epochs")
        if value > 0 and epochs is not None and value >= epochs:
            raise ValueError(f"must be smaller than epochs ({epochs}); lower warmup_epochs or raise epochs")
        return value


def run_spec_schema() -> dict[str, Any]:
    """The JSON Schema the API serves and the browser form is built from."""
    return RunSpec.model_json_schema()
