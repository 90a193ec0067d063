"""RunSpec: the one contract between the form, the API and the worker.

Importable without torch. Every option carries its default, bounds and help
text here; the API validates with it and serves its JSON Schema, from which
the browser form is built. Each field's ``json_schema_extra`` names the form
group it belongs to and, where it applies to some methods only, which ones.
"""

from __future__ import annotations

from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    ModelWrapValidatorHandler,
    ValidationError,
    field_validator,
    model_validator,
)

from contrastlab.core.catalog import DATASETS, methods_reading
from contrastlab.core.choices import (
    STREAMABLE,
    DataLoading,
    DatasetName,
    DeviceName,
    EncoderName,
    MethodName,
    OptimizerName,
    Schedule,
    spec_field,
)
from contrastlab.core.cross_checks import as_details, problem_details, validation_error

# Stored specs carry this; bump it when a field changes meaning or a value stops being valid, and add the upgrade
# to `upgrade_spec` below.
SPEC_VERSION = 1
MAX_DEVICES = 16  # one run spans one host (torchrun --standalone); the largest hosts hold 16 GPUs




class RunSpec(BaseModel):
    """Everything needed to reproduce one run, with defaults filled in."""

    # allow_inf_nan=False: NaN, Infinity and 1e999 are legal in Python's JSON, never a valid setting.
    model_config = ConfigDict(extra="forbid", use_enum_values=True, validate_default=True, title="RunSpec",
                              allow_inf_nan=False)

    @field_validator("name", "data_path")
    @classmethod
    def _no_nul(cls, value: str | None) -> str | None:
        """No NUL character: PostgreSQL cannot store one in text or JSON, and no name or path needs it."""
        if value is not None and "\x00" in value:
            raise ValueError("must not contain a NUL character (\\u0000); remove it")
        return value

    name: str = spec_field("", "run", "A label for this run, shown in lists and legends.", max_length=120)
    method: MethodName = spec_field(
        "simclr", "method",
        "simclr: NT-Xent on two augmented views (Chen et al. 2020). "
        "supcon: supervised contrastive, same-class views are positives (Khosla et al. 2020). "
        "contrastive: margin loss on pairwise distances (Hadsell et al. 2006). "
        "npairs: multi-class N-pair loss (Sohn 2016). "
        "triplet_batch_hard / triplet_batch_all / triplet_semihard: triplet loss with in-batch mining "
        "(Schroff et al. 2015; Hermans et al. 2017). "
        "byol: a predictor regresses a momentum target network's projection (Grill et al. 2020). "
        "moco_v3: InfoNCE of a predictor's query against a momentum encoder's keys (Chen et al. 2021). "
        "simsiam: a predictor regresses the other view's projection under stop-gradient (Chen and He 2021). "
        "vicreg: variance-invariance-covariance regularisation (Bardes et al. 2022). "
        "barlow_twins: cross-correlation of the two views pushed to the identity (Zbontar et al. 2021). "
        "dino: a student matches a momentum teacher's centred, sharpened output over multi-crops (Caron et al. "
        "2021). swav: swapped prediction of Sinkhorn-Knopp cluster codes over multi-crops (Caron et al. 2020). "
        "nnclr: InfoNCE with the nearest neighbour from a support set as the positive (Dwibedi et al. 2021). "
        "supervised: cross-entropy baseline with the same encoder, augmentation and schedule.",
    )
    temperature: float = spec_field(
        0.5, "method", "Softmax temperature of the contrastive loss.", methods_reading("temperature"), ge=0.01, le=10.0
    )
    margin: float = spec_field(
        0.5, "method",
        "Margin on L2-normalised embeddings: Euclidean distance for contrastive, squared distance for triplets.",
        methods_reading("margin"), ge=0.0, le=4.0,
    )
    npairs_l2_reg: float = spec_field(
        0.002, "method", "Weight of the squared-norm penalty on the embeddings (Sohn 2016 used 0.002).",
        methods_reading("npairs_l2_reg"), ge=0.0, le=1.0,
    )
    vicreg_invariance_weight: float = spec_field(
        25.0, "method", "VICReg's lambda: weight of the invariance (mean squared error) term (Bardes et al. 2022: 25).",
        methods_reading("vicreg_invariance_weight"), ge=0.0, le=1000.0,
    )
    vicreg_variance_weight: float = spec_field(
        25.0, "method", "VICReg's mu: weight of the variance hinge keeping each dimension's std at 1 (paper: 25).",
        methods_reading("vicreg_variance_weight"), ge=0.0, le=1000.0,
    )
    vicreg_covariance_weight: float = spec_field(
        1.0, "method", "VICReg's nu: weight of the off-diagonal covariance penalty (paper: 1).",
        methods_reading("vicreg_covariance_weight"), ge=0.0, le=1000.0,
    )
    barlow_lambda: float = spec_field(
        0.005, "method",
        "Barlow Twins' lambda: weight of the off-diagonal (redundancy) terms of the cross-correlation matrix "
        "(Zbontar et al. 2021: 5e-3).", methods_reading("barlow_lambda"), ge=0.0, le=1.0,
    )
    small_crops: int = spec_field(
        6, "method",
        "Multi-crop: small low-resolution crops per image beside the 2 large ones (SwAV: 6; DINO's code: 8). "
        "They cover small_crop_scale_min to crop_scale_min of the image at 96/224 of its side. 0: two views only.",
        methods_reading("small_crops"), ge=0, le=16,
    )
    small_crop_scale_min: float = spec_field(
        0.05, "method", "Multi-crop: smallest area fraction of a small crop (SwAV and DINO: 0.05).",
        methods_reading("small_crop_scale_min"), gt=0.0, le=1.0,
    )
    dino_prototypes: int = spec_field(
        4096, "method",
        "DINO: output dimension K of the head's last (weight-normalised) layer. The paper uses 65,536 on "
        "ImageNet; 4,096 is solo-learn's CIFAR setting and fits a CPU.", methods_reading("dino_prototypes"),
        ge=2, le=262_144,
    )
    dino_student_temperature: float = spec_field(
        0.1, "method", "DINO: temperature of the student's softmax (Caron et al. 2021: 0.1).",
        methods_reading("dino_student_temperature"), ge=0.01, le=10.0,
    )
    dino_teacher_temperature: float = spec_field(
        0.04, "method",
        "DINO: temperature of the teacher's softmax after the warm-up; lower sharpens more (paper: 0.04 to 0.07).",
        methods_reading("dino_teacher_temperature"), ge=0.001, le=1.0,
    )
    dino_warmup_teacher_temperature: float = spec_field(
        0.04, "method", "DINO: the teacher's temperature at the first epoch, raised linearly to "
        "dino_teacher_temperature over dino_warmup_teacher_epochs (paper: 0.04).",
        methods_reading("dino_warmup_teacher_temperature"), ge=0.001, le=1.0,
    )
    dino_warmup_teacher_epochs: int = spec_field(
        30, "method", "DINO: epochs of the teacher temperature's linear warm-up (paper: 30; 0: none).",
        methods_reading("dino_warmup_teacher_epochs"), ge=0, le=10_000,
    )
    dino_center_momentum: float = spec_field(
        0.9, "method", "DINO: momentum of the teacher centre's moving average (paper: 0.9).",
        methods_reading("dino_center_momentum"), ge=0.0, lt=1.0,
    )
    dino_teacher_momentum: float = spec_field(
        0.996, "method", "DINO: the teacher's EMA momentum tau at the first step, raised to 1 along a cosine over "
        "the run (paper: 0.996).", methods_reading("dino_teacher_momentum"), ge=0.0, le=1.0,
    )
    dino_freeze_last_layer_epochs: int = spec_field(
        1, "method", "DINO: epochs during which the head's last layer is not trained (paper: 1).",
        methods_reading("dino_freeze_last_layer_epochs"), ge=0, le=10_000,
    )
    swav_prototypes: int = spec_field(
        3000, "method", "SwAV: number of prototypes (cluster centres) K (Caron et al. 2020: 3,000).",
        methods_reading("swav_prototypes"), ge=2, le=100_000,
    )
    swav_temperature: float = spec_field(
        0.1, "method", "SwAV: temperature of the swapped prediction's softmax (paper: 0.1).",
        methods_reading("swav_temperature"), ge=0.01, le=10.0,
    )
    swav_epsilon: float = spec_field(
        0.05, "method", "SwAV: entropy regularisation epsilon of the Sinkhorn-Knopp codes; lower is sharper "
        "(paper: 0.05).", methods_reading("swav_epsilon"), ge=0.001, le=1.0,
    )
    swav_sinkhorn_iterations: int = spec_field(
        3, "method", "SwAV: Sinkhorn-Knopp iterations (paper: 3).", methods_reading("swav_sinkhorn_iterations"),
        ge=1, le=100,
    )
    swav_freeze_prototypes_epochs: int = spec_field(
        1, "method", "SwAV: epochs during which the prototypes are not trained (paper: the first epoch).",
        methods_reading("swav_freeze_prototypes_epochs"), ge=0, le=10_000,
    )
    swav_queue_length: int = spec_field(
        0, "method",
        "SwAV: embeddings of past batches kept per large crop and added to the Sinkhorn codes' batch once the "
        "queue is full, for small batches (paper: 3,840 at batch 256). 0: no queue.",
        methods_reading("swav_queue_length"), ge=0, le=1_000_000,
    )
    nnclr_support_size: int = spec_field(
        98_304, "method", "NNCLR: projections of past batches kept as the support set the nearest neighbours come "
        "from (Dwibedi et al. 2021: 98,304).", methods_reading("nnclr_support_size"), ge=1, le=1_000_000,
    )
    nnclr_temperature: float = spec_field(
        0.1, "method", "NNCLR: softmax temperature of its InfoNCE (paper: 0.1).",
        methods_reading("nnclr_temperature"), ge=0.01, le=10.0,
    )

    predictor_hidden_dim: int = spec_field(
        512, "model", "Width of the predictor MLP on the projector (BYOL and MoCo v3: 4,096 on ImageNet; SimSiam's "
        "bottleneck: 512).", methods_reading("predictor_hidden_dim"), ge=8, le=16384,
    )
    byol_momentum: float = spec_field(
        0.99, "method", "BYOL: the target network's EMA momentum tau at the first step, raised to 1 along a cosine "
        "over the run (Grill et al. 2020: 0.996 on ImageNet; solo-learn's CIFAR setting: 0.99).",
        methods_reading("byol_momentum"), ge=0.0, le=1.0,
    )
    moco_temperature: float = spec_field(
        0.2, "method", "MoCo v3: softmax temperature of its InfoNCE (Chen et al. 2021; solo-learn's CIFAR setting: "
        "0.2).", methods_reading("moco_temperature"), ge=0.01, le=10.0,
    )
    moco_momentum: float = spec_field(
        0.99, "method", "MoCo v3: the momentum encoder's EMA tau at the first step, raised to 1 along a cosine "
        "(paper: 0.99).", methods_reading("moco_momentum"), ge=0.0, le=1.0,
    )
    moco_queue_size: int = spec_field(
        0, "method", "MoCo: past keys kept as extra negatives (MoCo v2's queue: 65,536). 0: MoCo v3, the other "
        "keys of the batch only.", methods_reading("moco_queue_size"), ge=0, le=1_000_000,
    )

    dataset: DatasetName = spec_field(
        "digits", "data",
        "digits: scikit-learn's 8x8 digits (1,797 images, offline). "
        "fashion_mnist: 28x28 clothing (70,000 images, Debian package dataset-fashion-mnist). "
        "cifar10, cifar100, stl10, imagenette, flowers102, oxford_pets: torchvision's sets, downloaded into the "
        "worker's data folder on first use (needs a network). image_folder: class sub-folders under data_path.",
    )
    data_path: str | None = spec_field(
        None, "data",
        "image_folder only: a folder of class sub-folders (or with train/ and val/ or test/ inside), "
        "under a root the server allows (ALLOWED_DATA_ROOTS).",
        datasets=["image_folder"], max_length=1000,
    )
    image_size: int | None = spec_field(
        None, "data",
        "Side in pixels that images are resized to. Empty: the dataset's own (32 CIFAR, 96 STL-10, "
        "64 for imagenette, flowers102, oxford_pets and image_folder). digits (16) and fashion_mnist (28) keep "
        "their own size.",
        datasets=[name for name, info in DATASETS.items() if info.resizes], ge=8, le=512,
    )
    use_unlabeled: bool = spec_field(
        False, "data", "stl10 only: pretrain on the 100,000 unlabeled images too (probes use the labelled train).",
        datasets=["stl10"],
    )
    data_loading: DataLoading = spec_field(
        DataLoading.auto, "data",
        "memory: decode the whole dataset once and keep it in memory (on the GPU when it fits). stream: read and "
        "decode each batch from disk in DataLoader workers, for sets larger than memory (STL-10's unlabeled "
        "split, large image folders); the augmentation stays batched on the device. auto: stream when the "
        "decoded images exceed the worker's setting STREAM_ABOVE_MB.",
        datasets=STREAMABLE,
    )
    max_train_samples: int | None = spec_field(
        None, "data", "Use only the first N training images (stratified by class). Empty: all.",
        ge=10, le=10_000_000,
    )

    encoder: EncoderName = spec_field(
        EncoderName.small_cnn, "model",
        "small_cnn: 4 conv layers, fast on a CPU. resnet18/34/50: torchvision ResNets; images of 64 px or less "
        "get the small-image stem (3x3 conv, no max-pool), larger ones the standard stem.",
    )
    projection_depth: int = spec_field(2, "model", "Linear layers in the projection head (1: a single linear map).",
                                   methods_reading("projection_depth"), ge=1, le=4)
    projection_hidden_dim: int = spec_field(256, "model", "Width of the projection head's hidden layers.",
                                        methods_reading("projection_hidden_dim"), ge=8, le=8192)
    projection_dim: int = spec_field(64, "model", "Output size of the projection head.",
                                 methods_reading("projection_dim"), ge=2, le=4096)
    init_from_run: int | None = spec_field(
        None, "model",
        "Start from the encoder of this earlier run (same encoder and image channels). With epochs 0 the run "
        "only evaluates that encoder: probe, k-NN, t-SNE.",
        ge=1,
    )

    epochs: int = spec_field(10, "optimisation", "Passes over the training set (0: evaluate only, with init_from_run).",
                         ge=0, le=10_000)
    batch_size: int = spec_field(256, "optimisation", "Images per step (each gives two views for contrastive methods).",
                             ge=2, le=65_536)
    optimizer: OptimizerName = spec_field(OptimizerName.adam, "optimisation",
                                      "Optimiser. lars: SGD with layer-wise trust ratios (You et al. 2017).")
    lr: float = spec_field(1e-3, "optimisation", "Peak learning rate.", gt=0.0, le=100.0)
    momentum: float = spec_field(0.9, "optimisation", "Momentum (sgd, rmsprop, lars).", ge=0.0, lt=1.0,
                             optimizers=["sgd", "rmsprop", "lars"])
    nesterov: bool = spec_field(False, "optimisation", "Nesterov momentum (sgd only).", optimizers=["sgd"])
    lars_trust: float = spec_field(0.001, "optimisation", "LARS trust coefficient.", ge=1e-6, le=1.0,
                               optimizers=["lars"])
    weight_decay: float = spec_field(1e-6, "optimisation", "Weight decay (not on biases and norm scales).",
                                 ge=0.0, le=1.0)
    schedule: Schedule = spec_field(Schedule.cosine, "optimisation",
                                "Learning-rate schedule after warm-up: cosine to zero, step decay, or constant.")
    lr_step_epochs: int = spec_field(30, "optimisation",
                                 "step schedule: multiply the rate by lr_step_gamma every N epochs.",
                                 schedules=["step"], ge=1, le=10_000)
    lr_step_gamma: float = spec_field(0.1, "optimisation", "step schedule: factor applied every lr_step_epochs.",
                                  schedules=["step"], gt=0.0, le=1.0)
    warmup_epochs: int = spec_field(0, "optimisation", "Epochs of linear warm-up from 0 to the peak rate.",
                                ge=0, le=1000)
    torch_compile: bool = spec_field(False, "optimisation",
                                 "Compile the encoder with torch.compile (CUDA; the first steps are slower).")

    augment: bool = spec_field(True, "augmentation", "Apply random augmentation. Off: views are the raw images.")
    crop_scale_min: float = spec_field(0.3, "augmentation", "Smallest area fraction kept by the random resized crop.",
                                   gt=0.0, le=1.0)
    crop_scale_max: float = spec_field(1.0, "augmentation", "Largest area fraction kept by the random resized crop.",
                                   gt=0.0, le=1.0)
    flip_prob: float = spec_field(0.5, "augmentation", "Probability of a horizontal flip.", ge=0.0, le=1.0)
    jitter_strength: float = spec_field(
        0.4, "augmentation",
        "Colour jitter strength s: brightness, contrast and saturation factors in [1-s, 1+s], hue shift up to s/4 "
        "(SimCLR's 0.8s : 0.2s ratio).", ge=0.0, le=2.0,
    )
    jitter_prob: float = spec_field(0.8, "augmentation", "Probability of applying colour jitter.", ge=0.0, le=1.0)
    grayscale_prob: float = spec_field(0.2, "augmentation", "Probability of converting a view to grey.", ge=0.0, le=1.0)
    blur_prob: float = spec_field(0.0, "augmentation", "Probability of a Gaussian blur (kernel about 10% of the side).",
                              ge=0.0, le=1.0)
    blur_sigma_min: float = spec_field(0.1, "augmentation", "Smallest blur sigma in pixels.", gt=0.0, le=20.0)
    blur_sigma_max: float = spec_field(2.0, "augmentation", "Largest blur sigma in pixels.", gt=0.0, le=20.0)

    knn_k: int = spec_field(20, "evaluation", "Neighbours in the k-NN monitor.", ge=1, le=1000)
    knn_temperature: float = spec_field(0.07, "evaluation", "Temperature of the k-NN vote weights.",
                                    ge=0.001, le=10.0)
    knn_every: int = spec_field(1, "evaluation", "Compute k-NN accuracy every N epochs (and always at the end).",
                            ge=1, le=1000)
    probe_epochs: int = spec_field(
        100, "evaluation",
        "Iteration budget of each L-BFGS solve of the linear probe on frozen features (one per L2 strength tried "
        "on a held-out split, then the final fit); a solve that converges sooner stops. Not epochs: the name is "
        "kept from the former SGD probe so that older specs still load.", ge=1, le=10_000)
    probe_every: int | None = spec_field(
        None, "evaluation",
        "Also fit a quick linear probe (with and without the projection head) every N epochs, on the k-NN "
        "monitor's features: at epochs that are multiples of both N and knn_every, and at the end. Empty: off.",
        ge=1, le=1000,
    )
    tsne_samples: int = spec_field(1000, "evaluation", "Test images embedded with t-SNE.", ge=10, le=20_000)
    random_baseline: bool = spec_field(
        True, "evaluation",
        "Also probe a randomly initialised encoder of the same architecture (random_linear_acc, random_knn_acc) "
        "and embed its t-SNE map (embeddings.json's random_init).",
    )

    seed: int = spec_field(0, "run", "Random seed: the same spec and seed give the same metrics on a CPU "
                           "(system.* aside).", ge=0, le=2**31 - 1)
    device: DeviceName = spec_field(DeviceName.auto, "run", "Where to train: auto picks CUDA when present.")
    devices: int = spec_field(
        1, "run",
        "Devices one run trains on, on one host (torchrun --standalone, DDP): batch_size is the global batch, "
        "split evenly, and the contrastive losses see all of it. Waits for a worker with that many device slots "
        "(`contrastlab worker --gpus 0,1,...`). On CPUs: that many gloo processes.",
        ge=1, le=MAX_DEVICES,
    )
    sync_batchnorm: bool = spec_field(
        True, "run",
        "devices > 1: BatchNorm statistics over the global batch (SimCLR's global BN), so the run trains as on "
        "one device. Off: each device normalises its own share.",
    )

    @model_validator(mode="wrap")
    @classmethod
    def _consistent(cls, data: Any, handler: ModelWrapValidatorHandler[RunSpec]) -> RunSpec:
        """Checks across fields, on the values every field ended with, so they do not depend on field order.

        When some fields are invalid the checks still run on the valid ones, so one 422 names every problem.
        """
        try:
            spec = handler(data)
        except ValidationError as error:
            if not isinstance(data, dict):
                raise
            broken = {str(e["loc"][0]) for e in error.errors() if e["loc"]}
            values = {name: data.get(name, info.default) for name, info in cls.model_fields.items()
                      if name not in broken}
            raise validation_error(cls.__name__, [*as_details(error), *problem_details(values)]) from None
        problems = problem_details(spec.__dict__)
        if problems:
            raise validation_error(cls.__name__, problems)
        return spec


def run_spec_schema() -> dict[str, Any]:
    """The JSON Schema the API serves and the browser form is built from."""
    return RunSpec.model_json_schema()


def upgrade_spec(stored: dict[str, Any], version: int) -> dict[str, Any]:
    """A stored spec of an earlier SPEC_VERSION, upgraded to this one (one step per version, none yet)."""
    if version > SPEC_VERSION:
        raise ValueError(f"spec from version {version} is newer than this code's {SPEC_VERSION}; update the worker")
    return dict(stored)


def load_stored_spec(stored: dict[str, Any], version: int) -> RunSpec:
    """A run's stored spec as a RunSpec, upgraded from its version; ValueError says which field broke and why."""
    try:
        return RunSpec.model_validate(upgrade_spec(stored, version))
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "spec"
        raise ValueError(f"spec from version {version} is no longer valid: {where}: "
                         f"{str(first['msg']).removeprefix('Value error, ')}") from error
