"""Linear probe on precomputed features (ours: encode once, then the L-BFGS solve with its held-out L2 path)
vs the seeds' probe that re-runs the frozen encoder every epoch of mini-batch AdamW.

Same encoder (a random small CNN), same data; prints both wall times (ours includes computing the features),
the ratio, both test accuracies and the load average. --features N --dim D times the solve alone on random
features (labels from a random linear teacher plus noise, 10 classes).

    .venv/bin/python -m bench.linear_probe --dataset fashion_mnist
    .venv/bin/python -m bench.linear_probe --features 50000 --dim 512
"""

from __future__ import annotations

import argparse
import math
import os
import time

import torch
import torch.nn.functional as F

from contrastlab.core.spec import RunSpec
from worker.engine.data import load_dataset, subset_train
from worker.engine.evaluate import encode
from worker.engine.models import build_encoder
from worker.engine.probe import fit_linear_probe
from worker.engine.stream import as_tensor


def reforward_probe(encoder: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, classes: int,
                    epochs: int, batch: int = 1024, lr: float = 3e-2) -> torch.nn.Linear:
    """The seeds' way: every batch of every epoch goes through the frozen encoder again."""
    layer = torch.nn.Linear(encoder.feature_dim, classes)  # type: ignore[arg-type]
    optimizer = torch.optim.AdamW(layer.parameters(), lr=lr, weight_decay=1e-4)
    total, step = epochs * math.ceil(len(images) / batch), 0
    encoder.eval()
    for _ in range(epochs):
        order = torch.randperm(len(images))
        for start in range(0, len(images), batch):
            idx = order[start:start + batch]
            with torch.no_grad():
                features = encoder(images[idx].float() / 255)
            for group in optimizer.param_groups:
                group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / total))
            loss = F.cross_entropy(layer(features), labels[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
    return layer


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def solve_alone(n: int, dim: int, iterations: int) -> None:
    """The solve on random features: n train rows (and n // 10 test rows) of dim standard normals."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(n + n // 10, dim, generator=generator)
    teacher = torch.randn(dim, 10, generator=generator) * 3 / dim ** 0.5
    y = (x @ teacher + torch.randn(len(x), 10, generator=generator)).argmax(1)
    started = time.perf_counter()
    probe = fit_linear_probe(x[:n], y[:n], 10, iterations, 0)
    seconds = time.perf_counter() - started
    print(f"solve alone: {n} x {dim} random features, 10 classes, threads {torch.get_num_threads()}: "
          f"{seconds:.2f} s, test accuracy {probe.accuracy(x[n:], y[n:]):.4f}, chosen L2 {probe.l2:g} "
          f"(held-out accuracy by L2: {', '.join(f'{k:g}: {v:.4f}' for k, v in probe.held_out.items())}); {load()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--train", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=20, help="epochs of the re-forwarding reference probe")
    parser.add_argument("--iterations", type=int, default=100, help="our solve's budget (spec.probe_epochs)")
    parser.add_argument("--features", type=int, default=None, help="time the solve alone on N random features")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.features:
        solve_alone(args.features, args.dim, args.iterations)
        return
    print(load())
    spec = RunSpec(dataset=args.dataset, device="cpu")
    data = subset_train(load_dataset(spec), args.train, 0)
    torch.manual_seed(0)
    encoder = build_encoder(spec, data.image_shape[0], data.image_shape[-1])
    encoder.set_normalization(data.train_images)
    classes = len(data.classes)

    started = time.perf_counter()
    train_f = encode(encoder, data.train_images, 256, "cpu")
    test_f = encode(encoder, data.test_images, 256, "cpu")
    encoded = time.perf_counter()
    probe = fit_linear_probe(train_f, data.train_labels, classes, args.iterations, 0)
    ours_s, ours_acc = time.perf_counter() - started, probe.accuracy(test_f, data.test_labels)
    solve_s = time.perf_counter() - encoded

    started = time.perf_counter()
    layer = reforward_probe(encoder, as_tensor(data.train_images), data.train_labels, classes, args.epochs)
    with torch.no_grad():
        predicted = layer(encoder(as_tensor(data.test_images).float() / 255)).argmax(1)
    ref_s, ref_acc = time.perf_counter() - started, (predicted == data.test_labels).float().mean().item()
    print(f"{args.dataset}: {len(data.train_labels)} train / {len(data.test_labels)} test, small_cnn (random), "
          f"threads {torch.get_num_threads()}")
    print(f"precomputed features (ours): {ours_s:7.2f} s  accuracy {ours_acc:.4f}  (features {ours_s - solve_s:.2f} s, "
          f"solve {solve_s:.2f} s, {args.iterations} iterations per solve, L2 {probe.l2:g})")
    print(f"re-forward every epoch     : {ref_s:7.2f} s  accuracy {ref_acc:.4f}  ({args.epochs} epochs of AdamW)")
    print(f"time ratio re-forward / ours = {ref_s / ours_s:.1f}; {load()}")


if __name__ == "__main__":
    main()
