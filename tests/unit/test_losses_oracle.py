"""Our losses against pytorch-metric-learning (PML), an independent implementation, where definitions agree.

Where they differ, the test pins the part that agrees and the docstring says why:
- contrastive: Hadsell et al. square the hinge and halve both terms; PML's ContrastiveLoss uses the
  plain distance and a plain hinge and averages only non-zero pairs. With margin 0 (no push term)
  and PML on squared distances, the pull terms agree up to our factor 1/2.
- triplets: PML's TripletMarginLoss averages non-zero triplets (AvgNonZeroReducer). Batch-all is
  defined that way here too; batch-hard averages every anchor, so it is compared with a margin large
  enough that no triplet is zero. PML's semi-hard miner keeps every negative with
  d(a,p) < d(a,n) < d(a,p) + margin instead of FaceNet's one nearest-beyond negative, so semi-hard is
  pinned against a plain loop in test_engine_losses.py instead.
- npairs: PML normalises embeddings by default and picks one pair per label; Sohn uses raw inner
  products. Compared with normalisation off, unique labels and no norm penalty.
"""

import pytest
import torch
from pytorch_metric_learning import distances, losses, miners

from worker.engine.losses import (
    contrastive_margin,
    n_pairs,
    nt_xent,
    supcon_loss,
    triplet_batch_all,
    triplet_batch_hard,
)

SQUARED = distances.LpDistance(power=2)  # normalize_embeddings=True by default, as ours


def _batch(n: int = 24, dim: int = 8, classes: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, dim, generator=generator), torch.randint(0, classes, (n,), generator=generator)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_supcon_matches_pml(seed):
    z, labels = _batch(seed=seed)
    labels[0] = 99  # one anchor without a positive: both leave it out
    ours = supcon_loss(z, labels, 0.1)
    theirs = losses.SupConLoss(temperature=0.1)(z, labels)
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-5)


def test_nt_xent_matches_pml():
    z1, z2 = _batch(8)[0], _batch(8, seed=5)[0]
    labels = torch.arange(8).repeat(2)
    theirs = losses.NTXentLoss(temperature=0.5)(torch.cat([z1, z2]), labels)
    assert nt_xent(z1, z2, 0.5).item() == pytest.approx(theirs.item(), rel=1e-5)


@pytest.mark.parametrize("seed", [0, 1])
def test_batch_all_triplet_matches_pml(seed):
    z, labels = _batch(seed=seed)
    theirs = losses.TripletMarginLoss(margin=0.3, distance=SQUARED)(z, labels)
    assert triplet_batch_all(z, labels, 0.3).item() == pytest.approx(theirs.item(), rel=1e-5)


def test_batch_hard_triplet_matches_pml_when_every_triplet_is_active():
    z, labels = _batch()
    mined = miners.BatchHardMiner(distance=SQUARED)(z, labels)
    theirs = losses.TripletMarginLoss(margin=5.0, distance=SQUARED)(z, labels, mined)
    assert triplet_batch_hard(z, labels, 5.0).item() == pytest.approx(theirs.item(), rel=1e-5)


def test_npairs_matches_pml_on_unique_labels():
    anchors, positives = _batch(10)[0], _batch(10, seed=7)[0]
    labels = torch.arange(10)
    pml = losses.NPairsLoss(distance=distances.DotProductSimilarity(normalize_embeddings=False))
    theirs = pml(torch.cat([anchors, positives]), labels.repeat(2))
    assert n_pairs(anchors, positives, labels, 0.0).item() == pytest.approx(theirs.item(), rel=1e-5)


def test_contrastive_pull_term_matches_pml():
    z, labels = _batch()
    theirs = losses.ContrastiveLoss(pos_margin=0, neg_margin=0, distance=SQUARED)(z, labels)
    assert contrastive_margin(z, labels, 0.0).item() == pytest.approx(theirs.item() / 2, rel=1e-5)
