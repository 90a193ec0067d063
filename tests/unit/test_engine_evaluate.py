"""k-NN, t-SNE sample and silhouette on synthetic features; the shared feature path (the probe: test_engine_probe)."""

import math

import numpy as np
import pytest
import torch

from contrastlab.core.spec import RunSpec
from worker.engine.evaluate import (
    cosine_neighbours,
    encode,
    for_inference,
    knn_accuracy,
    knn_preservation,
    silhouette,
    tsne_2d,
    tsne_sample_indices,
)
from worker.engine.models import build_encoder


def _clusters(n_per_class: int, classes: int = 5, dim: int = 16, seed: int = 0):
    """Tight clusters around fixed centres; the seed draws only the noise, so splits share centres."""
    centres = torch.randn(classes, dim, generator=torch.Generator().manual_seed(123)) * 5
    labels = torch.arange(classes).repeat_interleave(n_per_class)
    noise = torch.randn(len(labels), dim, generator=torch.Generator().manual_seed(seed))
    return centres[labels] + 0.3 * noise, labels


def test_knn_separates_separable_features():
    train_x, train_y = _clusters(40)
    test_x, test_y = _clusters(10, seed=1)
    assert knn_accuracy(train_x, train_y, test_x, test_y, k=5, temperature=0.07, num_classes=5) == 1.0


def test_knn_on_random_labels_is_near_chance():
    generator = torch.Generator().manual_seed(0)
    train_x, test_x = torch.randn(500, 16, generator=generator), torch.randn(500, 16, generator=generator)
    train_y = torch.randint(0, 5, (500,), generator=generator)
    test_y = torch.randint(0, 5, (500,), generator=generator)
    assert 0.1 < knn_accuracy(train_x, train_y, test_x, test_y, k=20, temperature=0.07, num_classes=5) < 0.3


def test_knn_survives_a_tiny_temperature_and_k_above_the_train_size():
    train_x, train_y = _clusters(2)
    assert knn_accuracy(train_x, train_y, train_x, train_y, k=1000, temperature=0.001, num_classes=5) == 1.0


def test_tsne_sample_is_fixed_sorted_and_in_range():
    indices = tsne_sample_indices(1000, 100)
    assert torch.equal(indices, tsne_sample_indices(1000, 100))
    assert len(indices.unique()) == 100 and torch.equal(indices, indices.sort().values)
    assert 0 <= indices.min() and indices.max() < 1000
    assert torch.equal(tsne_sample_indices(50, 100), torch.arange(50))


def test_tsne_gives_finite_2d_points():
    x, _ = _clusters(10)
    points = tsne_2d(x.numpy(), seed=0)
    assert points.shape == (50, 2) and np.isfinite(points).all()
    assert np.array_equal(points, tsne_2d(x.numpy(), seed=0))


def test_silhouette_high_for_clusters_and_undefined_for_one_label():
    x, y = _clusters(20)
    assert silhouette(x.numpy(), y.numpy()) > 0.5
    assert math.isnan(silhouette(x.numpy(), np.zeros(len(y), dtype=int)))


def test_encode_is_batch_independent_eval_mode_and_restores_training():
    torch.manual_seed(0)
    encoder = build_encoder(RunSpec(), in_channels=1)
    encoder.train()
    images = torch.randint(0, 256, (20, 1, 16, 16), dtype=torch.uint8)
    a = encode(encoder, images, 7, "cpu")
    b = encode(encoder, images, 64, "cpu")
    assert a.shape == (20, encoder.feature_dim) and a.dtype == torch.float32
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    assert encoder.training


@pytest.mark.parametrize("channels", [1, 3])
def test_resnet18_takes_small_images_with_any_channel_count(channels):
    encoder = build_encoder(RunSpec(encoder="resnet18"), in_channels=channels)
    features = encode(encoder, torch.zeros(2, channels, 16, 16, dtype=torch.uint8), 2, "cpu")
    assert features.shape == (2, 512) and encoder.feature_dim == 512


@pytest.mark.parametrize(("name", "size", "dim"), [("resnet34", 16, 512), ("resnet50", 16, 2048),
                                                   ("resnet18", 96, 512)])
