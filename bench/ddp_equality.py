"""How closely a run on N processes (torchrun, the real launcher) follows one process on the same global batch.

For each method: the per-step loss of one process and of N gloo processes (CPU) or GPUs (--device cuda), digits,
small CNN, the same spec and seed; prints the largest |difference| over the first --steps steps and over all.
SGD shows the gradients agree; Adam amplifies rounding (its first updates are ±lr per weight whatever the
gradient's size), so its curves part after a few steps.

    .venv/bin/python -m bench.ddp_equality --optimizer sgd
    .venv/bin/python -m bench.ddp_equality --optimizer adam --methods simclr supcon
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from contrastlab.core.catalog import METHODS
from contrastlab.core.spec import RunSpec
from worker.engine import ListReporter, train
from worker.launch import train_on_devices


def compare(spec: RunSpec, steps: int) -> tuple[float, float, float]:
    """(max |diff| over the first steps, max |diff| over all steps, seconds of the N-process run)."""
    with tempfile.TemporaryDirectory() as one_dir, tempfile.TemporaryDirectory() as many_dir:
        one, many = ListReporter(), ListReporter()
        train(spec, Path(one_dir), one)
        started = time.perf_counter()
        status, error, _ = train_on_devices(spec, Path(many_dir), many, {},
                                            [str(i) if spec.device == "cuda" else f"cpu{i}"
                                             for i in range(spec.devices)])
        seconds = time.perf_counter() - started
    if status != "succeeded":
        raise SystemExit(f"{spec.method}: the {spec.devices}-process run {status}: {error}")
    diffs = [abs(a - b) for a, b in zip(one.values("loss"), many.values("loss"), strict=True)]
    return max(diffs[:steps]), max(diffs), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--optimizer", default="sgd")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--devices", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5, help="the 'first steps' the first column covers")
    args = parser.parse_args()
    heading = f"first {args.steps} steps"
    print(f"{'method':20} {heading:>14} {'all steps':>10}  ({args.optimizer} lr {args.lr:g}, {args.devices} processes "
          f"vs 1, batch 64, {args.epochs} epochs of 320 digits)")
    for method in args.methods:
        spec = RunSpec(method=method, dataset="digits", epochs=args.epochs, batch_size=64, max_train_samples=320,
                       devices=args.devices, optimizer=args.optimizer, lr=args.lr,
                       knn_every=args.epochs, probe_epochs=5, tsne_samples=50, random_baseline=False,
                       device=args.device)
        first, every, seconds = compare(spec, args.steps)
        print(f"{method:20} {first:14.1e} {every:10.1e}  ({seconds:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
