"""Evaluation of a frozen encoder: features once, then k-NN, a linear probe, t-SNE and silhouette."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .stream import Images, in_order

TSNE_SAMPLE_SEED = 0  # fixed: runs with different seeds embed the same test images


@torch.no_grad()
def encode(encoder: nn.Module, images_uint8: Images, batch_size: int, device: torch.device | str,
           on_batch: Callable[[int], None] | None = None) -> torch.Tensor:
    """float32 features [N, D] of un-augmented uint8 images (in memory or streamed), in eval mode, on `device`;
    on_batch hears how many images are done after each batch.

    The one feature path: the monitor, the probe, the saved features and the tests all
    go through here, so a reloaded checkpoint reproduces the saved features.
    """
    device = torch.device(device)
    was_training = encoder.training
    encoder.eval()
    chunks = []
    done = 0
    # fp32 without TF32, so features computed on a GPU match a CPU recomputation closely.
    precision = (torch.backends.cudnn.flags(enabled=True, benchmark=torch.backends.cudnn.benchmark,
                                            allow_tf32=False)
                 if device.type == "cuda" else contextlib.nullcontext())
    with precision:
        for batch in in_order(images_uint8, batch_size, device):
            x = batch.float().div_(255)
            if device.type == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)
            chunks.append(encoder(x).float())
            done += len(x)
            if on_batch is not None:
                on_batch(done)
    encoder.train(was_training)
    if not chunks:
        return torch.zeros(0, getattr(encoder, "feature_dim", 0), device=device)
    return torch.cat(chunks)


@torch.no_grad()
def knn_accuracy(train_features: torch.Tensor, train_labels: torch.Tensor, test_features: torch.Tensor,
                 test_labels: torch.Tensor, k: int, temperature: float, num_classes: int,
                 chunk_size: int = 1024) -> float:
    """Weighted k-NN classifier accuracy (Wu et al. 2018, "Unsupervised Feature Learning via
    Non-Parametric Instance Discrimination"): the k most cosine-similar training features vote
    for their label with weight exp(similarity / temperature)."""
    train = F.normalize(train_features.float(), dim=1)
    test = F.normalize(test_features.float(), dim=1)
    train_labels = train_labels.to(train.device)
    test_labels = test_labels.to(train.device)
    k = min(k, len(train))
    correct = torch.zeros((), dtype=torch.long, device=train.device)
    for start in range(0, len(test), chunk_size):
        similarity = test[start:start + chunk_size] @ train.T
        top_sim, top_idx = similarity.topk(k, dim=1)
        # Shifting by the row maximum leaves the vote unchanged and keeps exp finite for tiny temperatures.
        weights = ((top_sim - top_sim[:, :1]) / temperature).exp()
        votes = torch.zeros(len(top_sim), num_classes, device=train.device)
        votes.scatter_add_(1, train_labels[top_idx], weights)
        correct += (votes.argmax(dim=1) == test_labels[start:start + chunk_size]).sum()
    return correct.item() / max(1, len(test))  # sync point, once per evaluation


@dataclass
class LinearProbe:
    """Logistic regression on standardised frozen features."""

    weight: torch.Tensor  # [C, D]
    bias: torch.Tensor  # [C]
    mean: torch.Tensor  # [D], of the training features
    std: torch.Tensor  # [D]

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        return F.linear((features - self.mean) / self.std, self.weight, self.bias)

    def accuracy(self, features: torch.Tensor, labels: torch.Tensor) -> float:
        with torch.no_grad():
            predictions = self.logits(features.float()).argmax(dim=1)
        return (predictions == labels.to(predictions.device)).sum().item() / max(1, len(labels))

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"weight": self.weight, "bias": self.bias, "mean": self.mean, "std": self.std}


def fit_linear_probe(features: torch.Tensor, labels: torch.Tensor, num_classes: int, epochs: int,
                     seed: int, batch_size: int = 1024, lr: float = 3e-2, weight_decay: float = 1e-4,
                     on_epoch: Callable[[int], None] | None = None) -> LinearProbe:
    """Train a linear classifier on fixed features with mini-batch AdamW and a cosine schedule; on_epoch hears
    how many epochs are done after each.

    Features are computed once, so each epoch is a few small matrix products: the whole
    probe costs far less than one epoch of the encoder.
    """
    features = features.float()
    labels = labels.to(features.device)
    mean = features.mean(dim=0)
    std = features.std(dim=0).clamp_min(1e-6) if len(features) > 1 else torch.ones_like(mean)
    x = (features - mean) / std
    # skip_init: the weights start at zero anyway, and a probe during training must not draw from the global RNG.
    layer = nn.utils.skip_init(nn.Linear, x.shape[1], num_classes, device=x.device)
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    optimizer = torch.optim.AdamW(layer.parameters(), lr=lr, weight_decay=weight_decay)
    generator = torch.Generator(device=x.device).manual_seed(seed)
    batch_size = min(batch_size, len(x))
    steps_per_epoch = math.ceil(len(x) / batch_size)
    total = epochs * steps_per_epoch
    step = 0
    with torch.enable_grad():
        for epoch in range(1, epochs + 1):
            order = torch.randperm(len(x), generator=generator, device=x.device)
            for start in range(0, len(x), batch_size):
                idx = order[start:start + batch_size]
                for group in optimizer.param_groups:
                    group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / total))
                loss = F.cross_entropy(layer(x[idx]), labels[idx])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                step += 1
            if on_epoch is not None:
                on_epoch(epoch)
    return LinearProbe(layer.weight.detach(), layer.bias.detach(), mean, std)


def tsne_sample_indices(n_test: int, n: int) -> torch.Tensor:
    """Sorted test-set indices of the t-SNE sample: the same images for every run of a dataset."""
    if n >= n_test:
        return torch.arange(n_test)
    order = torch.randperm(n_test, generator=torch.Generator().manual_seed(TSNE_SAMPLE_SEED))
    return order[:n].sort().values


def tsne_2d(features: np.ndarray, seed: int, n_jobs: int = 1) -> np.ndarray:
    """2-D openTSNE embedding with cosine affinities, matching the k-NN's notion of closeness."""
    from openTSNE import TSNE

    n = len(features)
    if n < 4:  # too few points for perplexity-based affinities; place them on a line
        return np.stack([np.arange(n, dtype=np.float64), np.zeros(n)], axis=1)
    perplexity = min(30.0, (n - 1) / 3)
    tsne = TSNE(n_components=2, perplexity=perplexity, metric="cosine", n_jobs=n_jobs, random_state=seed,
                verbose=False)
    return np.asarray(tsne.fit(features.astype(np.float64)))


def silhouette(features: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette of the features grouped by label, cosine distance; NaN when undefined."""
    from sklearn.metrics import silhouette_score

    n_labels = len(np.unique(labels))
    if not 2 <= n_labels <= len(labels) - 1:
        return float("nan")
    return float(silhouette_score(features, labels, metric="cosine"))
