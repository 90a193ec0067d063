"""Every loss pinned on hand-computed cases and plain-loop references; finite gradients; the registry."""

import math

import numpy as np
import pytest
import torch

from contrastlab.core.spec import RunSpec
from worker.engine.losses import (
    LOSSES,
    LossParams,
    contrastive_margin,
    cross_entropy,
    n_pairs,
    nt_xent,
    supcon_loss,
    triplet_batch_all,
    triplet_batch_hard,
    triplet_semihard,
)


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
    from worker.engine.methods import REGISTRY

    methods = RunSpec.model_json_schema()["properties"]["method"]["enum"]
    assert set(REGISTRY) == set(methods) and set(LOSSES) <= set(methods)
    assert all(LOSSES[m].views == 2 and LOSSES[m].head == "projection" for m in LOSSES if m != "supervised")
    assert LOSSES["supervised"].views == 1 and LOSSES["supervised"].head == "classifier"


# Three unit vectors: two of class 0 at the same point, one of class 1 orthogonal to them.
THREE = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
THREE_LABELS = torch.tensor([0, 0, 1])


def test_supcon_closed_form_and_lonely_anchor_adds_no_nan():
    # Anchors 0 and 1: positive at cos 1, the other candidate at cos 0 -> -log(e / (e + 1)).
    # Anchor 2 has no positive: it is left out, not a NaN.
    loss = supcon_loss(THREE, THREE_LABELS, temperature=1.0)
    assert loss.item() == pytest.approx(math.log(1 + 1 / math.e), abs=1e-6)
    alone = supcon_loss(torch.randn(4, 3), torch.arange(4), 0.5)
    assert alone.item() == 0.0


def test_supcon_with_unique_labels_is_nt_xent():
    z1, z2 = torch.randn(6, 8), torch.randn(6, 8)
    labels = torch.arange(6).repeat(2)
    assert supcon_loss(torch.cat([z1, z2]), labels, 0.3).item() == pytest.approx(nt_xent(z1, z2, 0.3).item(),
                                                                                  rel=1e-5)


def test_contrastive_closed_form():
    # Positives coincide (D = 0); the four negative pairs sit at D = sqrt 2 < margin 2.
    loss = contrastive_margin(THREE, THREE_LABELS, margin=2.0)
    assert loss.item() == pytest.approx((2 - math.sqrt(2)) ** 2 / 2, abs=1e-6)
    assert contrastive_margin(THREE, THREE_LABELS, margin=1.0).item() == pytest.approx(0.0, abs=1e-6)


def test_npairs_closed_form_and_penalty():
    z = torch.eye(2)
    # log(1 + exp(f_i.f_j+ - f_i.f_i+)) = log(1 + e^-1) for both anchors; unit norms give a penalty of 1.
    assert n_pairs(z, z.clone(), torch.tensor([0, 1]), 0.0).item() == pytest.approx(math.log(1 + 1 / math.e))
    assert n_pairs(z, z.clone(), torch.tensor([0, 1]), 0.5).item() == pytest.approx(math.log(1 + 1 / math.e) + 0.5)
    # Same class: the other pair is no negative, so nothing is left to push away.
    assert n_pairs(z, z.clone(), torch.tensor([0, 0]), 0.0).item() == pytest.approx(0.0, abs=1e-7)


def test_triplets_closed_form():
    # Each class holds two orthogonal points; each anchor's nearest negative coincides with it.
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    labels = torch.tensor([0, 0, 1, 1])
    # batch-hard: d(a, p) = 2, nearest negative d = 0: 2 - 0 + 0.5.
    assert triplet_batch_hard(z, labels, 0.5).item() == pytest.approx(2.5)
    # batch-all: per anchor the negatives at 0 (loss 2.5) and at 2 (loss 0.5), mean over non-zero = 1.5.
    assert triplet_batch_all(z, labels, 0.5).item() == pytest.approx(1.5)
    # semi-hard: no negative farther than d(a, p) = 2, so the farthest (2): loss = margin.
    assert triplet_semihard(z, labels, 0.5).item() == pytest.approx(0.5)


