"""Evaluation of a frozen encoder: features once, then k-NN, t-SNE and silhouette (the linear probe is probe.py)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .stream import Images, in_order

TSNE_SAMPLE_SEED = 0  # fixed: runs with different seeds embed the same test images
# openTSNE's schedule on a CPU: iterations of early exaggeration, then of the plain phase (its defaults: 250 + 500).
TSNE_EXAGGERATION_ITER, TSNE_ITER = 125, 250


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
    folded = for_inference(encoder)
    chunks = []
    done = 0
    # fp32 without TF32, so features computed on a GPU match a CPU recomputation closely.
    precision = (torch.backends.cudnn.flags(enabled=True, benchmark=torch.backends.cudnn.benchmark,
                                            allow_tf32=False)
                 if device.type == "cuda" else contextlib.nullcontext())
    with precision:
        for batch in in_order(images_uint8, batch_size, device):
            x = batch.float().div_(255).contiguous(memory_format=torch.channels_last)
            chunks.append(folded(x).float())
            done += len(x)
            if on_batch is not None:
                on_batch(done)
    encoder.train(was_training)
    if not chunks:
        return torch.zeros(0, getattr(encoder, "feature_dim", 0), device=device)
    return torch.cat(chunks)


def for_inference(encoder: nn.Module) -> nn.Module:
    """A copy of the eval-mode encoder that computes the same features faster: each BatchNorm folded into the
    convolution before it (in eval mode it is a fixed per-channel affine map; torch.fx's conv-BN fusion) and the
    weights in NHWC, the layout oneDNN and cuDNN convolve in. The features differ by float rounding (about 1e-7
    on a random small CNN); 10,000 Fashion-MNIST images on 2 CPU threads took 1.4 s against 3.0 s for the
    encoder as built (NCHW, unfolded) and 2.0 s in NHWC alone. An encoder torch.fx cannot trace is used as it
    is; the encoder itself is never changed."""
    from torch.fx.experimental.optimization import fuse

    try:
        folded = fuse(encoder)  # a deep copy: inplace=False
    except Exception:  # tracing fails in many ways (TraceError, TypeError, ...); folding only saves time
        return encoder
    return folded.to(memory_format=torch.channels_last)


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


def tsne_sample_indices(n_test: int, n: int) -> torch.Tensor:
    """Sorted test-set indices of the t-SNE sample: the same images for every run of a dataset."""
    if n >= n_test:
        return torch.arange(n_test)
    order = torch.randperm(n_test, generator=torch.Generator().manual_seed(TSNE_SAMPLE_SEED))
    return order[:n].sort().values


def tsne_2d(features: np.ndarray, seed: int, n_jobs: int | None = None, device: str = "cpu") -> np.ndarray:
    """2-D t-SNE embedding with cosine affinities, matching the k-NN's notion of closeness.

    On a CUDA device: TorchDR (pure PyTorch, so it installs from PyPI against whatever torch and CUDA the worker
    has, with no compiled CUDA extension of its own to match; exact gradients, fine up to spec.tsne_samples'
    20,000). On a CPU: openTSNE on exact nearest neighbours (`cosine_neighbours`: one matrix product, where
    openTSNE's default builds an Annoy index, 1.2 s of its 6.1 s at 5,000 points), its automatic gradients
    (Barnes-Hut under 10,000 points, FFT-interpolated above) and a shorter schedule than its default (bench/tsne.py
    measures the schedule, the neighbours and the map's k-NN preservation against scikit-learn's), on the run's
    threads (torch's, which the worker's runtime() bounds by the cores this process may use; OMP_NUM_THREADS sets
    them): on a quiet 2-core CPU 2 threads took 7.7 s for 5,000 points where 1 took 10.1 s, and on an
    oversubscribed one 2 threads measured 2-3x slower, so the thread budget is the worker's to set, as for
    training. A seed gives the same map for the same thread count.
    """
    n = len(features)
    if n < 4:  # too few points for perplexity-based affinities; place them on a line
        return np.stack([np.arange(n, dtype=np.float64), np.zeros(n)], axis=1)
    perplexity = min(30.0, (n - 1) / 3)
    if device.startswith("cuda") and _has_torchdr():
        return _torchdr_tsne(features, seed, perplexity, device)
    from openTSNE import TSNE, affinity, nearest_neighbors

    threads = n_jobs or torch.get_num_threads()
    features = features.astype(np.float64)
    # openTSNE's own neighbour count for a perplexity: three times it, at most all the other points.
    neighbours, distances = cosine_neighbours(features, min(n - 1, int(3 * perplexity)))
    affinities = affinity.PerplexityBasedNN(
        knn_index=nearest_neighbors.PrecomputedNeighbors(neighbours, distances), perplexity=perplexity,
        n_jobs=threads, random_state=seed)
    tsne = TSNE(n_components=2, n_jobs=threads, random_state=seed, verbose=False,
                early_exaggeration_iter=TSNE_EXAGGERATION_ITER, n_iter=TSNE_ITER)
    return np.asarray(tsne.fit(features, affinities=affinities))


def cosine_neighbours(features: np.ndarray, k: int, chunk: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Each point's k nearest other points by cosine distance (1 - cosine similarity), nearest first: indices
    [N, k] int64 and distances [N, k] float64, exact, from one matrix product per chunk of rows."""
    unit = F.normalize(torch.from_numpy(features).float(), dim=1)
    indices, distances = [], []
    for start in range(0, len(unit), chunk):
        similarity = unit[start:start + chunk] @ unit.T
        rows = torch.arange(len(similarity))
        similarity[rows, rows + start] = -math.inf  # not its own neighbour
        top, index = similarity.topk(k, dim=1)
        indices.append(index)
        distances.append((1 - top).clamp_min(0))
    return torch.cat(indices).numpy().astype(np.int64), torch.cat(distances).double().numpy()


def _has_torchdr() -> bool:
    import importlib.util

    return importlib.util.find_spec("torchdr") is not None


def _torchdr_tsne(features: np.ndarray, seed: int, perplexity: float, device: str,
                  steps: tuple[int, int] = (TSNE_EXAGGERATION_ITER, TSNE_ITER)) -> np.ndarray:
    from torchdr import TSNE

    # TorchDR 0.5 has no cosine metric. On unit vectors the squared Euclidean distance is twice the cosine
    # distance, and perplexity-calibrated affinities do not depend on the distances' scale: the same affinities.
    x = F.normalize(torch.from_numpy(features).float().to(device), dim=1)
    # openTSNE's schedule, not TorchDR's 2,000 steps: on small maps a step is kernel launches, not arithmetic.
    tsne = TSNE(perplexity=perplexity, metric="sqeuclidean", random_state=seed, device=device, verbose=False,
                early_exaggeration_iter=steps[0], max_iter=sum(steps))
    return tsne.fit_transform(x).detach().cpu().double().numpy()


def knn_preservation(features: np.ndarray, points: np.ndarray, k: int = 10) -> float:
    """The share of each point's k nearest neighbours in the features (cosine) that are among its k nearest in
    the 2-D map (Euclidean), averaged: 1 when the map keeps every neighbourhood."""
    from sklearn.neighbors import NearestNeighbors

    k = min(k, len(features) - 1)
    if k < 1:
        return float("nan")
    high = NearestNeighbors(n_neighbors=k + 1, metric="cosine").fit(features).kneighbors(return_distance=False)
    low = NearestNeighbors(n_neighbors=k + 1).fit(points).kneighbors(return_distance=False)
    kept = [len(set(a[:k]) & set(b[:k])) for a, b in zip(high, low, strict=True)]
    return float(np.mean(kept)) / k


def silhouette(features: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette of the features grouped by label, cosine distance; NaN when undefined."""
    from sklearn.metrics import silhouette_score

    n_labels = len(np.unique(labels))
    if not 2 <= n_labels <= len(labels) - 1:
        return float("nan")
    return float(silhouette_score(features, labels, metric="cosine"))
