"""Linear probe on precomputed features (ours) vs the probe that re-runs the frozen encoder every epoch.

Same encoder (random small CNN, or an encoder.safetensors with --encoder), same data, same
AdamW + cosine probe and epochs; prints both wall times, the ratio and both test accuracies.

    .venv/bin/python -m bench.linear_probe --dataset digits --epochs 20
"""

from __future__ import annotations

import argparse
import math
import time

import torch
import torch.nn.functional as F

from contrastlab.core.spec import RunSpec
from worker.engine.data import load_dataset, subset_train
from worker.engine.evaluate import encode, fit_linear_probe
from worker.engine.models import build_encoder
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--train", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()
    spec = RunSpec(dataset=args.dataset, device="cpu")
    data = subset_train(load_dataset(spec), args.train, 0)
    torch.manual_seed(0)
    encoder = build_encoder(spec, data.image_shape[0], data.image_shape[-1])
    encoder.set_normalization(data.train_images)
    classes = len(data.classes)

    started = time.perf_counter()
    train_f = encode(encoder, data.train_images, 256, "cpu")
    test_f = encode(encoder, data.test_images, 256, "cpu")
    probe = fit_linear_probe(train_f, data.train_labels, classes, args.epochs, 0)
    ours_s, ours_acc = time.perf_counter() - started, probe.accuracy(test_f, data.test_labels)

    started = time.perf_counter()
    layer = reforward_probe(encoder, as_tensor(data.train_images), data.train_labels, classes, args.epochs)
    with torch.no_grad():
        predicted = layer(encoder(as_tensor(data.test_images).float() / 255)).argmax(1)
    ref_s, ref_acc = time.perf_counter() - started, (predicted == data.test_labels).float().mean().item()
    print(f"{args.dataset}: {len(data.train_labels)} train / {len(data.test_labels)} test, small_cnn (random), "
          f"{args.epochs} probe epochs, threads {torch.get_num_threads()}")
    print(f"precomputed features (ours): {ours_s:7.2f} s  accuracy {ours_acc:.4f}")
    print(f"re-forward every epoch     : {ref_s:7.2f} s  accuracy {ref_acc:.4f}")
    print(f"time ratio re-forward / ours = {ref_s / ours_s:.1f}")


if __name__ == "__main__":
    main()
