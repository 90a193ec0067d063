"""The catalogue: every method, dataset, metric, run status and artifact, defined once, as data.

The RunSpec builds its choices and its "applies to" tags from here, the engine keys its method registry by
`METHODS`, the API serves `catalog_document()` at /api/schema/catalog, and the page and the CLI take their
labels, units, directions and formats from that document. Adding a method is one file in
worker/engine/methods/ plus its entry here; adding a metric is its entry in `METRICS`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any, Literal

Direction = Literal["higher", "lower"]
Unit = Literal["fraction", "nats", "seconds", "ratio", "rate", "count", "percent", "mebibytes", "watts", "none"]
# Where the run page draws a metric: the training charts, or the System panel (how busy the machine was).
Panel = Literal["training", "system"]
Format = Literal["percent", "number", "scientific", "duration", "integer"]


# How a method learns; the method menu groups by it, in this order, under these labels.
Family = Literal["contrastive", "self_distillation", "redundancy_reduction", "clustering", "supervised"]
FAMILIES: dict[str, str] = {"contrastive": "Contrastive", "self_distillation": "Self-distillation",
                            "redundancy_reduction": "Redundancy reduction", "clustering": "Clustering",
                            "supervised": "Supervised"}


@dataclass(frozen=True)
class MethodInfo:
    """A training method: its loss family, what a batch holds, what it trains, which spec fields it reads."""

    label: str
    family: Family
    views: int  # augmented views per image in a step
    needs_labels: bool
    head: Literal["projection", "classifier"]  # what sits on the encoder while training
    fields: tuple[str, ...]  # the method-specific spec fields it reads
    paper: str


# Spec fields every method with a projection head reads.
HEAD_FIELDS = ("projection_depth", "projection_hidden_dim", "projection_dim")
PREDICTOR_FIELDS = ("predictor_hidden_dim",)  # methods with a predictor on the projector (BYOL, SimSiam, MoCo v3)
# Spec fields of the multi-crop methods (2 large + N small crops; Caron et al. 2020).
MULTI_CROP_FIELDS = ("small_crops", "small_crop_scale_min")

METHODS: dict[str, MethodInfo] = {
    "simclr": MethodInfo("SimCLR (NT-Xent)", "contrastive", 2, False, "projection", ("temperature", *HEAD_FIELDS),
                         "Chen et al. 2020, A Simple Framework for Contrastive Learning of Visual Representations"),
    "supcon": MethodInfo("SupCon", "contrastive", 2, True, "projection", ("temperature", *HEAD_FIELDS),
                         "Khosla et al. 2020, Supervised Contrastive Learning"),
    "contrastive": MethodInfo("Contrastive (Hadsell)", "contrastive", 2, True, "projection",
                              ("margin", *HEAD_FIELDS),
                              "Hadsell, Chopra and LeCun 2006, Dimensionality Reduction by Learning an Invariant "
                              "Mapping"),
    "npairs": MethodInfo("N-pairs", "contrastive", 2, True, "projection", ("npairs_l2_reg", *HEAD_FIELDS),
                         "Sohn 2016, Improved Deep Metric Learning with Multi-class N-pair Loss Objective"),
    "triplet_batch_hard": MethodInfo("Triplet, batch-hard", "contrastive", 2, True, "projection",
                                     ("margin", *HEAD_FIELDS),
                                     "Hermans, Beyer and Leibe 2017, In Defense of the Triplet Loss"),
    "triplet_batch_all": MethodInfo("Triplet, batch-all", "contrastive", 2, True, "projection",
                                    ("margin", *HEAD_FIELDS),
                                    "Hermans, Beyer and Leibe 2017, In Defense of the Triplet Loss"),
    "triplet_semihard": MethodInfo("Triplet, semi-hard", "contrastive", 2, True, "projection",
                                   ("margin", *HEAD_FIELDS),
                                   "Schroff, Kalenichenko and Philbin 2015, FaceNet"),
    "byol": MethodInfo("BYOL", "self_distillation", 2, False, "projection",
                       ("byol_momentum", *HEAD_FIELDS, *PREDICTOR_FIELDS),
                       "Grill et al. 2020, Bootstrap Your Own Latent: A New Approach to Self-Supervised Learning"),
    "moco_v3": MethodInfo("MoCo v3", "contrastive", 2, False, "projection",
                          ("moco_temperature", "moco_momentum", "moco_queue_size", *HEAD_FIELDS, *PREDICTOR_FIELDS),
                          "Chen, Xie and He 2021, An Empirical Study of Training Self-Supervised Vision Transformers"),
    "simsiam": MethodInfo("SimSiam", "self_distillation", 2, False, "projection", (*HEAD_FIELDS, *PREDICTOR_FIELDS),
                          "Chen and He 2021, Exploring Simple Siamese Representation Learning"),
    "vicreg": MethodInfo("VICReg", "redundancy_reduction", 2, False, "projection",
                         ("vicreg_invariance_weight", "vicreg_variance_weight", "vicreg_covariance_weight",
                          *HEAD_FIELDS),
                         "Bardes, Ponce and LeCun 2022, VICReg: Variance-Invariance-Covariance Regularization for "
                         "Self-Supervised Learning"),
    "barlow_twins": MethodInfo("Barlow Twins", "redundancy_reduction", 2, False, "projection",
                               ("barlow_lambda", *HEAD_FIELDS),
                               "Zbontar et al. 2021, Barlow Twins: Self-Supervised Learning via Redundancy "
                               "Reduction"),
    "dino": MethodInfo("DINO", "self_distillation", 2, False, "projection",
                       ("dino_prototypes", "dino_student_temperature", "dino_teacher_temperature",
                        "dino_warmup_teacher_temperature", "dino_warmup_teacher_epochs", "dino_center_momentum",
                        "dino_teacher_momentum", "dino_freeze_last_layer_epochs", *MULTI_CROP_FIELDS, *HEAD_FIELDS),
                       "Caron et al. 2021, Emerging Properties in Self-Supervised Vision Transformers"),
    "swav": MethodInfo("SwAV", "clustering", 2, False, "projection",
                       ("swav_prototypes", "swav_temperature", "swav_epsilon", "swav_sinkhorn_iterations",
                        "swav_freeze_prototypes_epochs", "swav_queue_length", *MULTI_CROP_FIELDS, *HEAD_FIELDS),
                       "Caron et al. 2020, Unsupervised Learning of Visual Features by Contrasting Cluster "
                       "Assignments"),
    "nnclr": MethodInfo("NNCLR", "contrastive", 2, False, "projection",
                        ("nnclr_support_size", "nnclr_temperature", *HEAD_FIELDS),
                        "Dwibedi et al. 2021, With a Little Help from My Friends: Nearest-Neighbor Contrastive "
                        "Learning of Visual Representations"),
    "supervised": MethodInfo("Cross-entropy (supervised)", "supervised", 1, True, "classifier", (),
                             "the supervised baseline: cross-entropy with the same encoder, augmentation and "
                             "schedule"),
}


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset: image format, sizes, splits, and where its files come from."""

    label: str
    channels: int
    native_size: int | None  # side of the stored images; None: varies per image
    default_size: int  # side the images are resized to when the spec leaves image_size empty
    classes: int | None  # None: as many as the folder has
    splits: tuple[str, ...]
    source: Literal["offline", "download", "folder"]
    location: str  # where the files live: a path, or a folder under the worker's data folder
    train_size: int | None = None
    test_size: int | None = None
    unlabeled_size: int | None = None
    resizes: bool = True  # whether the spec's image_size applies; False: the loader keeps default_size


