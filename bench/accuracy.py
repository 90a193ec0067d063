"""Fashion-MNIST accuracy of SimCLR, SupCon and the supervised baseline (small CNN), mean ± std over seeds,
with the random-init baseline beside each. Runs the engine directly (no service).

    .venv/bin/python -m bench.accuracy --epochs 2 --train 5000 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from contrastlab.core.spec import RunSpec
from worker.engine import NullReporter, train

KEYS = ("linear_acc", "knn_acc", "random_linear_acc", "random_knn_acc")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", default=["simclr", "supcon", "supervised"])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train", type=int, default=5000, help="max_train_samples")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    print(f"fashion_mnist, small_cnn, {args.epochs} epochs on {args.train} train images, batch 256, "
          f"probe on the same images, 10,000 test images; seeds {args.seeds}")
    print(f"{'method':12s} " + " ".join(f"{k:>18s}" for k in KEYS) + "   s/run")
    for method in args.methods:
        rows, started = [], time.perf_counter()
        for seed in args.seeds:
            spec = RunSpec(method=method, dataset="fashion_mnist", epochs=args.epochs, max_train_samples=args.train,
                           batch_size=256, probe_epochs=50, tsne_samples=200, knn_every=1000, seed=seed,
                           device="cpu")
            with tempfile.TemporaryDirectory() as out:
                rows.append(train(spec, Path(out), NullReporter()))
        cells = [f"{statistics.mean(r[k] for r in rows):.3f} ± {statistics.stdev(r[k] for r in rows):.3f}"
                 if len(rows) > 1 else f"{rows[0][k]:.3f}" for k in KEYS]
        elapsed = (time.perf_counter() - started) / len(rows)
        print(f"{method:12s} " + " ".join(f"{c:>18s}" for c in cells) + f"   {elapsed:5.1f}", flush=True)


if __name__ == "__main__":
    main()
