"""The self-supervised losses and EMA blocks against lightly, an implementation nobody here wrote.

Each test feeds the same tensors to ours and to lightly's and asserts equality to fp32 rounding. Where
the definitions differ, a test pins the difference:
- negative cosine: ours stops the target's gradient (SimSiam's stopgrad, BYOL's target); lightly leaves
  that to the model. Values and the prediction's gradient agree.
- cosine_schedule: ours follows BYOL (tau reaches `end` at step K); lightly's reaches it at K - 1, so
  ours(k, K) == lightly(k, K + 1).
- MoCo v3 InfoNCE (no queue): the negatives are the other keys (N logits); lightly's NTXentLoss without a
  memory bank is SimCLR's 2N - 1 form. With a memory bank both are MoCo's (positive + queue) and agree.
- NNCLR: the same N-logit form (the paper's eq. 2); lightly's NNCLR example feeds its nearest neighbours
  to the 2N - 1 NTXentLoss. The nearest-neighbour lookup agrees with its NNMemoryBankModule.
- Sinkhorn: ours works in the log domain; lightly takes exp(scores / epsilon), which overflows float32
  at epsilon 0.01 (NaN codes); there ours matches lightly run in float64.
- FeatureQueue: a ring buffer; lightly's memory bank drops the part of a batch that runs past its end.
  They agree when the size is a multiple of the batch.
"""

import copy

import pytest
import torch
from lightly.loss import BarlowTwinsLoss, DINOLoss, NegativeCosineSimilarity, NTXentLoss, SwaVLoss, VICRegLoss
from lightly.loss.swav_loss import sinkhorn as lightly_sinkhorn
from lightly.models.modules.nn_memory_bank import NNMemoryBankModule
from lightly.models.utils import update_momentum as lightly_update_momentum
from lightly.utils.scheduler import cosine_schedule as lightly_cosine_schedule
from torch import nn

from worker.engine.ema import cosine_schedule, update_momentum
from worker.engine.losses.barlow_twins import barlow_twins
from worker.engine.losses.cosine import negative_cosine
from worker.engine.losses.dino import dino, next_center
from worker.engine.losses.moco import info_nce, symmetric_info_nce
from worker.engine.losses.nnclr import nearest_neighbours, nnclr
from worker.engine.losses.swav import sinkhorn, swav
from worker.engine.losses.vicreg import vicreg
from worker.engine.queue import FeatureQueue

ATOL = 1e-5  # fp32 rounding of sums over a few hundred terms


def _randn(*shape: int, seed: int = 0, scale: float = 1.0) -> torch.Tensor:
    return (torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * scale).requires_grad_()


