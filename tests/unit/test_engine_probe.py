"""The linear probe as a solve: it reaches (and passes) the former SGD probe's accuracy on digits, takes its L2
strength from the held-out split, and is deterministic."""

import pytest
import torch

from contrastlab.core.spec import RunSpec
from worker.engine.data import load_dataset
from worker.engine.evaluate import encode
from worker.engine.models import build_encoder
from worker.engine.probe import L2_GRID, fit_linear_probe, held_out_split, probe_iterations

# The former probe (100 epochs of mini-batch AdamW, cosine schedule) on digits' 360 test images, measured on
# main at bc0150b: 0.9750 on a random small CNN's features (torch seed 0), 0.9472 on raw pixels.
FORMER_ON_FEATURES, FORMER_ON_PIXELS = 0.9750, 0.9472


def _clusters(n_per_class: int, classes: int = 5, dim: int = 16, seed: int = 0, spread: float = 0.3):
    """Clusters around fixed centres; the seed draws only the noise, so splits share centres."""
    centres = torch.randn(classes, dim, generator=torch.Generator().manual_seed(123)) * 5
    labels = torch.arange(classes).repeat_interleave(n_per_class)
    noise = torch.randn(len(labels), dim, generator=torch.Generator().manual_seed(seed))
    return centres[labels] + spread * noise, labels


@pytest.fixture(scope="module")
def digits():
    spec = RunSpec(dataset="digits", device="cpu")
    data = load_dataset(spec)
    torch.manual_seed(0)
    encoder = build_encoder(spec, data.image_shape[0], data.image_shape[-1])
    encoder.set_normalization(data.train_images)
    return data, encode(encoder, data.train_images, 256, "cpu"), encode(encoder, data.test_images, 256, "cpu")


def test_the_probe_reaches_the_former_probes_accuracy_on_digits(digits):
    data, train, test = digits
    probe = fit_linear_probe(train, data.train_labels, 10, max_iter=100, seed=0)
    assert probe.accuracy(test, data.test_labels) >= FORMER_ON_FEATURES
    pixels = fit_linear_probe(data.train_images.flatten(1).float(), data.train_labels, 10, max_iter=100, seed=0)
    assert pixels.accuracy(data.test_images.flatten(1).float(), data.test_labels) >= FORMER_ON_PIXELS
    assert set(probe.state_dict()) == {"weight", "bias", "mean", "std"} and probe.weight.shape == (10, 256)


def test_the_l2_strength_is_the_best_on_the_held_out_split():
    # Few noisy points in many dimensions: the weakest strengths overfit, and the held-out split says so.
    generator = torch.Generator().manual_seed(0)
    x, y = torch.randn(400, 200, generator=generator), torch.randint(0, 3, (400,), generator=generator)
    x[:, 0] += 0.8 * y  # one weak signal among 200 noise dimensions
    probe = fit_linear_probe(x, y, 3, max_iter=100, seed=0)
    assert probe.held_out and set(probe.held_out) <= set(L2_GRID)
    assert probe.l2 == max(probe.held_out, key=lambda s: (probe.held_out[s], s))  # best, ties to the stronger
    # The score is the accuracy on the held-out rows of a probe fitted on the others at that strength.
    fit, held = held_out_split(len(x), seed=0)
    assert len(held) == 40 and not set(fit.tolist()) & set(held.tolist())
    refit = fit_linear_probe(x[fit], y[fit], 3, max_iter=100, seed=0)
    assert refit.held_out != probe.held_out  # another split, other scores: they come from the split
    assert probe.l2 >= 1e-3  # strong regularisation wins on noise


def test_separable_clusters_are_classified_and_noise_stays_near_chance():
    train_x, train_y = _clusters(40)
    test_x, test_y = _clusters(10, seed=1)
    assert fit_linear_probe(train_x, train_y, 5, max_iter=50, seed=0).accuracy(test_x, test_y) == 1.0
    generator = torch.Generator().manual_seed(0)
    x, y = torch.randn(1000, 8, generator=generator), torch.randint(0, 5, (1000,), generator=generator)
    assert 0.1 < fit_linear_probe(x[:500], y[:500], 5, max_iter=50, seed=0).accuracy(x[500:], y[500:]) < 0.32


def test_the_probe_is_deterministic_and_reports_its_whole_budget():
    x, y = _clusters(20, spread=2.0)
    seen: list[int] = []
    a = fit_linear_probe(x, y, 5, max_iter=7, seed=3, on_iteration=seen.append)
    b = fit_linear_probe(x, y, 5, max_iter=7, seed=3)
    assert torch.equal(a.weight, b.weight) and a.l2 == b.l2
    assert seen == sorted(seen) and seen[-1] == probe_iterations(7) == 7 * (len(L2_GRID) + 1)


def test_a_set_too_small_to_split_takes_the_default_strength():
    x, y = _clusters(4)  # 20 features: 2 held out would be too few
    probe = fit_linear_probe(x, y, 5, max_iter=20, seed=0)
    assert probe.held_out == {} and probe.accuracy(x, y) == 1.0