def _sq(z: np.ndarray) -> np.ndarray:
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    return ((z[:, None] - z[None]) ** 2).sum(-1)


def _triplet_references(z: np.ndarray, y: np.ndarray, m: float) -> dict[str, float]:
    """The three minings written as plain loops over anchors, positives and negatives."""
    d, n = _sq(z), len(z)
    hard, every, semi = [], [], []
    for a in range(n):
        pos = [p for p in range(n) if p != a and y[p] == y[a]]
        neg = [k for k in range(n) if y[k] != y[a]]
        if not pos or not neg:
            continue
        hard.append(max(0.0, max(d[a, p] for p in pos) - min(d[a, k] for k in neg) + m))
        for p in pos:
            every += [max(0.0, d[a, p] - d[a, k] + m) for k in neg]
            beyond = [d[a, k] for k in neg if d[a, k] > d[a, p]]
            semi.append(max(0.0, d[a, p] - (min(beyond) if beyond else max(d[a, k] for k in neg)) + m))
    active = [v for v in every if v > 0]
    return {"hard": float(np.mean(hard)), "all": float(np.mean(active)), "semi": float(np.mean(semi))}


def test_triplets_match_loops_over_the_batch():
    rng = np.random.default_rng(0)
    z, y = rng.normal(size=(12, 4)), rng.integers(0, 3, 12)
    expected = _triplet_references(z, y, 0.3)
    t, labels = torch.tensor(z, dtype=torch.float32), torch.tensor(y)
    assert triplet_batch_hard(t, labels, 0.3).item() == pytest.approx(expected["hard"], rel=1e-4)
    assert triplet_batch_all(t, labels, 0.3).item() == pytest.approx(expected["all"], rel=1e-4)
    assert triplet_semihard(t, labels, 0.3).item() == pytest.approx(expected["semi"], rel=1e-4)


@pytest.mark.parametrize("method", sorted(LOSSES))
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_gradients_are_finite(method, dtype):
    # Identical views hit every edge: zero distances, maximal similarities.
    generator = torch.Generator().manual_seed(0)
    base = torch.randn(16, 10, generator=generator)
    outputs = [base.clone().to(dtype).requires_grad_(), base.clone().to(dtype).requires_grad_()]
    labels = torch.arange(16) % 4
    objective = LOSSES[method]
    loss = objective.loss(outputs[:objective.views], labels, LossParams.from_spec(RunSpec(method=method)))
    loss.backward()
    assert torch.isfinite(loss)
    for out in outputs[:objective.views]:
        assert out.grad is not None and torch.isfinite(out.grad.float()).all()


@pytest.fixture(scope="module")
def digits_batch():
    from worker.engine.data import load_dataset
    from worker.engine.stream import as_tensor

    data = load_dataset("digits")
    return as_tensor(data.train_images)[:48], data.train_labels[:48]


@pytest.mark.parametrize("method", sorted(LOSSES))
def test_a_few_steps_lower_the_loss_on_real_digits(method, digits_batch):
    from worker.engine.augment import augment
    from worker.engine.methods import build_method
    from worker.engine.models import build_encoder

    images, labels = digits_batch
    spec = RunSpec(method=method, device="cpu")
    torch.manual_seed(0)
    encoder = build_encoder(spec, 1, 16)
    encoder.set_normalization(images)
    head = build_method(spec, encoder, 10).head
    objective = LOSSES[method]
    optimizer = torch.optim.Adam([*encoder.parameters(), *head.parameters()], lr=1e-3)
    # Fixed views, so the before/after losses differ only by what the steps changed.
    x = torch.cat([augment(images, spec, torch.Generator().manual_seed(v)) for v in range(objective.views)])

    def loss() -> torch.Tensor:
        return objective.loss(head(encoder(x)).chunk(objective.views), labels, LossParams.from_spec(spec))

    before = loss()
    for _ in range(5):
        optimizer.zero_grad()
        step_loss = loss()
        step_loss.backward()
        optimizer.step()
    assert loss().item() < before.item()