# torchvision downloads land in this folder under the worker's DATA_DIR (a volume in compose).
DATASETS_FOLDER = "datasets"

DATASETS: dict[str, DatasetInfo] = {
    "digits": DatasetInfo("scikit-learn digits", 1, 8, 16, 10, ("train", "test"), "offline",
                          "bundled with scikit-learn", 1437, 360, resizes=False),
    "fashion_mnist": DatasetInfo("Fashion-MNIST", 1, 28, 28, 10, ("train", "test"), "offline",
                                 "/usr/share/datasets/fashion-mnist (Debian package dataset-fashion-mnist)",
                                 60_000, 10_000, resizes=False),
    "cifar10": DatasetInfo("CIFAR-10", 3, 32, 32, 10, ("train", "test"), "download", DATASETS_FOLDER,
                           50_000, 10_000),
    "cifar100": DatasetInfo("CIFAR-100", 3, 32, 32, 100, ("train", "test"), "download", DATASETS_FOLDER,
                            50_000, 10_000),
    "stl10": DatasetInfo("STL-10", 3, 96, 96, 10, ("train", "test", "unlabeled"), "download", DATASETS_FOLDER,
                         5_000, 8_000, 100_000),
    "imagenette": DatasetInfo("Imagenette (160 px)", 3, 160, 64, 10, ("train", "val"), "download",
                              DATASETS_FOLDER, 9_469, 3_925),
    "flowers102": DatasetInfo("Oxford Flowers-102", 3, None, 64, 102, ("train", "test"), "download",
                              DATASETS_FOLDER, 1_020, 6_149),
    "oxford_pets": DatasetInfo("Oxford-IIIT Pets", 3, None, 64, 37, ("trainval", "test"), "download",
                               DATASETS_FOLDER, 3_680, 3_669),
    "image_folder": DatasetInfo("Image folder", 3, None, 64, None, ("train", "test"), "folder",
                                "data_path, under a root the server allows (ALLOWED_DATA_ROOTS)"),
}