def _grads(loss: torch.Tensor, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return torch.autograd.grad(loss, inputs)


@pytest.mark.parametrize("seed", [0, 1])
def test_vicreg_matches_lightly_with_gradients(seed):
    z1, z2 = _randn(32, 16, seed=seed, scale=0.5), _randn(32, 16, seed=seed + 10, scale=0.5)
    ours, theirs = vicreg(z1, z2), VICRegLoss()(z1, z2)
    assert ours.item() == pytest.approx(theirs.item(), abs=ATOL, rel=1e-6)
    for a, b in zip(_grads(ours, z1, z2), _grads(theirs, z1, z2), strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)


def test_vicreg_weights_match_lightly():
    z1, z2 = _randn(16, 8, seed=3), _randn(16, 8, seed=4)
    ours = vicreg(z1, z2, invariance_weight=10.0, variance_weight=5.0, covariance_weight=2.0, eps=1e-3)
    theirs = VICRegLoss(lambda_param=10.0, mu_param=5.0, nu_param=2.0, eps=1e-3)(z1, z2)
    assert ours.item() == pytest.approx(theirs.item(), abs=ATOL, rel=1e-6)


@pytest.mark.parametrize("seed", [0, 1])
def test_barlow_twins_matches_lightly_with_gradients(seed):
    z1, z2 = _randn(64, 32, seed=seed), _randn(64, 32, seed=seed + 10)
    ours, theirs = barlow_twins(z1, z2), BarlowTwinsLoss()(z1, z2)
    assert ours.item() == pytest.approx(theirs.item(), abs=ATOL, rel=1e-6)
    for a, b in zip(_grads(ours, z1, z2), _grads(theirs, z1, z2), strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)


def test_barlow_twins_lambda_matches_lightly():
    z1, z2 = _randn(20, 6, seed=5), _randn(20, 6, seed=6)
    assert barlow_twins(z1, z2, 0.1).item() == pytest.approx(BarlowTwinsLoss(lambda_param=0.1)(z1, z2).item(),
                                                             abs=ATOL, rel=1e-6)


def test_negative_cosine_matches_lightly_and_stops_the_target_gradient():
    p, z = _randn(16, 8, seed=0), _randn(16, 8, seed=1)
    ours, theirs = negative_cosine(p, z), NegativeCosineSimilarity()(p, z)
    assert ours.item() == pytest.approx(theirs.item(), abs=1e-6)
    (ours_dp,) = _grads(ours, p)
    their_dp, their_dz = _grads(theirs, p, z)
    torch.testing.assert_close(ours_dp, their_dp)
    assert their_dz.abs().sum() > 0  # lightly's target is differentiable; ours is not:
    assert torch.autograd.grad(negative_cosine(p, z), z, allow_unused=True)[0] is None


def test_negative_cosine_is_byols_loss_up_to_an_affine_map():
    p, z = _randn(16, 8, seed=2), _randn(16, 8, seed=3)
    byol = (2 - 2 * (nn.functional.normalize(p, dim=1) * nn.functional.normalize(z, dim=1)).sum(dim=1)).mean()
    assert byol.item() == pytest.approx(2 + 2 * negative_cosine(p, z).item(), abs=1e-5)


def _dino_views(large: int, small: int, batch: int = 8, dim: int = 32, seed: int = 0):
    student = [_randn(batch, dim, seed=seed + v) for v in range(large + small)]
    teacher = [_randn(batch, dim, seed=seed + 100 + v) for v in range(large)]
    return student, teacher


@pytest.mark.parametrize(("large", "small"), [(2, 0), (2, 4)])
def test_dino_matches_lightly_with_multi_crop_and_centre(large, small):
    student, teacher = _dino_views(large, small)
    center = _randn(32, seed=7, scale=0.1).detach()
    reference = DINOLoss(output_dim=32, warmup_teacher_temp=0.04, teacher_temp=0.04, student_temp=0.1,
                         center_momentum=0.9)
    reference.center.copy_(center.view(1, 1, -1))
    theirs = reference(teacher, student, teacher_temp=0.04)
    ours = dino(torch.stack(student), torch.stack(teacher), center, 0.1, 0.04)
    assert ours.item() == pytest.approx(theirs.item(), abs=ATOL, rel=1e-6)
    for a, b in zip(_grads(ours, *student), _grads(theirs, *student), strict=True):
        torch.testing.assert_close(a, b, atol=1e-7, rtol=1e-5)
    batch_center = torch.stack(teacher).detach().mean(dim=(0, 1))
    torch.testing.assert_close(next_center(center, batch_center, 0.9), reference.center.view(-1))


def test_dino_at_a_low_student_temperature_stays_finite_and_matches_lightly():
    student, teacher = _dino_views(2, 2, seed=3)
    student = [(s * 5).detach().requires_grad_() for s in student]  # logits of +-500 at temperature 0.01
    reference = DINOLoss(output_dim=32, warmup_teacher_temp=0.01, teacher_temp=0.01, student_temp=0.01)
    theirs = reference(teacher, student, teacher_temp=0.01)
    ours = dino(torch.stack(student), torch.stack(teacher), torch.zeros(32), 0.01, 0.01)
    assert torch.isfinite(ours) and ours.item() == pytest.approx(theirs.item(), rel=1e-5)
    assert all(torch.isfinite(g).all() for g in _grads(ours, *student))


def test_dino_under_bf16_autocast_is_the_fp32_value():
    student, teacher = _dino_views(2, 2, seed=4)
    s, t = torch.stack(student), torch.stack(teacher)
    fp32 = dino(s, t, torch.zeros(32))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = dino(s.bfloat16(), t.bfloat16(), torch.zeros(32))
    assert mixed.dtype == torch.float32
    assert mixed.item() == pytest.approx(fp32.item(), rel=1e-2)  # only the inputs were rounded to bf16


@pytest.mark.parametrize("iterations", [1, 3, 10])
def test_sinkhorn_matches_lightly(iterations):
    scores = nn.functional.normalize(_randn(64, 10, seed=iterations).detach(), dim=1)
    ours = sinkhorn(scores, 0.05, iterations)
    theirs = lightly_sinkhorn(scores, iterations=iterations, epsilon=0.05)
    torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=1e-4)
    torch.testing.assert_close(ours.sum(dim=1), torch.ones(64))  # each sample's code is a distribution


