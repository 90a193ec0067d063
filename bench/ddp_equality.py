"""How closely a run on N processes (torchrun, the real launcher) follows one process on the same global batch.

For each method: the per-step loss of one process and of N gloo processes (CPU) or GPUs (--device cuda), digits,
small CNN, the same spec and seed; prints the largest |difference| over the first --steps steps and over all.
SGD shows the gradients agree; Adam amplifies rounding (its first updates are ±lr per weight whatever the
gradient's size), so its curves part after a few steps. --perturb measures that without a second process: one
process against itself with its initial head weights scaled by (1 + 1e-7 noise).

    .venv/bin/python -m bench.ddp_equality --optimizer sgd
    .venv/bin/python -m bench.ddp_equality --optimizer adam --steps 3 [--perturb]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from contrastlab.core.catalog import METHODS, Status
from contrastlab.core.spec import RunSpec
from worker.engine import ListReporter, train
from worker.engine import run as engine_run
from worker.launch import train_on_devices


def compare(spec: RunSpec, steps: int, perturb: bool = False) -> tuple[float, float, float]:
    """(max |diff| over the first steps, max |diff| over all steps, seconds of the N-process run)."""
    with tempfile.TemporaryDirectory() as one_dir, tempfile.TemporaryDirectory() as many_dir:
        one, many = ListReporter(), ListReporter()
        train(spec, Path(one_dir), one)
        started = time.perf_counter()
        if perturb:
            _train_perturbed(spec, Path(many_dir), many)
            status, error = Status.SUCCEEDED, None
        else:
            status, error, _ = train_on_devices(spec, Path(many_dir), many, {},
                                                [str(i) if spec.device == "cuda" else f"cpu{i}"
                                                 for i in range(spec.devices)])
        seconds = time.perf_counter() - started
    if status != Status.SUCCEEDED:
        raise SystemExit(f"{spec.method}: the {spec.devices}-process run {status}: {error}")
    diffs = [abs(a - b) for a, b in zip(one.values("loss"), many.values("loss"), strict=True)]
    return max(diffs[:steps]), max(diffs), seconds


def _train_perturbed(spec: RunSpec, out_dir: Path, reporter: ListReporter) -> None:
    """One process whose initial head weights are scaled by (1 + 1e-7 noise): how far rounding alone moves it."""
    build_method = engine_run.build_method

    def noisy(*args: Any, **kwargs: Any) -> nn.Module:
        method = build_method(*args, **kwargs)
        with torch.no_grad():
            for parameter in method.head.parameters():
                parameter.mul_(1 + 1e-7 * torch.randn_like(parameter))
        return method

    engine_run.build_method = noisy  # type: ignore[assignment]
    try:
        train(spec, out_dir, reporter)
    finally:
        engine_run.build_method = build_method


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--optimizer", default="sgd")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--devices", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5, help="the 'first steps' the first column covers")
    parser.add_argument("--perturb", action="store_true", help="one process against itself with 1e-7 noise on its "
                        "initial head weights, instead of N processes")
    args = parser.parse_args()
    heading = f"first {args.steps} steps"
    versus = "1 process vs itself, 1e-7 noise" if args.perturb else f"{args.devices} processes vs 1"
    print(f"{'method':20} {heading:>14} {'all steps':>10}  ({args.optimizer} lr {args.lr:g}, {versus}, batch 64, "
          f"{args.epochs} epochs of 320 digits)")
    for method in args.methods:
        spec = RunSpec(method=method, dataset="digits", epochs=args.epochs, batch_size=64, max_train_samples=320,
                       devices=args.devices, optimizer=args.optimizer, lr=args.lr,
                       knn_every=args.epochs, probe_epochs=5, tsne_samples=50, random_baseline=False,
                       device=args.device)
        first, every, seconds = compare(spec, args.steps, args.perturb)
        print(f"{method:20} {first:14.1e} {every:10.1e}  ({seconds:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
