"""Augmentation throughput: our batched pipeline vs kornia's augmentation modules vs torchvision v2 per sample.

Same SimCLR pipeline (crop 0.3-1, flip, jitter 0.4 p=0.8, grayscale p=0.2) on uint8 RGB batches; prints
images per second for each and the ratios. Runs on CUDA when present, else the CPU.

    .venv/bin/python -m bench.augment_speed --size 32 --batch 512
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

from contrastlab.core.spec import RunSpec
from worker.engine.augment import augment


def _rate(fn: Callable[[], object], images: int, repeats: int, sync: Callable[[], None]) -> float:
    fn()
    sync()
    started = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync()
    return images * repeats / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    import kornia.augmentation as K
    from torchvision.transforms import v2

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    images = torch.randint(0, 256, (args.batch, 3, args.size, args.size), dtype=torch.uint8, device=device)
    spec = RunSpec(crop_scale_min=0.3, jitter_strength=0.4, jitter_prob=0.8, grayscale_prob=0.2)
    generator = torch.Generator(device=device).manual_seed(0)
    s = spec.jitter_strength
    kornia_pipe = torch.nn.Sequential(
        K.RandomResizedCrop((args.size, args.size), scale=(0.3, 1.0)), K.RandomHorizontalFlip(),
        K.ColorJitter(s, s, s, s / 4, p=0.8), K.RandomGrayscale(p=0.2)).to(device)
    tv_pipe = v2.Compose([v2.RandomResizedCrop(args.size, scale=(0.3, 1.0), antialias=True), v2.RandomHorizontalFlip(),
                          v2.RandomApply([v2.ColorJitter(s, s, s, s / 4)], p=0.8), v2.RandomGrayscale(p=0.2),
                          v2.ToDtype(torch.float32, scale=True)])
    rates = {
        "ours (batched, per-image draws)": _rate(lambda: augment(images, spec, generator), args.batch,
                                                 args.repeats, sync),
        "kornia.augmentation (batched)": _rate(lambda: kornia_pipe(images.float() / 255), args.batch,
                                               args.repeats, sync),
        "torchvision v2, per sample": _rate(lambda: torch.stack([tv_pipe(img) for img in images]), args.batch,
                                            max(1, args.repeats // 5), sync),
    }
    print(f"device {device}, {args.batch} images of 3x{args.size}x{args.size}, torch threads {torch.get_num_threads()}")
    ours = rates["ours (batched, per-image draws)"]
    for name, rate in rates.items():
        print(f"{name:34s} {rate:12.0f} images/s   ours / this = {ours / rate:6.2f}")


if __name__ == "__main__":
    main()
