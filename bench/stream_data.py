"""Streaming a folder of JPEGs against holding it in memory: images/s decoded and views/s trained.

Generates (once, under /tmp; never committed) folders of --images JPEGs at 96 px and 224 px (4:3
landscape, so every image is decoded, resized and centre-cropped), then for each side prints:
- decode, PIL per image: what the in-memory path did before streaming (PIL open, resize, crop), a sample;
- decode, in memory: load_dataset with data_loading=memory (torchvision.io through the DataLoader
  workers, the whole folder), with the memory it then holds;
- decode, streamed: one pass over the streamed train split in a shuffled order, batch by batch;
- train, in memory / streamed: SimCLR views/s of engine.train.pretrain for --steps steps, the best of
  --repeats alternated runs.

    .venv/bin/python -m bench.stream_data --images 20000 --sides 96 224 --steps 3 --batch 32
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from contrastlab.core.spec import RunSpec
from worker.engine import NullReporter, load_dataset
from worker.engine.data import ImageData, subset_train
from worker.engine.device import runtime
from worker.engine.methods import build_method
from worker.engine.models import build_encoder
from worker.engine.stream import batches, loader_workers
from worker.engine.train import pretrain

ROOT = Path(tempfile.gettempdir()) / "contrastlab-bench-stream"
CLASSES = 10


def make_folder(n: int, side: int) -> Path:
    """n JPEGs of side x (4/3 side) in CLASSES class folders; smooth colour fields with noise, like photos
    compress. Reused when a previous run made it whole."""
    from PIL import Image

    folder = ROOT / f"{n}x{side}px"
    done = folder / ".complete"
    if done.exists():
        return folder
    rng = np.random.default_rng(side)
    width = side * 4 // 3
    ys, xs = np.mgrid[0:side, 0:width].astype(np.float32)
    for i in range(n):
        target = folder / f"class{i % CLASSES}"
        target.mkdir(parents=True, exist_ok=True)
        a, b, c = rng.uniform(0.005, 0.05, 3)
        base = np.stack([np.sin(a * xs + i), np.cos(b * ys + c * xs), np.sin(c * (xs + ys))], axis=-1)
        pixels = (127 + 100 * base + rng.normal(0, 12, base.shape)).clip(0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(target / f"{i:06d}.jpg", quality=90)
    done.touch()
    return folder


def pil_rate(folder: Path, side: int, sample: int) -> float:
    """images/s of the earlier in-memory decoding: PIL open and RGB, shorter side resized, centre crop."""
    from PIL import Image
    from torchvision.transforms.v2 import functional as TF

    paths = sorted(folder.rglob("*.jpg"))[:sample]
    started = time.perf_counter()
    for path in paths:
        with Image.open(path) as image:
            resized = TF.center_crop(TF.resize(image.convert("RGB"), side, antialias=True), [side, side])
            TF.pil_to_tensor(resized)
    return len(paths) / (time.perf_counter() - started)


def stream_rate(data: ImageData, batch: int) -> float:
    """images/s of one shuffled pass over the streamed train split, decoded batch by batch."""
    order = torch.randperm(len(data.train_labels), generator=torch.Generator().manual_seed(0))
    started, count = time.perf_counter(), 0
    for images in batches(data.train_images, order.split(batch), torch.device("cpu")):
        count += len(images)
    return count / (time.perf_counter() - started)


def train_rate(spec: RunSpec, data: ImageData, steps: int) -> float:
    """SimCLR views/s of the real training loop over steps batches (one epoch of a subset)."""
    data = subset_train(data, steps * spec.batch_size, seed=0)
    device = torch.device("cpu")
    torch.manual_seed(0)
    encoder = build_encoder(spec, 3, data.image_shape[-1])
    encoder.set_normalization(data.train_images)
    method = build_method(spec, encoder, CLASSES)
    with runtime(device), tempfile.TemporaryDirectory() as out:
        result = pretrain(spec, method, data, device, NullReporter(), Path(out))
    return result.steps * spec.batch_size * 2 / result.seconds


def bench_side(n: int, side: int, steps: int, batch: int, pil_sample: int, repeats: int) -> None:
    started = time.perf_counter()
    folder = make_folder(n, side)
    made = time.perf_counter() - started
    spec = RunSpec(dataset="image_folder", data_path=str(folder), image_size=side, encoder="small_cnn",
                   method="simclr", batch_size=batch, epochs=1, device="cpu")
    print(f"\n{n} JPEGs at {side} px ({_mb(folder):.0f} MB on disk, ready in {made:.0f} s)", flush=True)
    print(f"  decode, PIL per image (before)  {pil_rate(folder, side, pil_sample):8.0f} images/s "
          f"({pil_sample} images, this process)", flush=True)

    started = time.perf_counter()
    memory = load_dataset(spec.model_copy(update={"data_loading": "memory"}), allowed_roots=[ROOT])
    seconds = time.perf_counter() - started
    held = sum(t.numel() for t in (memory.train_images, memory.test_images) if isinstance(t, torch.Tensor))
    print(f"  decode, in memory (load all)    {n / seconds:8.0f} images/s ({seconds:.0f} s, holds "
          f"{held / 2**20:.0f} MiB)", flush=True)
    stream = load_dataset(spec.model_copy(update={"data_loading": "stream"}), allowed_roots=[ROOT])
    assert not isinstance(stream.train_images, torch.Tensor)
    print(f"  decode, streamed (one epoch)    {stream_rate(stream, batch):8.0f} images/s "
          f"({loader_workers(stream.train_images)} DataLoader workers)", flush=True)
    rates: dict[str, list[float]] = {"in memory": [], "streamed": []}
    for _ in range(repeats):  # alternated, best kept: a shared machine's load comes and goes
        rates["in memory"].append(train_rate(spec, memory, steps))
        rates["streamed"].append(train_rate(spec, stream, steps))
    for name, values in rates.items():
        print(f"  train, {name:<24} {max(values):8.1f} views/s (best of {' '.join(f'{v:.1f}' for v in values)}; "
              f"SimCLR, small_cnn, batch {batch}, {steps} steps)", flush=True)


def _mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*.jpg")) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--sides", type=int, nargs="+", default=[96, 224])
    parser.add_argument("--steps", type=int, default=4, help="training steps timed per path")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2, help="timed trainings per path, alternated")
    parser.add_argument("--pil-sample", type=int, default=2000, help="images decoded by the PIL reference")
    args = parser.parse_args()
    print(f"CPU: {os.cpu_count()} cores, torch threads {torch.get_num_threads()}, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for side in args.sides:
        bench_side(args.images, side, args.steps, args.batch, args.pil_sample, args.repeats)
    print(f"\nload average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
