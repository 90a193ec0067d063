"""The end-of-run evaluation of a frozen encoder: features once, k-NN, linear probes, confusion matrix,
and the same probe and k-NN on a randomly initialised encoder of the same architecture."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from contrastlab.core.spec import RunSpec

from .data import ImageData
from .evaluate import LinearProbe, encode, fit_linear_probe, knn_accuracy
from .models import build_encoder

EVAL_BATCH_SIZE = {"cpu": 256, "cuda": 1024}  # a CPU is fastest on cache-sized batches, a GPU on large ones


@dataclass
class Assessment:
    """What the final evaluation found; summary holds the numbers reported as metrics."""

    train_features: torch.Tensor
    test_features: torch.Tensor
    probe: LinearProbe
    confusion: list[list[int]]
    summary: dict[str, float] = field(default_factory=dict)


def features(encoder: nn.Module, images: torch.Tensor, device: torch.device) -> torch.Tensor:
    return encode(encoder, images, EVAL_BATCH_SIZE[device.type], device)


def knn_probe(spec: RunSpec, data: ImageData, train_features: torch.Tensor, test_features: torch.Tensor,
              ) -> tuple[float, LinearProbe]:
    """k-NN accuracy and the fitted linear probe on one pair of feature sets."""
    num_classes = len(data.classes)
    knn = knn_accuracy(train_features, data.train_labels, test_features, data.test_labels, spec.knn_k,
                       spec.knn_temperature, num_classes)
    probe = fit_linear_probe(train_features, data.train_labels, num_classes, spec.probe_epochs, spec.seed)
    return knn, probe


def confusion_matrix(probe: LinearProbe, test_features: torch.Tensor, labels: torch.Tensor,
                     num_classes: int) -> list[list[int]]:
    """Counts [true class][predicted class] of the probe on the test features."""
    with torch.no_grad():
        predicted = probe.logits(test_features.float()).argmax(dim=1).cpu()
    flat = torch.bincount(labels.cpu() * num_classes + predicted, minlength=num_classes * num_classes)
    return flat.view(num_classes, num_classes).tolist()


def assess(spec: RunSpec, encoder: nn.Module, head: nn.Module | None, data: ImageData,
           device: torch.device) -> Assessment:
    """Probe and k-NN of the trained encoder (and of encoder + projection head when given)."""
    train_features = features(encoder, data.train_images, device)
    test_features = features(encoder, data.test_images, device)
    knn, probe = knn_probe(spec, data, train_features, test_features)
    result = Assessment(train_features, test_features, probe,
                        confusion_matrix(probe, test_features, data.test_labels, len(data.classes)))
    result.summary["knn_acc"] = knn
    result.summary["linear_acc"] = probe.accuracy(test_features, data.test_labels)
    if head is not None:
        head.eval()
        with torch.no_grad():
            head_probe = fit_linear_probe(head(train_features), data.train_labels, len(data.classes),
                                          spec.probe_epochs, spec.seed)
            result.summary["linear_acc_head"] = head_probe.accuracy(head(test_features), data.test_labels)
    return result


def random_baseline(spec: RunSpec, data: ImageData, device: torch.device) -> dict[str, float]:
    """The same k-NN and probe on the encoder as initialised by spec.seed, before any training:
    tells a user whether pretraining beat random features (on simple data they are strong)."""
    with torch.random.fork_rng(devices=[]):  # leaves the global generator where training expects it
        torch.manual_seed(spec.seed)
        encoder = build_encoder(spec, data.image_shape[0], data.image_shape[-1])
    encoder.set_normalization(data.train_images)
    encoder.to(device)
    train_features = features(encoder, data.train_images, device)
    test_features = features(encoder, data.test_images, device)
    knn, probe = knn_probe(spec, data, train_features, test_features)
    return {"random_linear_acc": probe.accuracy(test_features, data.test_labels), "random_knn_acc": knn}
