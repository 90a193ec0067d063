"""SimCLR pretraining throughput (views/s): our engine vs a plain reference loop in the seeds' style.

Reference: torchvision v2 transforms per sample in a DataLoader, fp32, no channels_last, the same
encoder, head, loss and optimiser. Ours: engine.train.pretrain (uint8 data on the device, batched
augmentation, channels_last, bf16 autocast on CUDA; --cpu-bf16 adds a run under bf16 autocast on the CPU).
Synthetic 32x32 RGB images (CIFAR-shaped); small CNN on a CPU, ResNet-18 on a GPU unless --encoder says
otherwise. Prints both, the ratio and the load average (the machine is shared: compare within one sitting).

    .venv/bin/python -m bench.train_throughput --images 2048 --batch 256
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from contrastlab.core.spec import RunSpec
from worker.engine import NullReporter
from worker.engine.data import ImageData
from worker.engine.device import CPU_AUTOCAST_ENV, runtime
from worker.engine.losses import nt_xent
from worker.engine.methods import build_method
from worker.engine.models import build_encoder, build_projection_head
from worker.engine.train import pretrain


class TwoViews(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    def __init__(self, images: torch.Tensor, transform: object) -> None:
        self.images, self.transform = images, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.transform(self.images[i]), self.transform(self.images[i])  # type: ignore[operator]


def reference(spec: RunSpec, images: torch.Tensor, device: torch.device, workers: int) -> float:
    """views/s of the plain loop over spec.epochs epochs."""
    from torchvision.transforms import v2

    s = spec.jitter_strength
    transform = v2.Compose([v2.RandomResizedCrop(32, scale=(spec.crop_scale_min, 1.0), antialias=True),
                            v2.RandomHorizontalFlip(), v2.RandomApply([v2.ColorJitter(s, s, s, s / 4)], p=0.8),
                            v2.RandomGrayscale(p=0.2), v2.ToDtype(torch.float32, scale=True)])
    loader = DataLoader(TwoViews(images, transform), batch_size=spec.batch_size, shuffle=True, drop_last=True,
                        num_workers=workers)
    torch.manual_seed(0)
    encoder = build_encoder(spec, 3, 32).to(device)
    head = build_projection_head(spec, encoder.feature_dim).to(device)
    optimizer = torch.optim.Adam([*encoder.parameters(), *head.parameters()], lr=spec.lr)
    started, views = time.perf_counter(), 0
    for _ in range(spec.epochs):
        for x1, x2 in loader:
            z = head(encoder(torch.cat([x1, x2]).to(device)))
            z1, z2 = z.chunk(2)
            loss = nt_xent(z1, z2, spec.temperature)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            views += 2 * len(x1)
    loss.item()  # sync point
    return views / (time.perf_counter() - started)


def ours(spec: RunSpec, images: torch.Tensor, device: torch.device) -> float:
    data = ImageData(images, torch.arange(len(images)) % 10, images[:256], torch.arange(256) % 10,
                     [str(i) for i in range(10)])
    torch.manual_seed(0)
    encoder = build_encoder(spec, 3, 32)
    encoder.set_normalization(images)
    encoder.to(device)
    method = build_method(spec, encoder, 10)
    method.to(memory_format=torch.channels_last)  # as run.py does
    with runtime(device), tempfile.TemporaryDirectory() as out:
        result = pretrain(spec, method, data, device, NullReporter(), Path(out))
    return result.steps * spec.batch_size * 2 / result.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=2048)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--encoder", default=None)
    parser.add_argument("--workers", type=int, default=1, help="DataLoader workers of the reference loop")
    parser.add_argument("--epochs", type=int, default=2,
                        help="epochs of each loop: from 2 on, ours writes its epoch checkpoint while training on")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--cpu-bf16", action="store_true", help="also ours under bf16 autocast on the CPU")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    encoder = args.encoder or ("resnet18" if device.type == "cuda" else "small_cnn")
    spec = RunSpec(method="simclr", encoder=encoder, batch_size=args.batch, epochs=args.epochs, knn_every=1000,
                   torch_compile=args.compile, device=device.type)
    images = torch.randint(0, 256, (args.images, 3, 32, 32), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))
    ours(spec, images[: args.batch * 2], device)  # warm-up: cuDNN autotuning, compile, lazy imports
    load = f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}"
    mine = ours(spec, images, device)
    ref = reference(spec, images, device, args.workers)
    bf16 = None
    if device.type == "cpu" and args.cpu_bf16:  # the engine's opt-in: CONTRASTLAB_CPU_AUTOCAST=1
        os.environ[CPU_AUTOCAST_ENV] = "1"
        bf16 = ours(spec, images, device)
        del os.environ[CPU_AUTOCAST_ENV]
    print(f"device {device}, {encoder}, {args.images} images 32x32, {args.epochs} epochs, batch {args.batch}, "
          f"threads {torch.get_num_threads()}, reference DataLoader workers {args.workers}")
    print(f"ours      {mine:10.0f} views/s")
    print(f"reference {ref:10.0f} views/s")
    print(f"ratio ours / reference = {mine / ref:.2f}")
    if bf16 is not None:
        print(f"ours with bf16 autocast on the CPU ({CPU_AUTOCAST_ENV}=1) {bf16:10.0f} views/s, "
              f"ratio {bf16 / ref:.2f}")
    print(f"{load} at the start, {' '.join(f'{v:.2f}' for v in os.getloadavg())} at the end")


if __name__ == "__main__":
    main()