@dataclass(frozen=True)
class MetricInfo:
    """A metric: how to label, format and judge it."""

    label: str
    unit: Unit
    direction: Direction | None  # which way is better; None: neither (the learning rate)
    dense: bool  # reported every step rather than per evaluation (drawn as a line; sparse ones with markers)
    format: Format
    final: bool  # evaluated once at the end of a run: a point at the last step, and in the run's summary
    description: str = ""
    summary: bool = False  # in the run's summary (every final metric is too)
    smooth: bool = False  # a noisy dense metric the charts' smoothing applies to (never a schedule like the lr)
    panel: Panel = "training"


METRICS: dict[str, MetricInfo] = {
    "loss": MetricInfo("Loss", "nats", "lower", True, "number", False, "training loss per step", smooth=True),
    "lr": MetricInfo("Learning rate", "rate", None, True, "scientific", False, "learning rate per step"),
    "embedding_std": MetricInfo("Embedding std", "ratio", "higher", True, "number", False,
                                "collapse monitor: per-dimension std over the batch of the L2-normalised embeddings, "
                                "averaged over dimensions; about 1/sqrt(dim) when spread, 0 when collapsed"),
    "tau": MetricInfo("Target momentum (tau)", "ratio", None, True, "number", False,
                      "EMA coefficient of the target network per step, from its base value to 1 along a cosine"),
    "train_acc": MetricInfo("Train accuracy", "fraction", "higher", False, "percent", False,
                            "supervised method: accuracy on the training batches of an epoch"),
    "knn_acc": MetricInfo("k-NN accuracy", "fraction", "higher", False, "percent", True,
                          "weighted k-NN vote on frozen encoder features, test set"),
    "linear_acc": MetricInfo("Linear probe", "fraction", "higher", False, "percent", True,
                             "linear classifier on frozen encoder features, test set"),
    "linear_acc_head": MetricInfo("Linear probe (with head)", "fraction", "higher", False, "percent", True,
                                  "linear classifier on the projection head's output, test set"),
    "random_linear_acc": MetricInfo("Linear probe, random init", "fraction", "higher", False, "percent", True,
                                    "the same probe on a randomly initialised encoder (baseline)"),
    "random_knn_acc": MetricInfo("k-NN, random init", "fraction", "higher", False, "percent", True,
                                 "the same k-NN on a randomly initialised encoder (baseline)"),
    "silhouette": MetricInfo("Silhouette", "ratio", "higher", False, "number", True,
                             "cluster separation of the test embeddings by class, from -1 to 1"),
    "final_loss": MetricInfo("Final loss", "nats", "lower", False, "number", False,
                             "mean training loss of the last epoch", summary=True),
    "train_seconds": MetricInfo("Training time", "seconds", "lower", False, "duration", False,
                                "wall time of the training loop", summary=True),
    "probe_acc": MetricInfo("Linear probe during training", "fraction", "higher", False, "percent", False,
                            "quick linear probe on the k-NN monitor's frozen features, every probe_every epochs"),
    "probe_acc_head": MetricInfo("Linear probe during training (with head)", "fraction", "higher", False, "percent",
                                 False, "the same quick probe on the projection head's output"),
    # System metrics (worker/system.py samples them every SYSTEM_SAMPLE_S while a run runs; the engine reports the
    # data wait per epoch). Each point's time is when it was sampled: the System panel draws them against time.
    "system.cpu_percent": MetricInfo("CPU", "percent", None, True, "number", False,
                                     "CPU time of the run's processes (training and data loading) per second of wall "
                                     "time, in % of one core: 200 is two cores busy", panel="system"),
    "system.rss_mb": MetricInfo("Host memory", "mebibytes", None, True, "number", False,
                                "resident memory of the run's processes (RSS)", panel="system"),
    "system.gpu_percent": MetricInfo("GPU utilisation", "percent", None, True, "number", False,
                                     "share of time a kernel ran on the run's GPUs (NVML), mean over them; CUDA only",
                                     panel="system"),
    "system.gpu_memory_mb": MetricInfo("GPU memory", "mebibytes", None, True, "number", False,
                                       "device memory used on the run's GPUs (NVML), summed; CUDA only",
                                       panel="system"),
    "system.gpu_power_w": MetricInfo("GPU power", "watts", None, True, "number", False,
                                     "power drawn by the run's GPUs (NVML), summed; CUDA only", panel="system"),
    "system.data_wait_share": MetricInfo("Data wait", "fraction", "lower", False, "percent", False,
                                         "share of an epoch's training time spent waiting for the next batch",
                                         panel="system"),
    "drawdown": MetricInfo("Drawdown", "fraction", "lower", False, "number", True,
                           "sum of every drop between consecutive k-NN evaluations (0: the curve never fell); "
                           "needs two evaluations"),
    "volatility": MetricInfo("Volatility", "fraction", "lower", False, "number", True,
                             "standard deviation of the changes between consecutive k-NN evaluations; needs three "
                             "(knn_every at most (epochs - 1) / 2)"),
}

