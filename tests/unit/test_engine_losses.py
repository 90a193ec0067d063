"""NT-Xent pinned on hand-computed cases; the method registry."""

import math

import numpy as np
import pytest
import torch

from worker.engine.losses import LOSSES, cross_entropy, nt_xent
from worker.spec import RunSpec


def _nt_xent_reference(z1: np.ndarray, z2: np.ndarray, t: float) -> float:
    """Eq. (1) of Chen et al. 2020, written as a plain loop over the 2N anchors."""
    z = np.concatenate([z1, z2])
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    n = len(z1)
    total = 0.0
    for i in range(2 * n):
        positive = (i + n) % (2 * n)
        denominator = sum(math.exp(z[i] @ z[k] / t) for k in range(2 * n) if k != i)
        total += -math.log(math.exp(z[i] @ z[positive] / t) / denominator)
    return total / (2 * n)


def test_nt_xent_on_orthogonal_pairs_matches_the_closed_form():
    # Two images, views identical and orthogonal across images. Every anchor sees its
    # positive at similarity 1 and two negatives at 0: loss = -log(e / (e + 2)).
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert nt_xent(z, z.clone(), temperature=1.0).item() == pytest.approx(math.log(1 + 2 / math.e), abs=1e-6)


def test_nt_xent_matches_a_loop_over_anchors():
    rng = np.random.default_rng(0)
    z1, z2 = rng.normal(size=(2, 5)), rng.normal(size=(2, 5))
    expected = _nt_xent_reference(z1, z2, t=0.5)
    got = nt_xent(torch.tensor(z1, dtype=torch.float32), torch.tensor(z2, dtype=torch.float32), 0.5)
    assert got.item() == pytest.approx(expected, rel=1e-5)


def test_nt_xent_ignores_vector_length():
    z1, z2 = torch.randn(8, 16), torch.randn(8, 16)
    assert nt_xent(z1, z2, 0.2).item() == pytest.approx(nt_xent(3 * z1, 0.1 * z2, 0.2).item(), rel=1e-5)


def test_identical_views_give_lower_loss_than_random_ones():
    generator = torch.Generator().manual_seed(0)
    z = torch.randn(64, 32, generator=generator)
    matched = nt_xent(z, z.clone(), 0.5).item()
    unmatched = nt_xent(z, torch.randn(64, 32, generator=generator), 0.5).item()
    assert matched < unmatched - 1.0
    # Random views are about as good as chance: log of the 2N - 1 candidates.
    assert unmatched == pytest.approx(math.log(127), rel=0.1)


def test_nt_xent_has_gradients_for_both_views():
    z1, z2 = torch.randn(4, 3, requires_grad=True), torch.randn(4, 3, requires_grad=True)
    nt_xent(z1, z2, 0.5).backward()
    assert z1.grad is not None and z2.grad is not None
    assert torch.isfinite(z1.grad).all() and torch.isfinite(z2.grad).all()


def test_cross_entropy_of_confident_correct_logits_is_near_zero():
    logits = torch.tensor([[20.0, 0.0, 0.0], [0.0, 0.0, 20.0]])
    assert cross_entropy(logits, torch.tensor([0, 2])).item() < 1e-6


def test_registry_covers_every_method_in_the_spec():
    methods = RunSpec.model_json_schema()["$defs"]["Method"]["enum"]
    assert set(LOSSES) == set(methods)
    assert LOSSES["simclr"].views == 2 and LOSSES["simclr"].head == "projection"
    assert LOSSES["supervised"].views == 1 and LOSSES["supervised"].head == "classifier"