def test_resnets_pick_their_stem_by_image_size(name, size, dim):
    encoder = build_encoder(RunSpec(encoder=name), in_channels=3, image_size=size)
    assert encoder.feature_dim == dim
    small_stem = encoder.backbone.get_submodule("conv1").kernel_size == (3, 3)
    assert small_stem == (size <= 64)
    assert encode(encoder, torch.zeros(2, 3, size, size, dtype=torch.uint8), 2, "cpu").shape == (2, dim)


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_projection_head_depth(depth):
    from worker.engine.models import build_projection_head

    head = build_projection_head(RunSpec(projection_depth=depth, projection_dim=7), feature_dim=32)
    assert sum(isinstance(m, torch.nn.Linear) for m in head) == depth
    assert head.eval()(torch.randn(3, 32)).shape == (3, 7)


def test_tsne_is_deterministic_per_seed_and_keeps_neighbourhoods_as_well_as_scikit_learn():
    from sklearn.datasets import load_digits
    from sklearn.manifold import TSNE

    features = load_digits().data[:600].astype(np.float64)
    ours = tsne_2d(features, seed=0)
    assert np.array_equal(ours, tsne_2d(features, seed=0))
    assert not np.array_equal(ours, tsne_2d(features, seed=1))
    theirs = TSNE(perplexity=30.0, metric="cosine", random_state=0).fit_transform(features)
    assert knn_preservation(features, ours) >= knn_preservation(features, theirs) - 0.03
    assert knn_preservation(features, features[:, :2] * 0) < 0.2  # the score tells a map that keeps nothing


@pytest.mark.parametrize("name", ["small_cnn", "resnet18"])
def test_features_come_from_a_folded_copy_that_matches_the_encoder(name):
    """Every BatchNorm folded into its convolution, in a copy: same features, the encoder left as it was."""
    torch.manual_seed(0)
    encoder = build_encoder(RunSpec(encoder=name), 3, 32)
    for module in encoder.modules():  # running statistics that are not the identity, as after training
        if isinstance(module, torch.nn.BatchNorm2d):
            assert module.running_mean is not None and module.running_var is not None
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    images = torch.randint(0, 256, (24, 3, 32, 32), dtype=torch.uint8)
    encoder.eval()
    with torch.no_grad():
        expected = encoder(images.float() / 255)
    folded = for_inference(encoder)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in encoder.modules())
    features = encode(encoder, images, 10, "cpu")
    torch.testing.assert_close(features, expected, rtol=1e-4, atol=1e-5)


def test_the_tsne_neighbours_are_scikit_learns_exact_cosine_neighbours():
    """Computed in chunks of rows (here 64 of 300), a point never its own neighbour, nearest first."""
    from sklearn.neighbors import NearestNeighbors

    features = np.random.default_rng(0).normal(size=(300, 12))
    indices, distances = cosine_neighbours(features, 9, chunk=64)
    expected_d, expected_i = NearestNeighbors(n_neighbors=9, metric="cosine").fit(features).kneighbors()
    assert indices.shape == distances.shape == (300, 9) and indices.dtype == np.int64
    assert (indices != np.arange(300)[:, None]).all()
    assert np.mean(indices == expected_i) > 0.99  # float32 against float64 may swap a near tie
    np.testing.assert_allclose(distances, expected_d, atol=1e-5)
    assert (np.diff(distances, axis=1) >= 0).all()


def test_the_gpu_tsne_takes_the_engine_features_and_keeps_their_cosine_neighbourhoods():
    """The TorchDR path a CUDA worker takes, run here on the CPU: TorchDR 0.5 refuses metric="cosine" (every
    CUDA run failed at its t-SNE, seen on an H200), so the engine gives it unit vectors and squared distances.
    TorchDR on a CPU takes about a second a step, so a few steps here: the map's quality is bench/tsne.py's."""
    from sklearn.datasets import load_digits

    from worker.engine.evaluate import _torchdr_tsne

    features = load_digits().data[:120].astype(np.float32)
    ours = _torchdr_tsne(features, 0, 30.0, "cpu", steps=(4, 4))
    assert ours.shape == (120, 2) and np.isfinite(ours).all() and np.ptp(ours, axis=0).min() > 0