# A random-init metric's trained counterpart, so a page can show the two side by side.
BASELINES = {"linear_acc": "random_linear_acc", "knn_acc": "random_knn_acc"}

FINAL_METRICS = tuple(name for name, info in METRICS.items() if info.final)
# Every number a run's summary may hold: what the runs table can sort by and a study can compare.
SUMMARY_METRICS = tuple(name for name, info in METRICS.items() if info.final or info.summary)

# Run statuses. A run is created queued, a worker's claim makes it running, and it ends in one of the final ones.
class Status(StrEnum):
    """A run's status; each member is its own wire string ("queued", ...)."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    PRUNED = "pruned"  # a search's trial stopped early by its pruner (backend.studies.search)


QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELED, PRUNED = Status  # short names, kept for existing imports
STATUSES = tuple(Status)
FINAL_STATUSES = frozenset({Status.SUCCEEDED, Status.FAILED, Status.CANCELED, Status.PRUNED})
# What a worker may finish a run with: a run stopped by a search's pruner finishes `canceled` on the worker's side and
# the API records it `pruned` (the worker stops it exactly as a cancel; it need not know why).
WORKER_FINAL_STATUSES = (Status.SUCCEEDED, Status.FAILED, Status.CANCELED)


@dataclass(frozen=True)
class PhaseInfo:
    """A phase of a running run: what the run page calls it, what its progress counts, and where it ends on the
    run's overall progress (0 to 1; a run's phases come in this catalogue's order, each may be skipped)."""

    label: str
    unit: Literal["step", "image", "epoch", "iteration"] | None  # None: no measure of its progress
    until: float


class Phase(StrEnum):
    """A phase of a running run, in the order a run goes through them."""

    LOADING = "loading"
    PRETRAINING = "pretraining"
    SUPERVISED = "supervised"
    FEATURES = "features"
    KNN = "knn"
    PROBE = "probe"
    RANDOM_BASELINE = "random_baseline"
    TSNE = "tsne"
    SAVING = "saving"