def test_sinkhorn_at_a_small_epsilon_is_finite_where_lightly_overflows():
    scores = nn.functional.normalize(_randn(32, 8, seed=9).detach(), dim=1)
    scores[0, 0] = 0.95  # exp(0.95 / 0.01) = exp(95) > float32's max
    assert torch.isnan(lightly_sinkhorn(scores, iterations=3, epsilon=0.01)).any()
    ours = sinkhorn(scores, 0.01, 3)
    assert torch.isfinite(ours).all()
    torch.testing.assert_close(ours, lightly_sinkhorn(scores.double(), iterations=3, epsilon=0.01).float(),
                               atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize(("large", "small", "queued"), [(2, 0, False), (2, 4, False), (2, 2, True)])
def test_swav_matches_lightly_with_multi_crop_and_queue(large, small, queued):
    def scores(seed):
        return nn.functional.normalize(_randn(16, 12, seed=seed).detach(), dim=1).requires_grad_()

    crops = [scores(v) for v in range(large + small)]
    queue = [scores(50 + v).detach() for v in range(large)] if queued else None
    theirs = SwaVLoss(temperature=0.1, sinkhorn_iterations=3, sinkhorn_epsilon=0.05)(
        crops[:large], crops[large:], queue)
    ours = swav(torch.stack(crops), large, 0.1, 0.05, 3, torch.stack(queue) if queue else None)
    assert ours.item() == pytest.approx(theirs.item(), abs=ATOL, rel=1e-6)
    for a, b in zip(_grads(ours, *crops), _grads(theirs, *crops), strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("temperature", [0.2, 0.01])
def test_info_nce_with_a_queue_matches_lightlys_ntxent_with_a_memory_bank(temperature):
    query, key = _randn(16, 8, seed=0), _randn(16, 8, seed=1)
    queue = nn.functional.normalize(torch.randn(64, 8, generator=torch.Generator().manual_seed(2)), dim=1)
    reference = NTXentLoss(temperature=temperature, memory_bank_size=(64, 8))
    reference.memory_bank.bank = queue.clone()
    theirs = reference(query, key)
    ours = info_nce(query, key, temperature, queue)
    assert torch.isfinite(ours) and ours.item() == pytest.approx(theirs.item(), abs=ATOL, rel=1e-5)
    for a, b in zip(_grads(ours, query, key), _grads(theirs, query, key), strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-4)


def test_info_nce_without_a_queue_is_moco_v3_not_simclr():
    q1, q2, k1, k2 = (_randn(12, 8, seed=s) for s in range(4))
    q, k = nn.functional.normalize(q1, dim=1), nn.functional.normalize(k2, dim=1)
    by_hand = nn.functional.cross_entropy(q @ k.T / 0.2, torch.arange(12))  # MoCo v3's ctr, before its 2 tau
    assert info_nce(q1, k2, 0.2).item() == pytest.approx(by_hand.item(), abs=1e-6)
    assert info_nce(q1, k2, 0.2).item() != pytest.approx(NTXentLoss(0.2)(q1, k2).item(), abs=1e-3)
    moco_v3 = 2 * 0.2 * (by_hand + nn.functional.cross_entropy(
        nn.functional.normalize(q2, dim=1) @ nn.functional.normalize(k1, dim=1).T / 0.2, torch.arange(12)))
    assert moco_v3.item() == pytest.approx(4 * 0.2 * symmetric_info_nce(q1, q2, k1, k2, 0.2).item(), abs=1e-5)


def test_nearest_neighbours_match_lightlys_memory_bank():
    support = torch.randn(40, 8, generator=torch.Generator().manual_seed(0))
    z = _randn(10, 8, seed=1)
    bank = NNMemoryBankModule(size=(40, 8))
    bank.bank = support.clone()
    torch.testing.assert_close(nearest_neighbours(z, support), bank(z.detach(), update=False))


def test_nnclr_is_the_papers_infonce_on_neighbours_with_gradients_only_on_predictions():
    z1, z2, p1, p2 = (_randn(12, 8, seed=s) for s in range(4))
    support = torch.randn(30, 8, generator=torch.Generator().manual_seed(9))
    bank = NNMemoryBankModule(size=(30, 8))
    bank.bank = support.clone()
    nn1, nn2 = bank(z1.detach()), bank(z2.detach())

    def paper(anchor, positive):  # eq. (2): softmax over the other view's N predictions
        logits = nn.functional.normalize(anchor, dim=1) @ nn.functional.normalize(positive, dim=1).T / 0.1
        return nn.functional.cross_entropy(logits, torch.arange(12))

    ours = nnclr(z1, z2, p1, p2, support, 0.1)
    assert ours.item() == pytest.approx(((paper(nn1, p2) + paper(nn2, p1)) / 2).item(), abs=1e-6)
    lightly_recipe = (NTXentLoss(0.1)(nn1, p2) + NTXentLoss(0.1)(nn2, p1)) / 2  # SimCLR's 2N - 1 negatives
    assert ours.item() != pytest.approx(lightly_recipe.item(), abs=1e-3)
    grads = torch.autograd.grad(ours, (z1, p1), allow_unused=True)
    assert grads[0] is None and grads[1].abs().sum() > 0


def test_update_momentum_matches_lightly():
    model = nn.Sequential(nn.Linear(6, 5), nn.BatchNorm1d(5), nn.Linear(5, 3))
    ours_target, their_target = copy.deepcopy(model), copy.deepcopy(model)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter))
    for m in (0.99, 0.5):
        update_momentum(model, ours_target, m)
        lightly_update_momentum(model, their_target, m)
    for a, b in zip(ours_target.state_dict().values(), their_target.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, atol=0, rtol=0)


