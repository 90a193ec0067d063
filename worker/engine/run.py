"""One run from a RunSpec: data, training, evaluation, artifacts."""

from __future__ import annotations

import platform
from pathlib import Path

import torch
import torchvision

from worker.spec import RunSpec

from .checkpoint import save_encoder, save_module, save_tensors, write_json
from .data import load_dataset, subset_train
from .device import resolve_device, runtime
from .errors import TrainingFailed
from .evaluate import encode, fit_linear_probe, silhouette, tsne_2d, tsne_sample_indices
from .evaluate import knn_accuracy as knn
from .losses import LOSSES
from .models import build_encoder, build_head
from .report import Reporter
from .train import EVAL_BATCH_SIZE, pretrain


def train(spec: RunSpec, out_dir: Path, reporter: Reporter, data_root: Path | None = None) -> dict[str, float]:
    """Train, evaluate and save one run into out_dir; returns the summary metrics.

    Raises TrainingCanceled when the reporter asks to stop, TrainingFailed with a
    message for the user when the run cannot finish (divergence, missing data, ...).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = resolve_device(spec.device)
    with runtime(device):
        try:
            return _train(spec, out_dir, reporter, data_root, device)
        except torch.OutOfMemoryError as error:
            raise TrainingFailed(f"out of {device.type} memory with batch_size {spec.batch_size}; "
                                 "lower batch_size or pick a smaller encoder") from error


def _train(spec: RunSpec, out_dir: Path, reporter: Reporter, data_root: Path | None,
           device: torch.device) -> dict[str, float]:
    data = subset_train(load_dataset(spec.dataset, data_root), spec.max_train_samples, spec.seed)
    reporter.message(f"loading {spec.dataset}: {len(data.train_labels)} train / "
                     f"{len(data.test_labels)} test images")
    num_classes, in_channels = len(data.classes), data.train_images.shape[1]

    torch.manual_seed(spec.seed)  # weight initialisation
    encoder = build_encoder(spec, in_channels)
    encoder.set_normalization(data.train_images)
    head = build_head(spec, encoder.feature_dim, num_classes)
    encoder.to(device)
    head.to(device)
    if device.type == "cuda":
        encoder.to(memory_format=torch.channels_last)

    reporter.message("pretraining" if LOSSES[spec.method].head == "projection" else "supervised training")
    result = pretrain(spec, encoder, head, data, device, reporter)
    step, epoch = result.steps, float(spec.epochs)

    reporter.message(f"features of {len(data.train_labels)} train / {len(data.test_labels)} test images")
    train_features = encode(encoder, data.train_images, EVAL_BATCH_SIZE[device.type], device)
    test_features = encode(encoder, data.test_images, EVAL_BATCH_SIZE[device.type], device)
    summary: dict[str, float] = {}
    summary["knn_acc"] = knn(train_features, data.train_labels, test_features, data.test_labels,
                             spec.knn_k, spec.knn_temperature, num_classes)

    reporter.message("linear probe")
    probe = fit_linear_probe(train_features, data.train_labels, num_classes, spec.probe_epochs, spec.seed)
    summary["linear_acc"] = probe.accuracy(test_features, data.test_labels)
    if LOSSES[spec.method].head == "projection":
        head.eval()
        with torch.no_grad():
            head_probe = fit_linear_probe(head(train_features), data.train_labels, num_classes,
                                          spec.probe_epochs, spec.seed)
            summary["linear_acc_head"] = head_probe.accuracy(head(test_features), data.test_labels)

    indices = tsne_sample_indices(len(data.test_labels), spec.tsne_samples)
    reporter.message(f"t-SNE of {len(indices)} test embeddings")
    sample_features = test_features[indices.to(test_features.device)].cpu()
    sample_labels = data.test_labels[indices]
    coords = tsne_2d(sample_features.numpy(), spec.seed)
    summary["silhouette"] = silhouette(sample_features.numpy(), sample_labels.numpy())
    summary["final_loss"] = result.final_loss
    summary["train_seconds"] = result.seconds

    for name in ("linear_acc", "linear_acc_head", "knn_acc", "silhouette"):
        if name in summary and summary[name] == summary[name]:  # NaN (undefined silhouette) is not a point
            reporter.metric(name, summary[name], step, epoch)

    reporter.message("saving artifacts")
    save_encoder(out_dir / "encoder.safetensors", encoder, spec)
    save_module(out_dir / "projection_head.safetensors", head, spec,
                f"contrastlab-{LOSSES[spec.method].head}-v1")
    save_tensors(out_dir / "linear_probe.safetensors", probe.state_dict(),
                 {"spec": spec.model_dump_json(), "format": "contrastlab-linear-probe-v1"})
    save_tensors(out_dir / "features.safetensors", {"features": sample_features, "indices": indices})
    write_json(out_dir / "embeddings.json", {
        "method": "tsne",
        "silhouette": summary["silhouette"],
        "classes": data.classes,
        "points": [{"x": round(float(x), 4), "y": round(float(y), 4), "label": int(label), "index": int(index)}
                   for (x, y), label, index in zip(coords, sample_labels.tolist(), indices.tolist(), strict=True)],
    })
    write_json(out_dir / "run.json", {
        "spec": spec.model_dump(mode="json"),
        "metrics": summary,
        "versions": {"torch": torch.__version__, "torchvision": torchvision.__version__,
                     "python": platform.python_version()},
        "dataset": {"name": spec.dataset, "train_size": len(data.train_labels),
                    "test_size": len(data.test_labels), "image_shape": data.image_shape,
                    "classes": data.classes},
    })
    return summary