TRAINING_SHARE = 0.9  # of a run's overall progress; its evaluation shares the rest
PHASES: dict[str, PhaseInfo] = {
    Phase.LOADING: PhaseInfo("loading data", None, 0.0),
    Phase.PRETRAINING: PhaseInfo("pretraining", "step", TRAINING_SHARE),
    Phase.SUPERVISED: PhaseInfo("supervised training", "step", TRAINING_SHARE),
    Phase.FEATURES: PhaseInfo("features", "image", 0.92),
    Phase.KNN: PhaseInfo("k-NN", None, 0.93),
    Phase.PROBE: PhaseInfo("linear probe", "iteration", 0.95),
    Phase.RANDOM_BASELINE: PhaseInfo("random-init baseline", None, 0.96),
    Phase.TSNE: PhaseInfo("t-SNE", None, 0.98),
    Phase.SAVING: PhaseInfo("saving", None, 0.99),
}


def phase_progress(name: str, done: int, total: int | None) -> float:
    """The run's overall progress (0 to 0.99) within phase `name`, done of total units in."""
    end = PHASES[name].until
    # It starts where the phases before it end; alternatives (pretraining, supervised) end at the same place.
    start = max((info.until for info in list(PHASES.values())[:list(PHASES).index(name)] if info.until < end),
                default=0.0)
    fraction = min(1.0, done / total) if total else 0.0
    return min(0.99, start + (end - start) * fraction)


@dataclass(frozen=True)
class ArtifactInfo:
    label: str
    description: str


class Artifact(StrEnum):
    """A file a run leaves; each member is its file name."""

    ENCODER = "encoder.safetensors"
    HEAD = "projection_head.safetensors"
    LINEAR_PROBE = "linear_probe.safetensors"
    EVALUATION = "evaluation.json"
    EMBEDDINGS = "embeddings.json"
    FEATURES = "features.safetensors"
    RUN_RECORD = "run.json"
    RESUME = "resume.pt"


RESUME_ARTIFACT = Artifact.RESUME

ARTIFACTS: dict[str, ArtifactInfo] = {
    Artifact.ENCODER: ArtifactInfo("Encoder", "trained encoder weights, with the spec in the metadata"),
    Artifact.HEAD: ArtifactInfo("Head", "projection head (or classifier, for supervised)"),
    Artifact.LINEAR_PROBE: ArtifactInfo("Linear probe", "the linear classifier fitted on frozen features"),
    Artifact.EVALUATION: ArtifactInfo("Evaluation", "final metrics and the probe's confusion matrix"),
    Artifact.EMBEDDINGS: ArtifactInfo("t-SNE", "t-SNE coordinates of a sample of test embeddings, with labels"),
    Artifact.FEATURES: ArtifactInfo("Features", "the encoder features of the t-SNE sample"),
    Artifact.RUN_RECORD: ArtifactInfo("Run record", "spec, metrics, package versions and code version"),
    Artifact.RESUME: ArtifactInfo("Resume checkpoint", "model and optimiser state after the last epoch; "
                                  "dropped when the run succeeds"),
}


def methods_reading(spec_field: str) -> list[str]:
    """The methods whose loss or head reads this spec field (the form shows the field for those only)."""
    return [name for name, info in METHODS.items() if spec_field in info.fields]


def catalog_document() -> dict[str, Any]:
    """The catalogue as JSON: what GET /api/schema/catalog serves."""
    return {
        "methods": {name: asdict(info) for name, info in METHODS.items()},
        "families": FAMILIES,
        "datasets": {name: asdict(info) for name, info in DATASETS.items()},
        "metrics": {name: asdict(info) for name, info in METRICS.items()},
        "final_metrics": list(FINAL_METRICS),
        "summary_metrics": list(SUMMARY_METRICS),
        "baselines": BASELINES,
        "statuses": list(STATUSES),
        "final_statuses": sorted(FINAL_STATUSES),
        "artifacts": {name: asdict(info) for name, info in ARTIFACTS.items()},
        "phases": {name: asdict(info) for name, info in PHASES.items()},
    }
