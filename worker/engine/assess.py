"""The end-of-run evaluation of a frozen encoder: features once, k-NN, linear probes, confusion matrix,
and the same probe and k-NN on a randomly initialised encoder of the same architecture."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from contrastlab.core.catalog import Phase
from contrastlab.core.spec import RunSpec

from .data import ImageData
from .evaluate import encode, knn_accuracy
from .models import build_encoder
from .probe import LinearProbe, fit_linear_probe, probe_iterations
from .report import NullReporter, Reporter
from .stream import Images

EVAL_BATCH_SIZE = {"cpu": 256, "cuda": 1024}  # a CPU is fastest on cache-sized batches, a GPU on large ones
QUICK_PROBE_ITERATIONS = 20  # per solve: a probe during training is a trend line, not the final figure


@dataclass
class Assessment:
    """What the final evaluation found; summary holds the numbers reported as metrics."""

    train_features: torch.Tensor
    test_features: torch.Tensor
    probe: LinearProbe
    confusion: list[list[int]]
    summary: dict[str, float] = field(default_factory=dict)


def features(encoder: nn.Module, images: Images, device: torch.device,
             on_batch: Callable[[int], None] | None = None) -> torch.Tensor:
    return encode(encoder, images, EVAL_BATCH_SIZE[device.type], device, on_batch)


def knn_probe(spec: RunSpec, data: ImageData, train_features: torch.Tensor, test_features: torch.Tensor,
              on_probe_iteration: Callable[[int], None] | None = None) -> tuple[float, LinearProbe]:
    """k-NN accuracy and the fitted linear probe on one pair of feature sets."""
    num_classes = len(data.classes)
    knn = knn_accuracy(train_features, data.train_labels, test_features, data.test_labels, spec.knn_k,
                       spec.knn_temperature, num_classes)
    probe = fit_linear_probe(train_features, data.train_labels, num_classes, spec.probe_epochs, spec.seed,
                             on_probe_iteration)
    return knn, probe


def probe_due(epoch: int, epochs: int, knn_every: int, probe_every: int | None) -> bool:
    """Whether a quick probe follows this epoch: every probe_every epochs at a k-NN evaluation, and at the end."""
    if probe_every is None or epochs == 0:
        return False
    return epoch == epochs or (epoch % probe_every == 0 and epoch % knn_every == 0)


def quick_probes(spec: RunSpec, data: ImageData, train_features: torch.Tensor, test_features: torch.Tensor,
                 head: nn.Module | None) -> dict[str, float]:
    """probe_acc (and probe_acc_head through the projection head) of a short linear probe on features at hand.

    Every method, supervised included, gets a comparable accuracy curve, and the head's cost shows as two curves.
    """
    iterations = min(spec.probe_epochs, QUICK_PROBE_ITERATIONS)
    num_classes = len(data.classes)
    probe = fit_linear_probe(train_features, data.train_labels, num_classes, iterations, spec.seed)
    result = {"probe_acc": probe.accuracy(test_features, data.test_labels)}
    if head is not None:
        train_projected, test_projected = project(head, train_features), project(head, test_features)
        head_probe = fit_linear_probe(train_projected, data.train_labels, num_classes, iterations, spec.seed)
        result["probe_acc_head"] = head_probe.accuracy(test_projected, data.test_labels)
    return result


def project(head: nn.Module, features: torch.Tensor) -> torch.Tensor:
    """The head's output for frozen features, in eval mode (BatchNorm's running statistics); its mode is kept."""
    was_training = head.training
    head.eval()
    with torch.no_grad():
        projected = head(features)
    head.train(was_training)
    return projected


def confusion_matrix(probe: LinearProbe, test_features: torch.Tensor, labels: torch.Tensor,
                     num_classes: int) -> list[list[int]]:
    """Counts [true class][predicted class] of the probe on the test features."""
    with torch.no_grad():
        predicted = probe.logits(test_features.float()).argmax(dim=1).cpu()
    flat = torch.bincount(labels.cpu() * num_classes + predicted, minlength=num_classes * num_classes)
    return flat.view(num_classes, num_classes).tolist()


def assess(spec: RunSpec, encoder: nn.Module, head: nn.Module | None, data: ImageData,
           device: torch.device, reporter: Reporter = NullReporter()) -> Assessment:
    """Probe and k-NN of the trained encoder (and of encoder + projection head when given); the reporter hears
    the phases: features (images done), k-NN, probe (solver iterations done, of both probes with a head)."""
    n_train, n_images = len(data.train_labels), len(data.train_labels) + len(data.test_labels)
    reporter.phase(Phase.FEATURES, 0, n_images)
    train_features = features(encoder, data.train_images, device,
                              lambda done: reporter.phase(Phase.FEATURES, done, n_images))
    test_features = features(encoder, data.test_images, device,
                             lambda done: reporter.phase(Phase.FEATURES, n_train + done, n_images))
    reporter.phase(Phase.KNN)
    per_probe = probe_iterations(spec.probe_epochs)
    total = per_probe * (2 if head is not None else 1)
    knn, probe = knn_probe(spec, data, train_features, test_features,
                           lambda done: reporter.phase(Phase.PROBE, done, total))
    result = Assessment(train_features, test_features, probe,
                        confusion_matrix(probe, test_features, data.test_labels, len(data.classes)))
    result.summary["knn_acc"] = knn
    result.summary["linear_acc"] = probe.accuracy(test_features, data.test_labels)
    if head is not None:
        head_probe = fit_linear_probe(project(head, train_features), data.train_labels, len(data.classes),
                                      spec.probe_epochs, spec.seed,
                                      lambda done: reporter.phase(Phase.PROBE, per_probe + done, total))
        result.summary["linear_acc_head"] = head_probe.accuracy(project(head, test_features), data.test_labels)
    return result


@dataclass
class RandomBaseline:
    """The randomly initialised encoder's probe and k-NN (summary) and its test features, for its t-SNE map."""

    summary: dict[str, float]
    test_features: torch.Tensor


def random_baseline(spec: RunSpec, data: ImageData, device: torch.device) -> RandomBaseline:
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
    return RandomBaseline({"random_linear_acc": probe.accuracy(test_features, data.test_labels), "random_knn_acc": knn},
                          test_features)
