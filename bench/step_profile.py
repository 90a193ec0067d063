"""Where one SimCLR training step spends its time (augmentation, forward+backward, optimiser), and what each
CPU lever does to it: channels_last, bf16 autocast, both views augmented in one call, torch.compile, threads.

Each phase is timed on its own with a device sync around it (so the sum is a little above a real,
unsynchronised step), over --steps steps after a warm-up. --levers runs every configuration back to back in
this one process and prints views/s and the ratio to the plain fp32 NCHW step, with the load average (the
machine is shared: compare lines of one sitting only). Without --levers, the epoch checkpoint (resume.pt) is
timed too, and on a GPU the heaviest kernels of a step are listed from torch.profiler.

    python -m bench.step_profile --levers                      # CPU: small CNN, batch 256, 32x32
    python -m bench.step_profile --encoder resnet18 --batch 512  # GPU defaults
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from contrastlab.core.catalog import Artifact
from contrastlab.core.spec import RunSpec
from worker.engine.augment import augment
from worker.engine.losses import LOSSES, LossParams
from worker.engine.models import build_encoder, build_projection_head
from worker.engine.optim import build_optimizer
from worker.engine.resume import TrainState, save_resume


@dataclass(frozen=True)
class Levers:
    channels_last: bool = False
    bf16: bool = False
    one_augment_call: bool = False  # both views from one augment() of the batch repeated
    compile: bool = False
    threads: int | None = None

    def name(self) -> str:
        on = [n for n in ("channels_last", "bf16", "one_augment_call", "compile") if getattr(self, n)]
        return (" + ".join(on) or "fp32 NCHW") + (f", {self.threads} thread(s)" if self.threads else "")


CPU_LEVERS = [Levers(), Levers(channels_last=True), Levers(bf16=True), Levers(channels_last=True, bf16=True),
              Levers(one_augment_call=True), Levers(threads=1), Levers(channels_last=True, bf16=True, compile=True)]


def profile(args: argparse.Namespace, levers: Levers, device: torch.device) -> dict[str, float]:
    """Seconds per step of each phase under the levers."""
    on_cuda = device.type == "cuda"
    threads = torch.get_num_threads()
    if levers.threads:
        torch.set_num_threads(levers.threads)
    spec = RunSpec(method="simclr", encoder=args.encoder, batch_size=args.batch, device=device.type)
    objective = LOSSES["simclr"]
    images = torch.randint(0, 256, (args.batch * 4, 3, args.size, args.size), dtype=torch.uint8, device=device,
                           generator=torch.Generator(device=device).manual_seed(0))
    torch.manual_seed(0)
    encoder = build_encoder(spec, 3, args.size)
    encoder.set_normalization(images.cpu())
    encoder.to(device)
    head = build_projection_head(spec, encoder.feature_dim).to(device)
    if levers.channels_last:
        encoder.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(spec, [encoder, head])
    generator = torch.Generator(device=device).manual_seed(0)
    labels = torch.zeros(args.batch, dtype=torch.long, device=device)
    model = torch.nn.Sequential(encoder, head)
    forward = torch.compile(model) if levers.compile else model

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
            if levers.one_augment_call:
                x = augment(batch.repeat(objective.views, 1, 1, 1), spec, generator)
            else:
                x = torch.cat([augment(batch, spec, generator) for _ in range(objective.views)])
            return x.contiguous(memory_format=torch.channels_last) if levers.channels_last else x

        def forward_backward() -> None:
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=on_cuda or levers.bf16):
                loss = objective.loss(forward(x).chunk(objective.views), labels, LossParams.from_spec(spec))
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

    for i in range(args.warmup):
        step(i, record=False)
    for i in range(args.steps):
        step(i, record=True)
    sync()
    torch.set_num_threads(threads)
    if not args.levers:
        with tempfile.TemporaryDirectory() as out:
            started = time.perf_counter()
            save_resume(Path(out) / Artifact.RESUME, {"encoder": encoder, "head": head}, optimizer, generator,
                        TrainState(1, 1, 0.0))
            print(f"{Artifact.RESUME}: {(Path(out) / Artifact.RESUME).stat().st_size / 2**20:.1f} MiB written in "
                  f"{1000 * (time.perf_counter() - started):.0f} ms")
        if on_cuda:
            with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
                for i in range(3):
                    step(i, record=False)
                sync()
            print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=15, max_name_column_width=60))
    return {name: seconds / args.steps for name, seconds in timings.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--encoder", default=None, help="default: resnet18 on a GPU, small_cnn on a CPU")
    parser.add_argument("--batch", type=int, default=None, help="default: 512 on a GPU, 256 on a CPU")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--levers", action="store_true", help="every CPU lever, back to back")
    parser.add_argument("--contiguous", action="store_true", help="NCHW tensors instead of channels_last")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    on_cuda = device.type == "cuda"
    args.encoder = args.encoder or ("resnet18" if on_cuda else "small_cnn")
    args.batch = args.batch or (512 if on_cuda else 256)
    configurations = CPU_LEVERS if args.levers else [Levers(channels_last=on_cuda and not args.contiguous)]
    views = args.batch * LOSSES["simclr"].views
    print(f"device {device}, {args.encoder}, {args.size}x{args.size}, batch {args.batch} ({views} views), "
          f"threads {torch.get_num_threads()}, per step over {args.steps} steps; load average "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    baseline = None
    for levers in configurations:
        timings = profile(args, levers, device)
        total = sum(timings.values())
        baseline = baseline or total
        parts = "  ".join(f"{name} {1000 * seconds:7.1f} ms" for name, seconds in timings.items())
        print(f"  {levers.name():45s} {parts}  sum {1000 * total:7.1f} ms -> {views / total:6.0f} views/s "
              f"(x{baseline / total:.2f})", flush=True)
    print(f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
