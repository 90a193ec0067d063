"""VICReg: variance, invariance and covariance regularisation."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import in_fp32


@in_fp32
def vicreg(z1: Tensor, z2: Tensor, invariance_weight: float = 25.0, variance_weight: float = 25.0,
           covariance_weight: float = 1.0, eps: float = 1e-4) -> Tensor:
    """lambda * s(Z, Z') + mu * [v(Z) + v(Z')] / 2 + nu * [c(Z) + c(Z')].

    Bardes, Ponce, LeCun (2022), "VICReg", eq. (1)-(6), with the official code's halving of the
    variance term. s is the mean squared error of the two views' embeddings [N, D]; v the mean over
    dimensions of the hinge max(0, 1 - sqrt(Var + eps)) on each dimension's (unbiased) standard
    deviation over the batch; c the sum of squared off-diagonal covariances divided by D. The paper's
    defaults are lambda = mu = 25, nu = 1, eps = 1e-4. Needs a batch of at least 2.
    """
    invariance = F.mse_loss(z1, z2)
    variance = (_variance_hinge(z1, eps) + _variance_hinge(z2, eps)) / 2
    covariance = _covariance_penalty(z1) + _covariance_penalty(z2)
    return invariance_weight * invariance + variance_weight * variance + covariance_weight * covariance


def _variance_hinge(z: Tensor, eps: float) -> Tensor:
    return F.relu(1 - torch.sqrt(z.var(dim=0) + eps)).mean()


def _covariance_penalty(z: Tensor) -> Tensor:
    n, dim = z.shape
    centred = z - z.mean(dim=0)
    covariance = centred.T @ centred / (n - 1)
    off_diagonal = ~torch.eye(dim, dtype=torch.bool, device=z.device)
    return covariance[off_diagonal].pow(2).sum() / dim
