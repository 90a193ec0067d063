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
    supcon = "supcon"
    contrastive = "contrastive"
    npairs = "npairs"
    triplet_batch_hard = "triplet_batch_hard"
    triplet_batch_all = "triplet_batch_all"
    triplet_semihard = "triplet_semihard"
    supervised = "supervised"


class DatasetName(str, Enum):
    digits = "digits"
    fashion_mnist = "fashion_mnist"
    cifar10 = "cifar10"
    cifar100 = "cifar100"
    stl10 = "stl10"
    imagenette = "imagenette"
    flowers102 = "flowers102"
    oxford_pets = "oxford_pets"
    image_folder = "image_folder"


class EncoderName(str, Enum):
    small_cnn = "small_cnn"
    resnet18 = "resnet18"
    resnet34 = "resnet34"
    resnet50 = "resnet50"


class OptimizerName(str, Enum):
    sgd = "sgd"
    adam = "adam"
    adamw = "adamw"
    rmsprop = "rmsprop"
    lars = "lars"


class Schedule(str, Enum):
    cosine = "cosine"
    step = "step"
    constant = "constant"


class DeviceName(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


TEMPERATURE_METHODS = [Method.simclr.value, Method.supcon.value]
TRIPLET_METHODS = [Method.triplet_batch_hard.value, Method.triplet_batch_all.value, Method.triplet_semihard.value]
MARGIN_METHODS = [Method.contrastive.value, *TRIPLET_METHODS]
HEAD_METHODS = [m.value for m in Method if m is not Method.supervised]  # methods that train a projection head
DOWNLOADED = [d.value for d in (DatasetName.cifar10, DatasetName.cifar100, DatasetName.stl10,
                                DatasetName.imagenette, DatasetName.flowers102, DatasetName.oxford_pets)]


def _field(default: Any, group: str, help: str, methods: list[str] | None = None,
           datasets: list[str] | None = None, optimizers: list[str] | None = None, **bounds: Any) -> Any:
    """A spec field; `methods`, `datasets`, `optimizers` name the choices it applies to (the form hides it
    otherwise)."""
    extra: dict[str, Any] = {"group": group}
    for key, value in (("methods", methods), ("datasets", datasets), ("optimizers", optimizers)):
        if value is not None:
            extra[key] = value
    # Strict: `true` is not 1.0 and "5" is not 5 (an int still counts as a float). Enum fields stay lax so that
    # Python callers may pass "simclr" as well as Method.simclr.
    strict = not isinstance(default, Enum)
    return Field(default, description=help, json_schema_extra=extra, strict=strict, **bounds)


class RunSpec(BaseModel):
    """Everything needed to reproduce one run, with defaults filled in."""

    model_config = ConfigDict(extra="forbid", use_enum_values=True, validate_default=True, title="RunSpec")

    name: str = _field("", "run", "A label for this run, shown in lists and legends.", max_length=120)
    method: Method = _field(
        Method.simclr, "method",
        "simclr: NT-Xent on two augmented views (Chen et al. 2020). "
        "supcon: supervised contrastive, same-class views are positives (Khosla et al. 2020). "
        "contrastive: margin loss on pairwise distances (Hadsell et al. 2006). "
        "npairs: multi-class N-pair loss (Sohn 2016). "
        "triplet_batch_hard / triplet_batch_all / triplet_semihard: triplet loss with in-batch mining "
        "(Schroff et al. 2015; Hermans et al. 2017). "
        "supervised: cross-entropy baseline with the same encoder, augmentation and schedule.",
    )
    temperature: float = _field(
        0.5, "method", "Softmax temperature of the contrastive loss.", TEMPERATURE_METHODS, ge=0.01, le=10.0
    )
    margin: float = _field(
        0.5, "method",
        "Margin on L2-normalised embeddings: Euclidean distance for contrastive, squared distance for triplets.",
        MARGIN_METHODS, ge=0.0, le=4.0,
    )
    npairs_l2_reg: float = _field(
        0.002, "method", "Weight of the squared-norm penalty on the embeddings (Sohn 2016 used 0.002).",
        [Method.npairs.value], ge=0.0, le=1.0,
    )

    dataset: DatasetName = _field(
        DatasetName.digits, "data",
        "digits: scikit-learn's 8x8 digits (1,797 images, offline). "
        "fashion_mnist: 28x28 clothing (70,000 images, Debian package dataset-fashion-mnist). "
        "cifar10, cifar100, stl10, imagenette, flowers102, oxford_pets: torchvision's sets, downloaded into the "
        "worker's data folder on first use (needs a network). image_folder: class sub-folders under data_path.",
    )
    data_path: str | None = _field(
        None, "data",
        "image_folder only: a folder of class sub-folders (or with train/ and val/ or test/ inside), "
        "under a root the server allows (ALLOWED_DATA_ROOTS).",
        datasets=[DatasetName.image_folder.value], max_length=1000,
    )
    image_size: int | None = _field(
        None, "data",
        "Side in pixels that images are resized to. Empty: the dataset's own (32 CIFAR, 96 STL-10, "
        "64 for imagenette, flowers102, oxford_pets and image_folder).",
        ge=8, le=512,
    )
    use_unlabeled: bool = _field(
        False, "data", "stl10 only: pretrain on the 100,000 unlabeled images too (probes use the labelled train).",
        datasets=[DatasetName.stl10.value],
    )
    max_train_samples: int | None = _field(
        None, "data", "Use only the first N training images (stratified by class). Empty: all.",
        ge=10, le=10_000_000,
    )

    encoder: EncoderName = _field(
        EncoderName.small_cnn, "model",
        "small_cnn: 4 conv layers, fast on a CPU. resnet18/34/50: torchvision ResNets; images of 64 px or less "
        "get the small-image stem (3x3 conv, no max-pool), larger ones the standard stem.",
    )
    projection_depth: int = _field(2, "model", "Linear layers in the projection head (1: a single linear map).",
                                   HEAD_METHODS, ge=1, le=4)
    projection_hidden_dim: int = _field(256, "model", "Width of the projection head's hidden layers.",
                                        HEAD_METHODS, ge=8, le=8192)
    projection_dim: int = _field(64, "model", "Output size of the projection head.", HEAD_METHODS, ge=2, le=4096)
    init_from_run: int | None = _field(
        None, "model",
        "Start from the encoder of this earlier run (same encoder and image channels). With epochs 0 the run "
        "only evaluates that encoder: probe, k-NN, t-SNE.",
        ge=1,
    )

    epochs: int = _field(10, "optimisation", "Passes over the training set (0: evaluate only, with init_from_run).",
                         ge=0, le=10_000)
    batch_size: int = _field(256, "optimisation", "Images per step (each gives two views for contrastive methods).",
                             ge=2, le=65_536)
    optimizer: OptimizerName = _field(OptimizerName.adam, "optimisation",
                                      "Optimiser. lars: SGD with layer-wise trust ratios (You et al. 2017).")
    lr: float = _field(1e-3, "optimisation", "Peak learning rate.", gt=0.0, le=100.0)
    momentum: float = _field(0.9, "optimisation", "Momentum (sgd, rmsprop, lars).", ge=0.0, lt=1.0,
                             optimizers=["sgd", "rmsprop", "lars"])
    nesterov: bool = _field(False, "optimisation", "Nesterov momentum (sgd only).", optimizers=["sgd"])
    lars_trust: float = _field(0.001, "optimisation", "LARS trust coefficient.", ge=1e-6, le=1.0,
                               optimizers=["lars"])
    weight_decay: float = _field(1e-6, "optimisation", "Weight decay (not on biases and norm scales).",
                                 ge=0.0, le=1.0)
    schedule: Schedule = _field(Schedule.cosine, "optimisation",
                                "Learning-rate schedule after warm-up: cosine to zero, step decay, or constant.")
    lr_step_epochs: int = _field(30, "optimisation",
                                 "step schedule: multiply the rate by lr_step_gamma every N epochs.", ge=1, le=10_000)
    lr_step_gamma: float = _field(0.1, "optimisation", "step schedule: factor applied every lr_step_epochs.",
                                  gt=0.0, le=1.0)
    warmup_epochs: int = _field(0, "optimisation", "Epochs of linear warm-up from 0 to the peak rate.",
                                ge=0, le=1000)
    torch_compile: bool = _field(False, "optimisation",
                                 "Compile the encoder with torch.compile (CUDA; the first steps are slower).")

    augment: bool = _field(True, "augmentation", "Apply random augmentation. Off: views are the raw images.")
    crop_scale_min: float = _field(0.3, "augmentation", "Smallest area fraction kept by the random resized crop.",
                                   gt=0.0, le=1.0)
    crop_scale_max: float = _field(1.0, "augmentation", "Largest area fraction kept by the random resized crop.",
                                   gt=0.0, le=1.0)
    flip_prob: float = _field(0.5, "augmentation", "Probability of a horizontal flip.", ge=0.0, le=1.0)
    jitter_strength: float = _field(
        0.4, "augmentation",
        "Colour jitter strength s: brightness, contrast and saturation factors in [1-s, 1+s], hue shift up to s/4 "
        "(SimCLR's 0.8s : 0.2s ratio).", ge=0.0, le=2.0,
    )
    jitter_prob: float = _field(0.8, "augmentation", "Probability of applying colour jitter.", ge=0.0, le=1.0)
    grayscale_prob: float = _field(0.2, "augmentation", "Probability of converting a view to grey.", ge=0.0, le=1.0)
    blur_prob: float = _field(0.0, "augmentation", "Probability of a Gaussian blur (kernel about 10% of the side).",
                              ge=0.0, le=1.0)
    blur_sigma_min: float = _field(0.1, "augmentation", "Smallest blur sigma in pixels.", gt=0.0, le=20.0)
    blur_sigma_max: float = _field(2.0, "augmentation", "Largest blur sigma in pixels.", gt=0.0, le=20.0)

    knn_k: int = _field(20, "evaluation", "Neighbours in the k-NN monitor.", ge=1, le=1000)
    knn_temperature: float = _field(0.07, "evaluation", "Temperature of the k-NN vote weights.",
                                    ge=0.001, le=10.0)
    knn_every: int = _field(1, "evaluation", "Compute k-NN accuracy every N epochs (and always at the end).",
                            ge=1, le=1000)
    probe_epochs: int = _field(100, "evaluation", "Epochs of the linear probe on frozen features.", ge=1, le=10_000)
    tsne_samples: int = _field(1000, "evaluation", "Test images embedded with t-SNE.", ge=10, le=20_000)
    random_baseline: bool = _field(
        True, "evaluation",
        "Also probe a randomly initialised encoder of the same architecture (random_linear_acc, random_knn_acc).",
    )

    seed: int = _field(0, "run", "Random seed: the same spec and seed give the same metrics on a CPU.",
                       ge=0, le=2**31 - 1)
    device: DeviceName = _field(DeviceName.auto, "run", "Where to train: auto picks CUDA when present.")

    @field_validator("epochs")
    @classmethod
    def _evaluate_only_needs_an_encoder(cls, value: int, info: ValidationInfo) -> int:
        if value == 0 and info.data.get("init_from_run") is None:
            raise ValueError("0 (evaluate only) needs init_from_run, the run whose encoder to evaluate; "
                             "set init_from_run or train for 1 epoch or more")
        return value

    @field_validator("warmup_epochs")
    @classmethod
    def _warmup_below_epochs(cls, value: int, info: ValidationInfo) -> int:
        epochs = info.data.get("epochs")
        if value > 0 and epochs is not None and value >= epochs:
            raise ValueError(f"must be smaller than epochs ({epochs}); lower warmup_epochs or raise epochs")
        return value

    @field_validator("crop_scale_max", "blur_sigma_max")
    @classmethod
    def _range_upper_bound(cls, value: float, info: ValidationInfo) -> float:
        name = str(info.field_name)
        low_name = name.replace("_max", "_min")
        low = info.data.get(low_name)
        if low is not None and value < low:
            raise ValueError(f"must be at least {low_name} ({low}); raise {name} or lower {low_name}")
        return value

    @field_validator("use_unlabeled")
    @classmethod
    def _unlabeled_needs_no_labels(cls, value: bool, info: ValidationInfo) -> bool:
        if value and info.data.get("dataset") != DatasetName.stl10.value:
            raise ValueError("applies to dataset stl10 only; switch it off")
        if value and info.data.get("method") != Method.simclr.value:
            raise ValueError(f"unlabeled images have no labels for method {info.data.get('method')}; "
                             "use method simclr or switch use_unlabeled off")
        return value

    @field_validator("data_path")
    @classmethod
    def _path_with_image_folder(cls, value: str | None, info: ValidationInfo) -> str | None:
        dataset = info.data.get("dataset")
        if dataset == DatasetName.image_folder.value and not value:
            raise ValueError("dataset image_folder needs data_path, a folder of class sub-folders")
        if value and dataset is not None and dataset != DatasetName.image_folder.value:
            raise ValueError(f"applies to dataset image_folder only, not {dataset}; leave it empty")
        return value


def run_spec_schema() -> dict[str, Any]:
    """The JSON Schema the API serves and the browser form is built from."""
    return RunSpec.model_json_schema()
