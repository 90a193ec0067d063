"""The linear probe: multinomial logistic regression on standardised frozen features, solved to convergence.

A full-batch L-BFGS solve (the problem is smooth and strongly convex, so it has one answer a solver can reach,
unlike a fixed number of SGD epochs), with its L2 strength chosen on a held-out split of the training features:
a short path of strengths, strongest first, each solve warm-started from the previous one; then one solve on all
the training features at the chosen strength, warm-started from its path solution.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

L2_GRID = (1e-2, 1e-3, 1e-4, 1e-5)  # strongest first: each solve starts from the previous, stronger one
HELD_OUT_FRACTION = 0.1
MIN_HELD_OUT = 10  # fewer held-out features than this cannot rank strengths: the path is skipped
DEFAULT_L2 = 1e-3  # the strength when there is no held-out split to choose one on
PATH_PATIENCE = 1  # the path stops at the first strength that does no better on the held-out split than the one before
CHUNK = 10  # iterations between progress reports
HISTORY = 10  # L-BFGS correction pairs: plenty for a problem of this size, cheap in memory
# Relative decrease of the loss below which the solve has converged: far below what moves an accuracy.
TOLERANCE = 1e-6
LOG_P_FLOOR = -80.0  # probabilities below e^-80 count as e^-80 in the gradient: no denormals, no visible change


@dataclass
class LinearProbe:
    """Logistic regression on standardised frozen features, with the L2 strength the held-out split chose and
    that split's accuracy at each strength tried (empty when there was no split)."""

    weight: torch.Tensor  # [C, D]
    bias: torch.Tensor  # [C]
    mean: torch.Tensor  # [D], of the training features
    std: torch.Tensor  # [D]
    l2: float = DEFAULT_L2
    held_out: dict[float, float] = field(default_factory=dict)

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        return F.linear((features - self.mean) / self.std, self.weight, self.bias)

    def accuracy(self, features: torch.Tensor, labels: torch.Tensor) -> float:
        with torch.no_grad():
            predictions = self.logits(features.float()).argmax(dim=1)
        return (predictions == labels.to(predictions.device)).sum().item() / max(1, len(labels))

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"weight": self.weight, "bias": self.bias, "mean": self.mean, "std": self.std}


def probe_iterations(max_iter: int) -> int:
    """The iteration budget of one probe (every strength of the path, then the final solve): its progress total."""
    return max_iter * (len(L2_GRID) + 1)


