"""End to end through the real service: submit over HTTP, wait, read the result.

Starts the API and one Celery worker as local processes (the embedded broker by
default, `--broker redis://127.0.0.1:6379/15` for Redis), runs one warm-up run,
then one run per seed, and prints the wall time from POST to `succeeded` with
the linear-probe and k-NN accuracy, and their mean ± std.

    .venv/bin/python -m bench.end_to_end --epochs 2 --seeds 0 1 2
    .venv/bin/python -m bench.end_to_end --dataset fashion_mnist --set max_train_samples=10000
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

from contrastlab.core.catalog import FINAL_STATUSES, Status
from tests.stack import Stack


def _ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _value(text: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", default="simclr")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--broker", default="", help="broker URL; empty: the embedded filesystem broker")
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE",
                        help="more RunSpec fields, e.g. max_train_samples=10000 (values parsed as JSON)")
    args = parser.parse_args()
    spec = {"method": args.method, "dataset": args.dataset, "epochs": args.epochs, "batch_size": args.batch_size}
    for item in args.set:
        field, _, value = item.partition("=")
        spec[field] = _value(value)

    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(Path(tmp) / "data", broker_url=args.broker)
        try:
            stack.start_api()
            stack.start_worker()
            stack.wait(stack.submit(**spec, name="warm-up")["id"], {Status.SUCCEEDED, Status.FAILED})
            print(f"spec: {spec}, broker: {args.broker or 'embedded'}")
            print(f"{'seed':>4} {'total s':>8} {'queued s':>9} {'training s':>11} {'linear_acc':>11} {'knn_acc':>8}")
            rows = []
            for seed in args.seeds:
                started = time.time()
                run = stack.submit(**spec, seed=seed, name=f"seed {seed}")
                run = stack.wait(run["id"], set(FINAL_STATUSES))
                total = time.time() - started
                if run["status"] != Status.SUCCEEDED:
                    raise SystemExit(f"run {run['id']} {run['status']}: {run['error']}")
                queued = _ts(run["started_at"]) - started
                summary = run["summary"]
                rows.append((total, summary["linear_acc"], summary["knn_acc"]))
                print(f"{seed:>4} {total:>8.2f} {queued:>9.2f} {summary['train_seconds']:>11.2f} "
                      f"{summary['linear_acc']:>11.4f} {summary['knn_acc']:>8.4f}")
            if len(rows) > 1:
                cols = list(zip(*rows, strict=True))
                print("mean ± std: " + ", ".join(
                    f"{name} {statistics.mean(c):.3f} ± {statistics.stdev(c):.3f}"
                    for name, c in zip(("total s", "linear_acc", "knn_acc"), cols, strict=True)))
        finally:
            stack.stop()


if __name__ == "__main__":
    main()
