"""Where one SimCLR training step spends its time: augmentation, forward+backward, optimiser, checkpoint.

Each phase is timed on its own with a device sync around it (so the sum is a little above a real,
unsynchronised step), over --steps steps after a warm-up; then the epoch checkpoint (resume.pt)
is timed, and the heaviest kernels of a step are listed from torch.profiler.

    python -m bench.step_profile [--encoder resnet18] [--batch 512] [--steps 30]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from contrastlab.core.catalog import Artifact
from contrastlab.core.spec import RunSpec
from worker.engine.augment import augment
from worker.engine.device import runtime
from worker.engine.losses import LOSSES, LossParams
from worker.engine.models import build_encoder, build_projection_head
from worker.engine.optim import build_optimizer
from worker.engine.resume import TrainState, save_resume


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--encoder", default="resnet18")
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--contiguous", action="store_true", help="NCHW tensors instead of the engine's channels_last")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    on_cuda = device.type == "cuda"
    channels_last = on_cuda and not args.contiguous
    spec = RunSpec(method="simclr", encoder=args.encoder, batch_size=args.batch, device=device.type)
    objective = LOSSES["simclr"]
    images = torch.randint(0, 256, (args.batch * 4, 3, args.size, args.size), dtype=torch.uint8, device=device)
    encoder = build_encoder(spec, 3, args.size)
    encoder.set_normalization(images.cpu())
    encoder.to(device)
    head = build_projection_head(spec, encoder.feature_dim).to(device)
    if channels_last:
        encoder.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(spec, [encoder, head])
    generator = torch.Generator(device=device).manual_seed(0)
    labels = torch.zeros(args.batch, dtype=torch.long, device=device)

    def sync() -> None:
        if on_cuda:
            torch.cuda.synchronize()

    timings: dict[str, float] = {"augment": 0.0, "forward+backward": 0.0, "optimizer": 0.0}

    def timed(name: str, body: Callable[[], object]) -> object:
        sync()
        started = time.perf_counter()
        result = body()
        sync()
        timings[name] += time.perf_counter() - started
        return result

    def step(i: int, record: bool) -> None:
        batch = images[(i % 4) * args.batch:(i % 4 + 1) * args.batch]

        def views() -> torch.Tensor:
            x = torch.cat([augment(batch, spec, generator) for _ in range(objective.views)])
            return x.contiguous(memory_format=torch.channels_last) if channels_last else x

        def forward_backward() -> None:
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=on_cuda):
                loss = objective.loss(head(encoder(x)).chunk(objective.views), labels, LossParams.from_spec(spec))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()

        if record:
            x = timed("augment", views)
            timed("forward+backward", forward_backward)
            timed("optimizer", optimizer.step)
        else:
            x = views()
            forward_backward()
            optimizer.step()

    with runtime(device):
        for i in range(5):
            step(i, record=False)
        for i in range(args.steps):
            step(i, record=True)
        sync()
        with tempfile.TemporaryDirectory() as out:
            started = time.perf_counter()
            save_resume(Path(out) / Artifact.RESUME, {"encoder": encoder, "head": head}, optimizer, generator,
                        TrainState(1, 1, 0.0))
            save_seconds = time.perf_counter() - started
            size = (Path(out) / Artifact.RESUME).stat().st_size
        total = sum(timings.values())
        print(f"device {device}, {args.encoder}, {args.size}x{args.size}, batch {args.batch}, "
              f"{'channels_last' if channels_last else 'NCHW'} "
              f"({args.batch * objective.views} views), per step over {args.steps} steps:")
        for name, seconds in timings.items():
            print(f"  {name:18s} {1000 * seconds / args.steps:8.2f} ms  {100 * seconds / total:5.1f}%")
        views_per_second = args.batch * objective.views * args.steps / total
        print(f"  {'sum':18s} {1000 * total / args.steps:8.2f} ms  -> {views_per_second:.0f} views/s")
        print(f"{Artifact.RESUME}: {size / 2**20:.1f} MiB written in {1000 * save_seconds:.0f} ms")
        if on_cuda:
            with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
                for i in range(3):
                    step(i, record=False)
                sync()
            print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=15, max_name_column_width=60))


if __name__ == "__main__":
    main()