def held_out_split(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (fit, held out) of the training features that rank the L2 strengths; held out is empty when
    the set is too small to spare MIN_HELD_OUT of them."""
    held = int(n * HELD_OUT_FRACTION)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    if held < MIN_HELD_OUT:
        return order, order[:0]
    return order[held:], order[:held]


def fit_linear_probe(features: torch.Tensor, labels: torch.Tensor, num_classes: int, max_iter: int, seed: int,
                     on_iteration: Callable[[int], None] | None = None) -> LinearProbe:
    """The probe on features [N, D] with labels [N]; max_iter bounds each L-BFGS solve; seed draws the held-out
    split; on_iteration hears how many of probe_iterations(max_iter) are done (a solve that converges early
    counts its unused budget as done). Draws nothing from the global random generator."""
    features = features.float()
    labels = labels.to(features.device)
    mean = features.mean(dim=0)
    std = features.std(dim=0).clamp_min(1e-6) if len(features) > 1 else torch.ones_like(mean)
    design = _Design((features - mean) / std, labels)
    # Bias as the last row: one parameter tensor for the solver. Zero start: the solve draws no randomness.
    params = torch.zeros(features.shape[1] + 1, num_classes, device=features.device)
    report: Callable[[int], None] = on_iteration or (lambda done: None)
    fit_idx, held_idx = held_out_split(len(features), seed)
    l2, done = DEFAULT_L2, 0
    held_out: dict[float, float] = {}
    if len(held_idx):
        fit, held = design.subset(fit_idx.to(features.device)), design.subset(held_idx.to(features.device))
        best, best_params, misses = -1.0, params.clone(), 0
        for strength in L2_GRID:
            _solve(fit, params, strength, max_iter, functools.partial(_offset, report, done))
            done += max_iter
            accuracy = (held.logits(params).argmax(0) == held.labels).float().mean().item()
            held_out[strength] = accuracy
            if accuracy > best:  # ties go to the stronger strength, tried first
                best, l2, best_params, misses = accuracy, strength, params.clone(), 0
            else:
                misses += 1
                if misses >= PATH_PATIENCE:
                    break
        params = best_params
        del fit, held  # their copies of the features are not needed for the final solve
        done = max_iter * len(L2_GRID)
        report(done)
    _solve(design, params, l2, max_iter, functools.partial(_offset, report, done))
    report(probe_iterations(max_iter))
    weight, bias = params[:-1].T.contiguous(), params[-1].clone()
    return LinearProbe(weight, bias, mean, std, l2, held_out)


def _offset(report: Callable[[int], None], before: int, done: int) -> None:
    report(before + done)


class _Design:
    """Standardised features in the layouts the solve reads, class-major: logits are [C, N], so the softmax and
    the residual run along contiguous rows of N (a [N, 10] softmax vectorises poorly on a CPU).

    On a CPU with bf16 matrix units the feature copies are bf16: a thin [C, D] x [D, N] product is memory-bound
    there and runs several times faster in bf16 (oneDNN) than in fp32 (MKL); the loss, softmax and parameters
    stay fp32, and the rounding (about 0.3 % of a logit) moves the probe's accuracy far less than a seed does.
    """

    def __init__(self, x: torch.Tensor, labels: torch.Tensor) -> None:
        dtype = torch.bfloat16 if x.device.type == "cpu" and _cpu_bf16() else torch.float32
        self.rows = x.to(dtype).contiguous()  # [N, D]
        self.columns = self.rows.T.contiguous()  # [D, N]
        self.labels = labels
        # Where each sample's true class sits in the flattened [C, N] logits.
        self.targets = labels * len(labels) + torch.arange(len(labels), device=labels.device)

    def logits(self, params: torch.Tensor) -> torch.Tensor:
        """[C, N] logits of params ([D + 1, C], the bias last)."""
        return (params[:-1].T.to(self.rows.dtype) @ self.columns).float().add_(params[-1, :, None])

    def loss_and_grad(self, params: torch.Tensor, l2: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean cross-entropy + l2 / 2 * |W|^2 and its gradient, written out: two matrix products, no graph."""
        n, weight = len(self.labels), params[:-1]
        log_p = torch.log_softmax(self.logits(params), dim=0)
        flat = log_p.view(-1)
        loss = -flat[self.targets].sum() / n + 0.5 * l2 * weight.square().sum()
        # exp below e^-87 is a denormal, which x86 computes (and then multiplies) a hundred times slower.
        residual = log_p.clamp_(min=LOG_P_FLOOR).exp_()
        flat[self.targets] -= 1.0  # softmax minus the one-hot labels
        grad = torch.empty_like(params)
        grad[:-1] = (residual.to(self.rows.dtype) @ self.rows).float().T.div_(n).add_(weight, alpha=l2)
        grad[-1] = residual.sum(dim=1).div_(n)
        return loss, grad

    def subset(self, index: torch.Tensor) -> _Design:
        return _Design(self.rows[index], self.labels[index])


def _cpu_bf16() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _solve(design: _Design, params: torch.Tensor, l2: float, max_iter: int,
           on_iteration: Callable[[int], None]) -> None:
    """Minimise the design's regularised loss over params in place, with full-batch L-BFGS and a strong Wolfe
    line search, for at most max_iter iterations or until the loss stops falling."""
    w = params.detach().clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS([w], lr=1.0, max_iter=CHUNK, max_eval=4 * CHUNK, history_size=HISTORY,
                                  tolerance_grad=1e-7, tolerance_change=0.0, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        loss, grad = design.loss_and_grad(w.detach(), l2)
        w.grad = grad
        return loss

    done, previous = 0, float("inf")
    while done < max_iter:
        group = optimizer.param_groups[0]
        group["max_iter"] = min(CHUNK, max_iter - done)
        group["max_eval"] = 4 * group["max_iter"]  # the line search's evaluations must not end a chunk
        before = optimizer.state[w].get("n_iter", 0) if w in optimizer.state else 0
        loss = float(optimizer.step(closure))  # sync point: the loss decides whether to go on
        ran = optimizer.state[w]["n_iter"] - before
        done += max(ran, 1)
        on_iteration(done)
        if ran < group["max_iter"] or previous - loss <= TOLERANCE * max(1.0, abs(loss)):
            break
        previous = loss
    params.copy_(w.detach())