@pytest.mark.parametrize("max_steps", [10, 1000])
def test_cosine_schedule_is_lightlys_with_one_more_step(max_steps):
    for step in range(0, max_steps + 1, max(1, max_steps // 10)):
        expected = lightly_cosine_schedule(step, max_steps + 1, 0.996, 1.0)
        assert cosine_schedule(step, max_steps, 0.996, 1.0) == pytest.approx(expected, abs=1e-12)
    assert cosine_schedule(0, max_steps, 0.996, 1.0) == 0.996
    assert cosine_schedule(max_steps, max_steps, 0.996, 1.0) == 1.0
    assert lightly_cosine_schedule(max_steps - 1, max_steps, 0.996, 1.0) == 1.0  # lightly: one step sooner


@pytest.mark.parametrize("batch", [8, 5])
def test_feature_queue_against_lightlys_memory_bank(batch):
    from lightly.models.modules.memory_bank import MemoryBankModule

    queue, bank = FeatureQueue(24, 4), MemoryBankModule(size=(24, 4), feature_dim_first=False)
    pushed = [torch.randn(batch, 4, generator=torch.Generator().manual_seed(s)) for s in range(7)]
    for rows in pushed:
        queue.push(rows)
        bank(rows, update=True)
    newest = torch.cat(pushed)[-24:]
    assert sorted(map(tuple, queue.contents().tolist())) == sorted(map(tuple, newest.tolist()))
    if 24 % batch == 0:  # lightly drops the tail of a batch that runs past the end; otherwise the same
        assert torch.equal(queue.features, bank.bank)
    else:
        assert not torch.equal(queue.features, bank.bank)


def test_feature_queue_before_it_is_full_and_after_a_restore():
    queue = FeatureQueue(10, 2)
    queue.push(torch.ones(3, 2))
    assert queue.contents().shape == (3, 2)
    restored = FeatureQueue(10, 2)
    restored.load_state_dict(queue.state_dict())
    restored.push(torch.zeros(9, 2))
    assert restored.contents().shape == (10, 2) and restored.contents().sum() == 2  # one of the ones is left
